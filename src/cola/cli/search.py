"""``cola search`` (the main job: per-sample chain search, resumable) and ``cola summary``."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

from cola.cli.placement import add_placement_arguments, placement_from_args
from cola.cli.registry import command
from cola.errors import ColaError, UsageError

DEFAULT_RECHECK = 4  # chains per sample re-evaluated naively by default in bfloat16/float16 (fast mode)


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--task", default="arith", help="arc_easy, arc_challenge, gsm8k, math, arith")
    p.add_argument("--data", default=None, help="bundled (default where shipped), hf, or a local JSONL path")
    p.add_argument("--split", default="test")
    p.add_argument("--samples", type=int, default=20, help="first N samples (0 = all)")
    p.add_argument("--levels", default=None, help="MATH levels, e.g. 1,2")
    p.add_argument("--strategy", default="mcts")
    p.add_argument("--simulations", type=int, default=200)
    p.add_argument(
        "--c", dest="exploration_c", type=float, default=math.sqrt(2), help="UCB exploration constant"
    )
    p.add_argument("--length-penalty", type=float, default=5.0, help="lambda in the UCB length penalty")
    p.add_argument("--max-length-factor", type=float, default=2.0)
    p.add_argument("--batch-size", type=int, default=1, help="leaves per MCTS round (virtual loss)")
    p.add_argument("--early-stop", action="store_true", help="stop once a shorter correct chain is found")
    p.add_argument(
        "--no-baseline", action="store_true", help="skip the random baseline (same budget and reach)"
    )
    p.add_argument(
        "--baseline",
        dest="baseline_strategy",
        default="random_matched",
        choices=["random_matched", "random_nearby"],
        help="random_matched: the search's own edit counts (default); random_nearby: 1-4 edits",
    )
    p.add_argument(
        "--no-decoy",
        action="store_true",
        help="skip the decoy-label control search (it costs up to one more search per sample)",
    )
    p.add_argument("--scoring", choices=["generate", "choice"], default="generate")
    p.add_argument("--style", choices=["auto", "chat", "base"], default="auto")
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument(
        "--mode",
        choices=["fast", "naive", "exact"],
        default="fast",
        help="exact: fast, but each chain in its own layer calls, so answers never depend on "
        "batch-mates (in bfloat16/float16 fast ones can)",
    )
    p.add_argument(
        "--recheck",
        type=int,
        default=None,
        metavar="N",
        help="re-evaluate N random chains per sample naively; cola summary reports the agreement "
        "(default: 4 with --mode fast in bfloat16/float16, else 0)",
    )
    p.add_argument(
        "--prefix-cache-mb",
        type=float,
        default=1024.0,
        help="memory for cached prompt states, shared by the samples searched together",
    )
    p.add_argument(
        "--concurrent-samples",
        type=int,
        default=4,
        help="samples searched at once, sharing model passes (1 = one after another)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the searches")
    p.add_argument(
        "--data-seed",
        type=int,
        default=None,
        help="picks generated questions (arith; default: --seed), so search variance can be "
        "measured on fixed questions",
    )
    add_placement_arguments(p)
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue an existing run directory")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="distribute samples over Ray actors (local cluster, or ADDRESS)",
    )
    p.add_argument("--workers", type=int, default=2, help="Ray actors (with --ray)")
    p.add_argument("--quiet", action="store_true")


def parse_levels(text: str | None) -> list[int] | None:
    """``"1,2"`` -> ``[1, 2]``; anything else is a one-line error."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--levels must be comma-separated integers like 1,2, got {text!r}") from None


def run_config_from_args(args):
    from cola.evaluation.scorer import EvalConfig
    from cola.runs.config import RunConfig
    from cola.search import SearchConfig

    levels = parse_levels(args.levels)
    data = args.data or ("generated" if args.task == "arith" else "bundled")
    return RunConfig(
        model=args.model,
        task=args.task,
        data=data,
        split=args.split,
        samples=args.samples or None,
        levels=levels,
        seed=args.seed,
        data_seed=args.data_seed,
        baseline=not args.no_baseline,
        baseline_strategy=args.baseline_strategy,
        decoy=not args.no_decoy,
        search=SearchConfig(
            strategy=args.strategy,
            simulations=args.simulations,
            exploration_c=args.exploration_c,
            length_penalty=args.length_penalty,
            max_length_factor=args.max_length_factor,
            batch_size=args.batch_size,
            early_stop=args.early_stop,
        ),
        eval=EvalConfig(
            mode=args.mode,
            scoring=args.scoring,
            style=args.style,
            max_new_tokens=args.max_new_tokens,
            prefix_cache_mb=args.prefix_cache_mb,
        ),
        dtype=args.dtype,
    )


@command(
    "search",
    "search chains of layers per sample (MCTS, random baseline, decoy control), resumable",
    add_search_arguments,
)
def cmd_search(args) -> int:
    from cola.runs.runner import run_search

    if args.concurrent_samples < 1:
        raise UsageError(f"--concurrent-samples must be at least 1, got {args.concurrent_samples}")
    if args.ray and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.recheck is not None and (args.recheck < 0 or (args.recheck and args.ray)):
        raise UsageError("--recheck must be >= 0, and is not available with --ray")
    config = run_config_from_args(args).validate()  # bad settings: one line, before the placement line
    placement = placement_from_args(args)
    config = dataclasses.replace(config, dtype=placement.dtype)
    recheck = args.recheck
    if recheck is None:  # reduced precision: every fast run measures its own agreement with the naive path
        reduced = placement.dtype != "float32" and args.mode == "fast" and not args.ray
        recheck = DEFAULT_RECHECK if reduced else 0
    if args.ray:
        from cola.runs.distributed import run_search_ray

        records = run_search_ray(
            config,
            args.out,
            resume=args.resume,
            address=args.ray,
            workers=args.workers,
            progress=not args.quiet,
        )
    else:
        records = run_search(
            config,
            args.out,
            resume=args.resume,
            progress=not args.quiet,
            concurrent_samples=args.concurrent_samples,
            device=placement.device,
            self_check=args.self_check,
            recheck=recheck,
        )
    _print_summary(records, config.dtype)
    return 0


def _print_summary(records, dtype: str | None) -> None:
    from cola.report.recheck import format_recheck
    from cola.report.stats import summarize
    from cola.report.text import format_summary

    print(format_summary(summarize(records)))
    line = format_recheck(records, dtype)
    if line:
        print(line)


def add_summary_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")


@command(
    "summary",
    "print oracle statistics of a run beside its random baseline, decoy control and chance",
    add_summary_arguments,
)
def cmd_summary(args) -> int:
    from cola.runs.store import RunStore

    if not Path(args.run).is_dir():
        raise ColaError(f"run dir {args.run} not found")
    store = RunStore(args.run)
    records = store.load_records()
    if not records:
        raise ColaError(f"no records in {args.run}")
    _print_summary(records, (store.load_config() or {}).get("dtype"))
    return 0
