"""What sharing one evaluator across a sample's arms saves: MCTS + random baseline + decoy control.

A full run searches each sample three times: the main search (MCTS, rewarded by the gold
label), its reach-matched random baseline, and the decoy control (the same MCTS rewarded
by a wrong label). cola runs all three through the sample's one evaluator, so a chain any
arm asks for is computed once and every arm resumes from the same prefix trie. This
script runs the same samples both ways in one process: shared (``search_sample``, what
``cola search`` does) and separate (``share_arms=False``: a fresh evaluator, memo and
trie per arm), checks that the records are identical, and prints chains computed,
layer-forwards and time.

    python benchmarks/arms_sharing.py --task arith --samples 4 --simulations 50
"""

from __future__ import annotations

import argparse
import time

from cola.engine import ChainModel
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.runs import RunConfig, SampleRecord
from cola.runs.config import default_source, load_samples
from cola.runs.runner import search_sample
from cola.search import SearchConfig


def signature(record: SampleRecord) -> dict:
    data = record.to_json()
    for arm in ("search", "baseline", "decoy_search"):
        data[arm] = {**data[arm], "seconds": None}
    return data


def measure(model, config: RunConfig, shared: bool):
    task, samples = load_samples(config)
    scorer = ChainScorer(model, task, config.eval)
    pool = [s.gold for s in samples]
    start = time.perf_counter()
    records = [search_sample(scorer, sample, config, pool=pool, share_arms=shared) for sample in samples]
    return records, time.perf_counter() - start, scorer.stats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="arith")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--simulations", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    model = ChainModel.from_pretrained(args.model)
    config = RunConfig(
        model=args.model,
        task=args.task,
        data=default_source(args.task),
        samples=args.samples,
        search=SearchConfig(simulations=args.simulations, batch_size=args.batch_size),
        eval=EvalConfig(),
    )
    shared, shared_s, shared_stats = measure(model, config, shared=True)
    separate, separate_s, separate_stats = measure(model, config, shared=False)
    if [signature(r) for r in shared] != [signature(r) for r in separate]:
        raise SystemExit("MISMATCH: shared and separate arms gave different records")
    n = len(shared)
    print(
        f"model={args.model} task={args.task} samples={n} simulations={args.simulations} "
        f"batch={args.batch_size}: identical records (MCTS + {config.baseline_strategy} + decoy MCTS)"
    )
    print("| arms | chains computed/sample | prefill layer-fwd | decode layer-fwd | s/sample |")
    print("|---|---|---|---|---|")
    for name, stats, seconds in (
        ("separate", separate_stats, separate_s),
        ("shared", shared_stats, shared_s),
    ):
        print(
            f"| {name} | {stats.chains / n:.1f} | {stats.prefill_layer_forwards} | "
            f"{stats.decode_layer_forwards} | {seconds / n:.2f} |"
        )
    print(
        f"saving: x{separate_s / shared_s:.2f} time, "
        f"{1 - shared_stats.chains / separate_stats.chains:.0%} fewer chains computed"
    )


if __name__ == "__main__":
    main()
