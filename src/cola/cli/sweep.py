"""``cola sweep``: held-out accuracy against depth for the layer-drop baselines and CoLa's dataset chain."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cola.cli.options import add_setting_options, config_from_args
from cola.cli.placement import add_placement_arguments
from cola.cli.predict import load_test_split
from cola.cli.registry import command
from cola.errors import ColaError
from cola.predict.options import FitOptions
from cola.predict.registry import DEPTH_METHODS as METHODS
from cola.predict.registry import canonical_name

SWEEP_FIT_SETTINGS = ["simulations", "length_penalty", "seed", "train_samples"]  # in --help order


def method_list(text: str) -> list[str]:
    try:
        methods = [canonical_name(m.strip(), METHODS, "method") for m in text.split(",") if m.strip()]
    except ColaError:
        methods = []
    if not methods or len(set(methods)) != len(methods):
        raise argparse.ArgumentTypeError(f"expected distinct names from {', '.join(METHODS)}; got {text!r}")
    return methods


def drop_list(text: str) -> list[int]:
    """``0-8`` or ``0,2,4``: numbers of layers to drop."""
    from cola.engine.chain import parse_chain
    from cola.errors import ChainSpecError

    try:
        return sorted(set(parse_chain(text)))
    except ChainSpecError:
        raise argparse.ArgumentTypeError(f"expected drop counts like 0-8 or 0,2,4; got {text!r}") from None


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run", required=True, help="search run on the TRAIN split: calibration prompts, validation labels"
    )
    p.add_argument(
        "--methods", type=method_list, default=list(METHODS), help=f"comma-separated: {', '.join(METHODS)}"
    )
    p.add_argument(
        "--drops", type=drop_list, default=list(range(9)), help="layers to drop, e.g. 0-8 (default)"
    )
    p.add_argument("--model", default=None, help="default: the run's model")
    p.add_argument("--task", default=None, help="default: the run's task")
    p.add_argument(
        "--data", default=None, help="test data: bundled, hf, generated or a JSONL path (default: the run's)"
    )
    p.add_argument("--split", default="test")
    p.add_argument(
        "--samples", type=int, default=40, help="first N test samples (0 = all); overlaps are dropped"
    )
    p.add_argument(
        "--seed", type=int, default=None, help="test data seed (generated tasks; default: the run's)"
    )
    add_setting_options(
        p,
        FitOptions,
        SWEEP_FIT_SETTINGS,
        simulations={"help": "dataset chain: search budget (chains tried)"},
        length_penalty={"help": "dataset chain objective penalty"},
        seed={"help": "dataset chain search seed"},
        train_samples={"help": "greedy-drop / dataset: first N training samples"},
    )
    add_placement_arguments(
        p, dtype_default=None, dtype_help="default: the run's dtype; or auto, float32, bfloat16, float16"
    )
    p.add_argument("--out", required=True, help="directory for sweep.json, sweep.md and sweep.png")
    p.add_argument("--force", action="store_true", help="replace an earlier sweep at --out (nothing else)")


@command(
    "sweep",
    "held-out accuracy vs depth: block-influence, angular, greedy-drop and CoLa's dataset chain",
    add_sweep_arguments,
)
def cmd_sweep(args) -> int:
    """Fit each method once for every drop count, score on the test split, write table, JSON and plot."""
    from cola.outputs import SWEEP, check_target, staged_dir
    from cola.predict.sweep import depth_sweep, plot_sweep

    check_target(args.out, args.force, kind=SWEEP)  # before any run or model is read
    run, model, scorer, samples, dropped = load_test_split(args)
    if max(args.drops) >= model.num_layers:
        raise ColaError(
            f"--drops goes up to {max(args.drops)}, but the model has only {model.num_layers} layers"
        )
    options = config_from_args(FitOptions, args, SWEEP_FIT_SETTINGS)
    sweep = depth_sweep(model, scorer, run, samples, args.methods, args.drops, options)
    out = Path(args.out)
    data = {**sweep.to_json(), "test_dropped_overlap": dropped}
    table = sweep.markdown()
    with staged_dir(out, args.force, SWEEP) as staging:  # all three files, or none
        (staging / "sweep.json").write_text(json.dumps(data, indent=2) + "\n")
        (staging / "sweep.md").write_text(table + "\n")
        plot_sweep([sweep], staging / "sweep.png")
    print(table)
    print(f"wrote {out / 'sweep.json'}, {out / 'sweep.md'} and {out / 'sweep.png'}")
    return 0
