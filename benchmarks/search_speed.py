"""Full MCTS per sample: fast engine vs. the naive path, measured in one run.

For each simulation budget the same samples are searched twice with the same seed: once
with ``mode="naive"`` (every chain re-encodes the whole prompt, one at a time, and decodes
to ``max_new_tokens``, as public CoLa code does) and once with ``mode="fast"`` (prefix trie,
lock-step batched lanes, exact early stop). The searches must agree exactly (same chains,
answers, rewards, best chain); the script fails loudly if they do not. It prints time per
sample, the speed-up ratio, layer-forwards executed vs. the minimum needed, and memory.

    python benchmarks/search_speed.py                      # ARC-Easy (bundled), smollm2-135m
    python benchmarks/search_speed.py --simulations 50,200 --samples 2
"""

from __future__ import annotations

import argparse
import resource
import time

from cola.engine import ChainModel
from cola.evaluator import ChainScorer, EvalConfig
from cola.runner import sample_seed
from cola.search import SearchConfig, get_strategy
from cola.tasks import get_task


def search_all(model, task, samples, simulations: int, batch_size: int, mode: str, seed: int):
    scorer = ChainScorer(model, task, EvalConfig(mode=mode))
    outcomes = []
    start = time.perf_counter()
    for sample in samples:
        evaluator = scorer.for_sample(sample)
        original = evaluator.original()
        config = SearchConfig(simulations=simulations, batch_size=batch_size, seed=sample_seed(seed, sample.id))
        outcomes.append(get_strategy("mcts")(evaluator, model.num_layers, config, original))
    seconds = time.perf_counter() - start
    return outcomes, seconds, scorer


def signature(outcome):
    return [(e.chain, e.answer, e.reward) for e in outcome.evaluations], outcome.best_chain


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="arc_easy")
    parser.add_argument("--data", default="bundled")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--simulations", default="50,200,800")
    parser.add_argument("--batch-size", type=int, default=8, help="MCTS leaves per round (virtual loss)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    model = ChainModel.from_pretrained(args.model)
    task = get_task(args.task)
    samples = task.load(source=args.data, limit=args.samples)
    prompt_tokens = [model.encode([task.prompt(s, model.tokenizer, "chat" if model.tokenizer.chat_template else "base")])[0].shape[1] for s in samples]
    print(f"model={args.model} task={args.task} samples={len(samples)} prompt tokens={prompt_tokens} "
          f"MCTS batch={args.batch_size} (naive evaluates the same batches one chain at a time)")
    rows = []
    for simulations in [int(x) for x in args.simulations.split(",")]:
        naive, naive_s, naive_scorer = search_all(model, task, samples, simulations, args.batch_size, "naive", args.seed)
        fast, fast_s, fast_scorer = search_all(model, task, samples, simulations, args.batch_size, "fast", args.seed)
        if [signature(o) for o in naive] != [signature(o) for o in fast]:
            raise SystemExit(f"MISMATCH at {simulations} simulations: fast and naive searches differ")
        st = fast_scorer.stats
        rows.append({
            "simulations": simulations,
            "chains/sample": sum(len(o.evaluations) for o in fast) / len(fast),
            "naive s/sample": naive_s / len(samples),
            "fast s/sample": fast_s / len(samples),
            "speed-up": naive_s / fast_s,
            "prefill layer-fwd naive": naive_scorer.stats.prefill_layer_forwards,
            "prefill layer-fwd fast": st.prefill_layer_forwards,
            "prefill layer-fwd min": st.min_prefill_layer_forwards,
            "decode layer-fwd naive": naive_scorer.stats.decode_layer_forwards,
            "decode layer-fwd fast": st.decode_layer_forwards,
            "prefix cache peak MB": fast_scorer.prefix_cache.peak_bytes / 2**20,
            "process peak RSS MB": peak_rss_mb(),
        })
        print(f"  {simulations} simulations: identical results; naive {naive_s / len(samples):.1f} s/sample, "
              f"fast {fast_s / len(samples):.1f} s/sample, x{naive_s / fast_s:.2f}", flush=True)
    headers = list(rows[0])
    print("\n| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
