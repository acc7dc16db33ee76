"""``cola predict`` and ``cola evaluate``: predictors fitted on a search run, used on a test split."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from cola.cli.placement import add_placement_arguments, placement_from_args
from cola.cli.registry import command
from cola.errors import ColaError

# cola.predict.fit.PREDICTORS, listed here so that ``cola --help`` does not import torch (tested equal).
PREDICTORS = ("knn", "polar", "dataset", "block-influence", "angular", "greedy-drop")


def predictor_list(text: str) -> list[str]:
    """``knn`` or ``knn,block-influence,...``: each a known predictor, none twice."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in PREDICTORS]
    if not kinds or unknown or len(set(kinds)) != len(kinds):
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
    p.add_argument(
        "--drop", type=int, default=None, help="layers to drop (block-influence, angular, greedy-drop)"
    )
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
    p.add_argument("--layer", type=int, default=None, help="embedding layer (default: half the depth)")
    p.add_argument(
        "--no-correct",
        choices=["skip", "full"],
        default="skip",
        help="training samples with no correct chain: drop them or target the full chain",
    )
    p.add_argument("--fit-seed", type=int, default=0, help="PoLar init / dataset-search seed")
    p.add_argument("--epochs", type=int, default=300, help="PoLar training epochs")
    p.add_argument("--simulations", type=int, default=64, help="dataset-level search budget")
    p.add_argument(
        "--length-penalty",
        type=float,
        default=0.1,
        help="dataset chain objective: train accuracy - penalty * len/L",
    )
    p.add_argument("--train-samples", type=int, default=None, help="dataset search: first N training samples")
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
    from cola.engine.model import ChainModel
    from cola.evaluation.scorer import ChainScorer
    from cola.predict.base import load_training_run
    from cola.predict.evaluate import disjoint_from
    from cola.runs.config import load_samples

    _check_numbers(args)
    run = load_training_run(args.run)
    test_config = dataclasses.replace(
        run.config,
        model=args.model or run.config.model,
        task=args.task or run.config.task,
        data=args.data or run.config.data,
        split=args.split,
        samples=args.samples or None,
        data_seed=run.config.questions_seed if args.seed is None else args.seed,
        dtype=args.dtype or run.config.dtype,
    )
    placement = placement_from_args(args, test_config.dtype)
    test_config = dataclasses.replace(test_config, dtype=placement.dtype)
    if test_config.task != run.config.task:
        raise ColaError(f"the run is on task {run.config.task}, not {test_config.task}")
    test_config.validate()
    task, samples = load_samples(test_config)
    samples, dropped = disjoint_from(samples, list(run.samples.values()))
    if not samples:
        raise ColaError("every test sample also occurs in the training run: pick a disjoint split/data/seed")
    if dropped:
        print(f"# dropped {dropped} test samples that also occur in the training run", file=sys.stderr)
    model = ChainModel.from_pretrained(
        test_config.model, dtype=placement.dtype, device=placement.device, self_check=args.self_check
    )
    scorer = ChainScorer(model, task, run.config.eval)
    return run, model, scorer, samples, dropped


def fit_options(args):
    from cola.predict.fit import FitOptions

    return FitOptions(
        layer=args.layer,
        no_correct=args.no_correct,
        seed=args.fit_seed,
        epochs=args.epochs,
        simulations=args.simulations,
        length_penalty=args.length_penalty,
        train_samples=args.train_samples,
        drop=getattr(args, "drop", None),
    )


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


@command(
    "predict", "predict chains for unseen samples from a search run (no labels used)", add_predict_arguments
)
def cmd_predict(args) -> int:
    """Write the top-k predicted chains of each test sample (labels are never read)."""
    import torch

    from cola.engine.chain import format_chain
    from cola.predict.embedding import prompt_embedding

    if len(args.predictor) != 1:
        raise ColaError("predict takes one --predictor; evaluate compares several")
    model, scorer, samples, fitted = _prepare(args)
    predictor = fitted.predictor
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as handle:
        for sample in samples:
            evaluator = scorer.for_sample(sample)
            if predictor.needs_embeddings():
                embedding = prompt_embedding(model, evaluator.input_ids, predictor.embedding_layer)[None]
            else:
                embedding = torch.zeros(1, 0)
            chains = predictor.rank(embedding, args.top_k)[0]
            handle.write(
                json.dumps(
                    {
                        "sample_id": sample.id,
                        "predictor": predictor.name,
                        "chains": [list(c) for c in chains],
                        "specs": [format_chain(c) for c in chains],
                        "lengths": [len(c) for c in chains],
                    }
                )
                + "\n"
            )
    print(f"# {predictor.name}: {json.dumps(fitted.info)}", file=sys.stderr)
    print(f"wrote predictions for {len(samples)} samples to {out}")
    return 0


# ----------------------------------------------------------------------- evaluate
def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--vote", type=int, default=3, help="chain vote over the top-m chains")
    p.add_argument("--json", default=None, help="also write the report as JSON here")
    p.add_argument("--details", default=None, help="per-sample results as JSONL here")


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


def _write_reports(args, reports) -> None:
    """``--json``: one report (one predictor) or a list; ``--details``: every sample, tagged by predictor."""
    if args.json:
        data = [r.to_json() for r in reports]
        Path(args.json).write_text(json.dumps(data[0] if len(data) == 1 else data, indent=2) + "\n")
    if args.details:
        with Path(args.details).open("w") as handle:
            for report in reports:
                for result in report.samples:
                    handle.write(json.dumps({"predictor": report.predictor, **result.to_json()}) + "\n")
