"""Full MCTS per sample: fast engine vs. the naive path, measured in one run.

For each simulation budget the same samples are searched with the same seeds: once with
``mode="naive"`` (every chain re-encodes the whole prompt, one chain at a time, and
decodes to ``max_new_tokens``, as public CoLa code does; samples one after another) and
then with ``mode="fast"`` (prefix trie, lock-step batched lanes, exact early stop) for
each ``--concurrency`` (samples searched at once, sharing every model pass). In float32,
or with ``--fast-mode exact``, all searches must agree exactly (same chains, answers,
rewards, best chain) and the script fails loudly if they do not. In bfloat16/float16 a
batched call may round differently from a call of one, so a fast search can legitimately
take another path: the table then says how many samples' searches were identical. It
prints time per sample, the speed-up, layer-forwards executed vs. the minimum needed, the
prefix-trie peak, the process peak memory and, on a GPU, the peak GPU memory of each path.

    python benchmarks/search_speed.py                      # ARC-Easy (bundled), smollm2-135m
    python benchmarks/search_speed.py --simulations 50,200 --samples 4 --concurrency 1,4
    python benchmarks/search_speed.py --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from cola.engine import ChainModel
from cola.evaluation.batching import search_together
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.runs import sample_seed
from cola.search import SearchConfig, get_strategy
from cola.tasks import get_task


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def search_all(model, task, samples, simulations, batch_size, mode, seed, concurrency, cache_mb):
    """Searches of every sample in ``mode``; returns outcomes, seconds, work stats and peak GPU MB."""
    scorer = ChainScorer(model, task, EvalConfig(mode=mode, prefix_cache_mb=cache_mb))

    def work(evaluator):
        original = evaluator.original()
        config = SearchConfig(
            simulations=simulations, batch_size=batch_size, seed=sample_seed(seed, evaluator.sample.id)
        )
        return get_strategy("mcts")(evaluator, model.num_layers, config, original)

    gpu = model.device.type == "cuda"
    if gpu:
        torch.cuda.reset_peak_memory_stats(model.device)
    _sync(model.device)
    start = time.perf_counter()
    outcomes = dict(search_together(scorer, samples, work, concurrency))
    _sync(model.device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(model.device) / 2**20 if gpu else None
    return [outcomes[i] for i in range(len(samples))], seconds, scorer.stats, peak


def signature(outcome):
    return [(e.chain, e.answer, e.reward) for e in outcome.evaluations], outcome.best_chain


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def compare(naive, fast, must_match: bool, where: str) -> str:
    """``identical searches`` cell; raises SystemExit where results must match and do not."""
    same = sum(signature(a) == signature(b) for a, b in zip(naive, fast))
    if must_match and same != len(naive):
        raise SystemExit(f"MISMATCH at {where}: fast and naive searches differ")
    return f"{same}/{len(naive)}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="arc_easy")
    parser.add_argument("--data", default="bundled")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--simulations", default="50,200,800")
    parser.add_argument("--batch-size", type=int, default=8, help="MCTS leaves per round (virtual loss)")
    parser.add_argument("--concurrency", default="1,4", help="fast mode: samples searched at once (list)")
    parser.add_argument("--prefix-cache-mb", type=float, default=1024.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument(
        "--dtype", default="auto", help="auto (bf16 on a GPU, float32 on the CPU), float32, ..."
    )
    parser.add_argument(
        "--fast-mode",
        choices=["fast", "exact"],
        default="fast",
        help="exact: each chain in its own layer calls (identical to naive in any dtype)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ChainModel.from_pretrained(args.model, dtype=args.dtype, device=args.device)
    must_match = model.dtype == torch.float32 or args.fast_mode == "exact"
    task = get_task(args.task)
    samples = task.load(source=args.data, limit=args.samples)
    style = "chat" if model.tokenizer.chat_template else "base"
    prompt_tokens = [model.encode([task.prompt(s, model.tokenizer, style)])[0].shape[1] for s in samples]
    concurrencies = [int(x) for x in args.concurrency.split(",")]
    gpu_name = f" ({torch.cuda.get_device_name(model.device)})" if model.device.type == "cuda" else ""
    print(
        f"model={args.model} device={model.device}{gpu_name} dtype={str(model.dtype).removeprefix('torch.')} "
        f"task={args.task} samples={len(samples)} prompt tokens={prompt_tokens} MCTS batch={args.batch_size} "
        f"prefix cache={args.prefix_cache_mb:.0f} MB fast mode={args.fast_mode} (naive evaluates the same "
        f"batches one chain at a time, one sample at a time)",
        flush=True,
    )
    rows = []
    for simulations in [int(x) for x in args.simulations.split(",")]:
        run = dict(
            model=model,
            task=task,
            samples=samples,
            simulations=simulations,
            batch_size=args.batch_size,
            seed=args.seed,
            cache_mb=args.prefix_cache_mb,
        )
        naive, naive_s, naive_stats, naive_gpu = search_all(mode="naive", concurrency=1, **run)
        per_sample = len(samples)
        for concurrency in concurrencies:
            fast, fast_s, st, fast_gpu = search_all(mode=args.fast_mode, concurrency=concurrency, **run)
            identical = compare(
                naive, fast, must_match, f"{simulations} simulations, concurrency {concurrency}"
            )
            rows.append(
                {
                    "simulations": simulations,
                    "samples at once": concurrency,
                    "identical searches": identical,
                    "chains/sample": sum(len(o.evaluations) for o in fast) / per_sample,
                    "naive s/sample": naive_s / per_sample,
                    "fast s/sample": fast_s / per_sample,
                    "speed-up": naive_s / fast_s,
                    "fast prefill s/sample": st.prefill_seconds / per_sample,
                    "prefill layer-fwd naive": naive_stats.prefill_layer_forwards,
                    "prefill layer-fwd fast": st.prefill_layer_forwards,
                    "prefill layer-fwd min": st.min_prefill_layer_forwards,
                    "decode layer-fwd naive": naive_stats.decode_layer_forwards,
                    "decode layer-fwd fast": st.decode_layer_forwards,
                    "prefix cache peak MB": st.prefix_cache_peak_bytes / 2**20,
                    "process peak RSS MB": peak_rss_mb(),
                    "peak GPU MB naive": _mb(naive_gpu),
                    "peak GPU MB fast": _mb(fast_gpu),
                }
            )
            print(
                f"  {simulations} simulations, {concurrency} at once: identical searches {identical}; naive "
                f"{naive_s / per_sample:.1f} s/sample, fast {fast_s / per_sample:.1f} s/sample "
                f"(prefill {st.prefill_seconds / per_sample:.1f}), x{naive_s / fast_s:.2f}",
                flush=True,
            )
    headers = list(rows[0])
    print("\n| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
