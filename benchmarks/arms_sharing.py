"""What sharing one evaluator across a sample's arms saves: MCTS + random baseline + decoy control.

A full run searches each sample three times: the main search (MCTS, rewarded by the gold
label), its reach-matched random baseline, and the decoy control (the same MCTS rewarded
by a wrong label). cola runs all three through the sample's one evaluator, so a chain any
arm asks for is computed once and every arm resumes from the same prefix trie. This
script runs the same samples both ways in one process: shared (``search_sample``, what
``cola search`` does) and separate (a fresh evaluator, memo and trie per arm), checks
that the records are identical, and prints chains computed, layer-forwards and time.

    python benchmarks/arms_sharing.py --task arith --samples 4 --simulations 50
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from cola.engine import ChainModel
from cola.evaluation.decoy import DecoyTarget, choose_decoy
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.runs import RunConfig, SampleRecord, sample_seed
from cola.runs.config import decoy_seed, load_samples
from cola.runs.runner import search_sample
from cola.search import SearchConfig, get_strategy


def separate_arms(scorer: ChainScorer, sample, config: RunConfig, pool) -> SampleRecord:
    """The same arms as ``search_sample``, each on its own fresh evaluator (nothing shared)."""

    def fresh():
        evaluator = scorer.for_sample(sample)
        original = evaluator.original()
        evaluator.set_decoy(
            choose_decoy(scorer.task, sample, original, pool, decoy_seed(config.seed, sample.id))
        )
        return evaluator, evaluator.original()

    num_layers = scorer.model.num_layers
    search_config = dataclasses.replace(config.search, seed=sample_seed(config.seed, sample.id))
    evaluator, original = fresh()
    outcome = get_strategy(config.search.strategy)(evaluator, num_layers, search_config, original)
    evaluator, original = fresh()
    baseline_config = dataclasses.replace(
        search_config,
        strategy=config.baseline_strategy,
        simulations=len(outcome.evaluations),
        match_edits=tuple(outcome.edits),
    )
    baseline = get_strategy(config.baseline_strategy)(evaluator, num_layers, baseline_config, original)
    evaluator, original = fresh()
    decoy = get_strategy(config.search.strategy)(
        DecoyTarget(evaluator), num_layers, search_config, original.swapped()
    )
    decoy.evaluations = [e.swapped() for e in decoy.evaluations]
    return SampleRecord(
        sample.id,
        scorer.task.name,
        sample.gold,
        num_layers,
        original,
        outcome,
        baseline,
        scorer.task.num_choices(sample),
        dict(sample.meta),
        evaluator.decoy,
        decoy,
    )


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
    records = [
        search_sample(scorer, sample, config, pool=pool)
        if shared
        else separate_arms(scorer, sample, config, pool)
        for sample in samples
    ]
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
    data = "generated" if args.task == "arith" else "bundled"
    config = RunConfig(
        model=args.model,
        task=args.task,
        data=data,
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
