"""Do fast (batched) evaluations give the naive path's answers in reduced precision?

In float32 the fast evaluator's answers equal the naive reference's (tested). In bfloat16
or float16 a batched or left-padded layer call rounds differently from a call of one, so
an answer, and a search verdict (correct / incorrect), can depend on which other chains
shared the batch. This script measures it: for each task it runs a real MCTS search per
sample in ``fast`` mode (MCTS batches, several samples searched together, as ``cola
search`` does), then evaluates every chain the searches tried again through the
``naive`` path (one chain at a time, the whole prompt) and through ``exact`` mode (fast,
but every chain in its own layer calls), and counts the evaluations whose answer or
verdict differs from the naive one.

    python benchmarks/precision_agreement.py --dtype bfloat16 --device cpu
    python benchmarks/precision_agreement.py --dtype float32 --tasks arith --samples 4   # the control
"""

from __future__ import annotations

import argparse
import time

import torch

from cola.engine import ChainModel
from cola.evaluation.batching import search_together
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.report import wilson_interval
from cola.runs import sample_seed
from cola.search import SearchConfig, get_strategy
from cola.tasks import get_task


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def search_fast(model, task, samples, args):
    """Every (sample, chain) a fast MCTS search evaluated, with the fast answers and verdicts."""
    scorer = ChainScorer(model, task, EvalConfig(mode="fast"))

    def work(evaluator):
        config = SearchConfig(
            simulations=args.simulations,
            batch_size=args.batch_size,
            seed=sample_seed(args.seed, evaluator.sample.id),
        )
        return get_strategy("mcts")(evaluator, model.num_layers, config, evaluator.original())

    outcomes = dict(search_together(scorer, samples, work, args.concurrency))
    return [
        (samples[i], [(e.chain, e.answer, e.reward) for e in outcomes[i].evaluations])
        for i in range(len(samples))
    ]


def reevaluate(model, task, tried, mode: str):
    """The same chains again, sample by sample, in ``mode``."""
    scorer = ChainScorer(model, task, EvalConfig(mode=mode))
    results = []
    for sample, rows in tried:
        evaluations = scorer.for_sample(sample).evaluate([chain for chain, _, _ in rows])
        results.append([(e.answer, e.reward) for e in evaluations])
    return results


def _share(count: int, total: int) -> str:
    low, high = wilson_interval(count, total)
    return f"{count}/{total} = {100 * count / total:.1f}% [{100 * low:.1f}%, {100 * high:.1f}%]"


def measure(model, task_name: str, args) -> dict[str, str]:
    task = get_task(task_name)
    samples = task.load(source=task.default_source, limit=args.samples, seed=args.seed)
    tried, fast_s = _timed(lambda: search_fast(model, task, samples, args))
    naive, naive_s = _timed(lambda: reevaluate(model, task, tried, "naive"))
    exact, exact_s = _timed(lambda: reevaluate(model, task, tried, "exact"))
    total = answers = verdicts = exact_answers = exact_verdicts = 0
    for (_, rows), naive_rows, exact_rows in zip(tried, naive, exact):
        for (_, answer, reward), (n_answer, n_reward), (e_answer, e_reward) in zip(
            rows, naive_rows, exact_rows
        ):
            total += 1
            answers += answer != n_answer
            verdicts += reward != n_reward
            exact_answers += e_answer != n_answer
            exact_verdicts += e_reward != n_reward
    return {
        "task": task_name,
        "samples": str(len(samples)),
        "evaluations": str(total),
        "fast != naive: answers": _share(answers, total),
        "fast != naive: verdicts": _share(verdicts, total),
        "exact != naive: answers": _share(exact_answers, total),
        "exact != naive: verdicts": _share(exact_verdicts, total),
        "s fast search / naive / exact": f"{fast_s:.0f} / {naive_s:.0f} / {exact_s:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--tasks", default="arc_easy,arith")
    parser.add_argument("--samples", type=int, default=8, help="per task")
    parser.add_argument("--simulations", type=int, default=24, help="MCTS budget per sample")
    parser.add_argument("--batch-size", type=int, default=8, help="MCTS leaves per round")
    parser.add_argument("--concurrency", type=int, default=4, help="samples searched at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = ChainModel.from_pretrained(args.model, dtype=args.dtype, device=args.device)
    print(
        f"model={args.model} device={model.device} dtype={model.dtype} MCTS simulations={args.simulations} "
        f"batch={args.batch_size} samples at once={args.concurrency} seed={args.seed} "
        f"threads={torch.get_num_threads()}",
        flush=True,
    )
    rows = []
    for task_name in args.tasks.split(","):
        rows.append(measure(model, task_name, args))
        print("  " + ", ".join(f"{k}: {v}" for k, v in rows[-1].items()), flush=True)
    headers = list(rows[0])
    print("\n| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")


if __name__ == "__main__":
    main()
