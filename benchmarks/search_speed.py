"""Full MCTS per sample: drafted fast decoding vs undrafted fast decoding vs the naive path, in one run.

For each simulation budget the same samples are searched with the same seeds: once with
``mode="naive"`` (every chain re-encodes the whole prompt, one chain at a time, and
decodes one token per step to ``max_new_tokens``, as public CoLa code does; samples one
after another), then with the fast engine (prefix trie, lock-step batched lanes, exact
early stop) for each ``--concurrency`` (samples searched at once, sharing every model
pass), once decoding one token per step (``draft=False``) and once checking drafted
tokens several at a time (``draft=True``, :mod:`cola.engine.drafting`). In float32, or
with ``--fast-mode exact``, all searches must agree exactly (same chains, texts,
answers, rewards, best chain) and the script fails loudly if they do not. In
bfloat16/float16 a batched call may round differently from a call of one, so a fast
search can legitimately take another path: the table then says how many samples'
searches were identical. Exact mode never drafts, so there its two fast rows are the same.

Per path it prints s/sample, the tokens the chains generated, the sequential decode
steps (one pass of a chain's newest token and its draft, summed over chains), the mean
tokens a step gave (1 without drafts), the lock-step rounds, layer calls (layer-forwards)
executed vs the minimum needed for the prompts, the prefix-trie peak, the process peak
memory and, on a GPU, the peak GPU memory. The last line gives the drafted speed-up over
undrafted fast decoding, over all budgets and concurrencies.

    python benchmarks/search_speed.py                      # ARC-Easy (bundled), smollm2-135m
    python benchmarks/search_speed.py --task gsm8k --samples 1 --simulations 16 --max-new-tokens 128
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
from cola.evaluation.scorer import ChainScorer, EvalConfig, resolve_style
from cola.report.format import md_table
from cola.runs import sample_seed
from cola.search import SearchConfig, get_strategy
from cola.tasks import get_task


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def search_all(model, task, samples, simulations, batch_size, seed, concurrency, config: EvalConfig):
    """Searches of every sample under ``config``; returns outcomes, seconds, work stats and peak GPU MB."""
    scorer = ChainScorer(model, task, config)

    def work(evaluator):
        original = evaluator.original()
        search = SearchConfig(
            simulations=simulations, batch_size=batch_size, seed=sample_seed(seed, evaluator.sample.id)
        )
        return get_strategy("mcts")(evaluator, model.num_layers, search, original)

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


def signature(outcome, with_text: bool = False):
    """What two searches must share to be the same search.

    The naive path decodes every chain to the token budget, while the fast path stops a
    chain once its answer is settled, so against naive the texts may end earlier and only
    chains, answers, rewards and the best chain are compared. Drafted and undrafted fast
    decoding stop by the same rule, so between them the texts must be equal too.
    """
    rows = [(e.chain, e.text if with_text else None, e.answer, e.reward) for e in outcome.evaluations]
    return rows, outcome.best_chain


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def compare(reference, other, must_match: bool, where: str, with_text: bool = False) -> tuple[int, str]:
    """``(identical count, "k/n")``; raises SystemExit where results must match and do not."""
    same = sum(signature(a, with_text) == signature(b, with_text) for a, b in zip(reference, other))
    if must_match and same != len(reference):
        raise SystemExit(f"MISMATCH at {where}: the searches differ from the reference ones")
    return same, f"{same}/{len(reference)}"


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
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="cap on generated tokens (default: the task's)"
    )
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
        help="exact: each chain in its own layer calls, never drafted (identical to naive in any dtype)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    return parser.parse_args()


def _row(simulations, concurrency, path, identical, outcomes, seconds, stats, naive_seconds, gpu, samples):
    steps = stats.decode_steps
    return [
        str(simulations),
        str(concurrency),
        path,
        identical,
        f"{sum(len(o.evaluations) for o in outcomes) / samples:.1f}",
        f"{seconds / samples:.2f}",
        f"x{naive_seconds / seconds:.2f}",
        str(stats.generated_tokens),
        str(steps),
        f"{stats.decode_accepted / steps:.2f}" if steps else "-",
        str(stats.decode_rounds),
        str(stats.prefill_layer_forwards),
        str(stats.min_prefill_layer_forwards),
        str(stats.decode_layer_forwards),
        f"{stats.prefix_cache_peak_bytes / 2**20:.1f}",
        f"{peak_rss_mb():.0f}",
        _mb(gpu),
    ]


HEADER = [
    "simulations",
    "samples at once",
    "path",
    "identical searches",
    "chains/sample",
    "s/sample",
    "speed-up vs naive",
    "tokens generated",
    "decode steps",
    "tokens/step",
    "rounds",
    "prefill layer-fwd",
    "prefill layer-fwd min",
    "decode layer-fwd",
    "prefix cache peak MB",
    "process peak RSS MB",
    "peak GPU MB",
]


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ChainModel.from_pretrained(args.model, dtype=args.dtype, device=args.device)
    must_match = model.dtype == torch.float32 or args.fast_mode == "exact"
    task = get_task(args.task)
    samples = task.load(source=args.data, limit=args.samples)
    style = resolve_style("auto", model.tokenizer)
    prompt_tokens = [model.encode([task.prompt(s, model.tokenizer, style)])[0].shape[1] for s in samples]
    concurrencies = [int(x) for x in args.concurrency.split(",")]
    gpu_name = f" ({torch.cuda.get_device_name(model.device)})" if model.device.type == "cuda" else ""
    max_new = args.max_new_tokens or task.max_new_tokens
    print(
        f"model={args.model} device={model.device}{gpu_name} dtype={str(model.dtype).removeprefix('torch.')} "
        f"task={args.task} samples={len(samples)} prompt tokens={prompt_tokens} max new tokens={max_new} "
        f"MCTS batch={args.batch_size} prefix cache={args.prefix_cache_mb:.0f} MB fast mode={args.fast_mode} "
        "(naive evaluates the same batches one chain at a time, one sample at a time)",
        flush=True,
    )
    base = EvalConfig(max_new_tokens=args.max_new_tokens, prefix_cache_mb=args.prefix_cache_mb)
    rows, total = [], {"fast": 0.0, "drafted": 0.0}
    identical_all, searches = 0, 0
    per_sample = len(samples)
    for simulations in [int(x) for x in args.simulations.split(",")]:
        run = dict(
            model=model,
            task=task,
            samples=samples,
            simulations=simulations,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        naive_config = EvalConfig(**{**vars(base), "mode": "naive", "draft": False})
        naive, naive_s, naive_stats, naive_gpu = search_all(concurrency=1, config=naive_config, **run)
        rows.append(
            _row(simulations, 1, "naive", "-", naive, naive_s, naive_stats, naive_s, naive_gpu, per_sample)
        )
        for concurrency in concurrencies:
            seconds, undrafted = {}, []
            for path, draft in (("fast", False), ("drafted", True)):
                config = EvalConfig(**{**vars(base), "mode": args.fast_mode, "draft": draft})
                outcomes, secs, stats, gpu = search_all(concurrency=concurrency, config=config, **run)
                where = f"{simulations} simulations, concurrency {concurrency}, {path}"
                same, identical = compare(naive, outcomes, must_match, where)
                if draft:  # drafting must not change a single token of an undrafted fast search
                    compare(undrafted, outcomes, must_match, f"{where} vs undrafted", with_text=True)
                else:
                    undrafted = outcomes
                identical_all += same
                searches += len(samples)
                seconds[path] = secs
                total[path] += secs
                rows.append(
                    _row(
                        simulations,
                        concurrency,
                        path,
                        identical,
                        outcomes,
                        secs,
                        stats,
                        naive_s,
                        gpu,
                        per_sample,
                    )
                )
            print(
                f"  {simulations} simulations, {concurrency} at once: naive {naive_s / per_sample:.1f} s/sample, "
                f"fast {seconds['fast'] / per_sample:.1f}, drafted {seconds['drafted'] / per_sample:.1f} "
                f"(x{seconds['fast'] / seconds['drafted']:.2f})",
                flush=True,
            )
    print("\n" + md_table(HEADER, rows) + "\n")
    same = (
        "searches identical"
        if identical_all == searches
        else f"searches identical {identical_all}/{searches}"
    )
    print(f"speed-up x{total['fast'] / total['drafted']:.2f} (drafted vs undrafted fast), {same}")


if __name__ == "__main__":
    main()
