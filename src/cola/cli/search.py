"""``cola search`` (the main job: per-sample chain search, resumable) and ``cola summary``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cola.cli.options import add_setting_options, config_from_args
from cola.cli.placement import add_placement_arguments, placement_from_args
from cola.cli.registry import command
from cola.errors import ColaError, UsageError
from cola.evaluation.config import EvalConfig
from cola.runs.config import RunConfig, default_recheck, default_source
from cola.search import SearchConfig, strategy_names

# The settings ``cola search`` exposes, each group in the order ``--help`` lists them.
RUN_DATA = ["model", "task", "data", "split", "samples", "levels"]
SEARCH = ["strategy", "simulations", "exploration_c", "length_penalty", "max_length_factor", "batch_size"]
SEARCH_STOP = ["early_stop"]
ARMS = ["baseline", "baseline_strategy", "decoy"]
NULLS = ["length_null", "sampling", "sampling_temperature", "sampling_top_p", "menu_from"]
EVAL = ["scoring", "style", "max_new_tokens", "mode", "draft"]
EVAL_CACHE = ["prefix_cache_mb"]
SEEDS = ["seed", "data_seed"]


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    from cola.tasks import list_tasks

    add_setting_options(
        p,
        RunConfig,
        RUN_DATA,
        task={"help": ", ".join(list_tasks())},
        data={"default": None},  # None: the task's own default source (Task.default_source)
    )
    add_setting_options(p, SearchConfig, SEARCH, strategy={"help": ", ".join(strategy_names())})
    add_setting_options(p, SearchConfig, SEARCH_STOP)
    add_setting_options(p, RunConfig, ARMS)
    add_setting_options(p, RunConfig, NULLS)
    add_setting_options(p, EvalConfig, EVAL)
    p.add_argument(
        "--recheck",
        type=int,
        default=None,
        metavar="N",
        help="re-evaluate N random chains per sample naively; cola summary reports the agreement "
        "(default: 4 with --mode fast in bfloat16/float16, else 0)",
    )
    add_setting_options(p, EvalConfig, EVAL_CACHE)
    p.add_argument(
        "--concurrent-samples",
        type=int,
        default=4,
        help="samples searched at once, sharing model passes (1 = one after another)",
    )
    add_setting_options(p, RunConfig, SEEDS)
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


def run_config_from_args(args) -> RunConfig:
    """The run config the options describe; ``--samples 0`` (all) and ``--data``'s default are the CLI's."""
    if args.samples < 0:
        raise UsageError(f"--samples must be a positive integer (0 = all), got {args.samples}")
    return config_from_args(
        RunConfig,
        args,
        ["model", "task", "split", *ARMS, *NULLS, *SEEDS],
        data=args.data or default_source(args.task),
        samples=args.samples or None,
        levels=parse_levels(args.levels),
        search=config_from_args(SearchConfig, args, SEARCH + SEARCH_STOP),
        eval=config_from_args(EvalConfig, args, EVAL + EVAL_CACHE),
        dtype=args.dtype,
    )


@command(
    "search",
    "search chains of layers per sample (MCTS, random baseline, decoy control), resumable",
    add_search_arguments,
)
def cmd_search(args) -> int:
    from cola.runs.preflight import check_search
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
    check_search(config, args.out, args.resume)  # data, depth, --out and resumed records: before any write
    recheck = args.recheck
    if recheck is None:
        recheck = default_recheck(placement.dtype, config.eval.mode, distributed=bool(args.ray))
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
    p.add_argument(
        "--menu-from",
        default=None,
        metavar="RUN",
        help="a finished run on other samples (a train split): show the fixed-menu null of its most "
        "frequent correct chains (evaluated now, loading the model, where the run has no menu)",
    )
    p.add_argument(
        "--device", default="auto", help="where --menu-from evaluates the menu (auto, cpu, cuda, ...)"
    )


@command(
    "summary",
    "print oracle statistics of a run beside its nulls (random arms, decoy, sampling, menu, chance)",
    add_summary_arguments,
)
def cmd_summary(args) -> int:
    from cola.runs.saved import checked_config_json
    from cola.runs.store import RunStore

    if not Path(args.run).is_dir():
        raise ColaError(f"run dir {args.run} not found")
    store = RunStore(args.run)
    records = store.load_records()
    if not records:
        raise ColaError(f"no records in {args.run}")
    if args.menu_from is not None and any(r.menu is None for r in records):
        from cola.runs.menu import with_menu

        records = with_menu(args.run, args.menu_from, device=args.device)
    _print_summary(records, (checked_config_json(args.run) or {}).get("dtype"))
    return 0
