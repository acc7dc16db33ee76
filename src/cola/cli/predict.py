"""``cola predict`` and ``cola evaluate``: predictors fitted on a search run, used on a test split."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cola.cli.options import add_setting_options, config_from_args
from cola.cli.placement import add_placement_arguments
from cola.cli.registry import command
from cola.errors import ColaError
from cola.outputs import DETAILS, EVALUATION, PREDICTIONS, check_target, write_output
from cola.predict.options import FitOptions
from cola.predict.registry import PREDICTORS, canonical_name

# The fitting settings predict and evaluate expose (``--drop`` is listed beside ``--predictor``).
FIT_SETTINGS = ["layer", "no_correct", "seed", "epochs", "simulations", "length_penalty", "train_samples"]

__all__ = ["PREDICTORS", "load_test_split", "predictor_list"]


def predictor_list(text: str) -> list[str]:
    """``knn`` or ``knn,block-influence,...``: each a known predictor, none twice."""
    try:
        kinds = [canonical_name(k.strip(), PREDICTORS) for k in text.split(",") if k.strip()]
    except ColaError:
        kinds = []
    if not kinds or len(set(kinds)) != len(kinds):
        raise argparse.ArgumentTypeError(
            f"expected distinct names from {', '.join(PREDICTORS)}; got {text!r}"
        )
    return kinds


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="finished search run directory on the TRAIN split")
    p.add_argument(
        "--predictor",
        type=predictor_list,
        default=["knn"],
        help=f"one of {', '.join(PREDICTORS)}; evaluate takes several, comma-separated",
    )
    add_setting_options(p, FitOptions, ["drop"])
    p.add_argument("--model", default=None, help="default: the run's model")
    p.add_argument("--task", default=None, help="default: the run's task")
    p.add_argument(
        "--data", default=None, help="test data: bundled, hf, generated or a JSONL path (default: the run's)"
    )
    p.add_argument("--split", default="test")
    p.add_argument("--samples", type=int, default=20, help="first N test samples (0 = all)")
    p.add_argument(
        "--seed", type=int, default=None, help="test data seed (generated tasks; default: the run's)"
    )
    p.add_argument("--top-k", type=int, default=5, help="chains proposed per sample")
    add_setting_options(p, FitOptions, FIT_SETTINGS)
    add_placement_arguments(
        p, dtype_default=None, dtype_help="default: the run's dtype; or auto, float32, bfloat16, float16"
    )
    p.add_argument("--quiet", action="store_true")


def _prepare(args):
    """Load the run, the model and disjoint test samples; fit the (first) predictor."""
    run, model, scorer, samples, dropped = load_test_split(args)
    fitted = fit_kind(args.predictor[0], args, model, run, scorer)
    fitted.info["test_dropped_overlap"] = dropped
    return model, scorer, samples, fitted


def load_test_split(args):
    """The training run, the model, a scorer and the test samples disjoint from the run's."""
    from cola.predict.heldout import load_heldout

    _check_numbers(args)
    heldout = load_heldout(
        args.run,
        model=args.model,
        task=args.task,
        data=args.data,
        split=args.split,
        samples=args.samples or None,
        seed=args.seed,
        dtype=args.dtype,
        device=args.device,
    )
    if heldout.dropped:
        print(
            f"# dropped {heldout.dropped} test samples that also occur in the training run", file=sys.stderr
        )
    model, scorer = heldout.load_model(self_check=args.self_check)
    return heldout.run, model, scorer, heldout.samples, heldout.dropped


def fit_options(args) -> FitOptions:
    return config_from_args(FitOptions, args, FIT_SETTINGS, drop=getattr(args, "drop", None))


def fit_kind(kind: str, args, model, run, scorer):
    from cola.predict.fit import fit_predictor

    return fit_predictor(kind, model, run, fit_options(args), scorer=scorer)


def _check_numbers(args) -> None:
    """Counts that must be positive, checked before any run, data or model is read."""
    for option, value, minimum in (
        ("--samples", args.samples, 0),
        ("--top-k", getattr(args, "top_k", 1), 1),
        ("--epochs", getattr(args, "epochs", 1), 1),
        ("--simulations", args.simulations, 0),
        ("--vote", getattr(args, "vote", 1), 1),
    ):
        if value < minimum:
            raise ColaError(f"{option} must be at least {minimum}, got {value}")


# ------------------------------------------------------------------------ predict
def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--out", required=True, help="JSONL of predicted chains, one line per test sample")
    p.add_argument("--force", action="store_true", help="replace an earlier predictions file at --out")


@command(
    "predict", "predict chains for unseen samples from a search run (no labels used)", add_predict_arguments
)
def cmd_predict(args) -> int:
    """Write the top-k predicted chains of each test sample (labels are never read)."""
    from cola.predict.heldout import predict_chains

    if len(args.predictor) != 1:
        raise ColaError("predict takes one --predictor; evaluate compares several")
    check_target(args.out, args.force, is_dir=False, kind=PREDICTIONS)  # before any run or model is read
    model, scorer, samples, fitted = _prepare(args)
    predictor = fitted.predictor
    rows = predict_chains(predictor, model, scorer, samples, args.top_k)
    lines = [json.dumps(row) + "\n" for row in rows]
    out = write_output(args.out, "".join(lines), args.force, PREDICTIONS)  # every line, or nothing
    print(f"# {predictor.name}: {json.dumps(fitted.info)}", file=sys.stderr)
    print(f"wrote predictions for {len(samples)} samples to {out}")
    return 0


# ----------------------------------------------------------------------- evaluate
def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--vote", type=int, default=3, help="chain vote over the top-m chains")
    p.add_argument("--json", default=None, help="also write the report as JSON here")
    p.add_argument("--details", default=None, help="per-sample results as JSONL here")
    p.add_argument(
        "--force", action="store_true", help="replace earlier --json / --details files of evaluate"
    )


@command(
    "evaluate",
    "score chain predictors (knn, polar, dataset, layer-drop baselines) on a held-out split vs the full model",
    add_evaluate_arguments,
)
def cmd_evaluate(args) -> int:
    """Top-1 / vote accuracy and depth vs the full model; oracle pass@k labelled as such.

    With several predictors, each is fitted and scored on the same test samples, and a
    comparison table (top-1 accuracy and layers used, 95% Wilson intervals) ends the output.
    """
    from cola.predict.evaluate import evaluate_predictor, format_comparison

    _check_report_targets(args)
    run, model, scorer, samples, dropped = load_test_split(args)
    reports = []
    for kind in args.predictor:
        fitted = fit_kind(kind, args, model, run, scorer)
        fitted.info["test_dropped_overlap"] = dropped
        report = evaluate_predictor(
            fitted.predictor, scorer, samples, top_k=args.top_k, vote_m=args.vote, progress=not args.quiet
        )
        report.extra.update(fitted.info)
        print(report.format())
        reports.append(report)
    if len(reports) > 1:
        print(format_comparison(reports))
    _write_reports(args, reports)
    return 0


def _check_report_targets(args) -> None:
    """``--json`` and ``--details`` under the output rule, before any run or model is read."""
    if args.json is not None:
        check_target(args.json, args.force, is_dir=False, kind=EVALUATION)
    if args.details is not None:
        check_target(args.details, args.force, is_dir=False, kind=DETAILS)
    if args.json is not None and args.details is not None and Path(args.json) == Path(args.details):
        raise ColaError(f"--json and --details both name {args.json}; give two files")


def _write_reports(args, reports) -> None:
    """``--json``: one report (one predictor) or a list; ``--details``: every sample, tagged by predictor."""
    if args.json is not None:
        data = [r.to_json() for r in reports]
        text = json.dumps(data[0] if len(data) == 1 else data, indent=2) + "\n"
        write_output(args.json, text, args.force, EVALUATION)
    if args.details is not None:
        rows = [
            json.dumps({"predictor": report.predictor, **result.to_json()}) + "\n"
            for report in reports
            for result in report.samples
        ]
        write_output(args.details, "".join(rows), args.force, DETAILS)
