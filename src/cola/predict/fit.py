"""Fitting any predictor from a finished search run (the train split)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cola.predict.base import ChainPredictor, TrainingRun, record_chain_targets
from cola.predict.dataset_chain import DatasetChainPredictor, search_dataset_chain
from cola.predict.embedding import default_layer, embed_prompts
from cola.predict.knn import KNNPredictor
from cola.predict.polar import PolarPredictor

PREDICTORS = ("knn", "polar", "dataset")


@dataclass
class FitOptions:
    layer: int | None = None  # embedding layer (default: half the depth)
    no_correct: str = "skip"  # training samples with no correct chain: "skip" or "full"
    seed: int = 0  # PoLar initialisation / dataset search seed
    epochs: int = 300  # PoLar training epochs
    hidden: int = 64  # PoLar hidden width
    simulations: int = 64  # dataset-level search budget (chains tried)
    length_penalty: float = 0.1  # dataset objective: accuracy - penalty * len / L
    train_samples: int | None = None  # dataset search: first N training samples (None: all)


@dataclass
class Fitted:
    predictor: ChainPredictor
    info: dict[str, Any] = field(default_factory=dict)


def train_prompts(model, run: TrainingRun, records) -> list[str]:
    from cola.evaluation.scorer import resolve_style

    style = resolve_style(run.config.eval.style, model.tokenizer)
    return [run.task.prompt(run.samples[r.sample_id], model.tokenizer, style) for r in records]


def fit_predictor(
    kind: str, model, run: TrainingRun, options: FitOptions | None = None, scorer=None
) -> Fitted:
    """Build a ``knn``, ``polar`` or ``dataset`` predictor from ``run`` (labels of the train split only)."""
    options = options or FitOptions()
    if run.records and run.records[0].num_layers != model.num_layers:
        raise ValueError(
            f"run {run.path} was searched on a {run.records[0].num_layers}-layer model, not {model.num_layers} layers"
        )
    if kind in ("knn", "polar"):
        return _fit_from_embeddings(kind, model, run, options)
    if kind == "dataset":
        return _fit_dataset_chain(model, run, options, scorer)
    raise ValueError(f"unknown predictor {kind!r}; choose from {', '.join(PREDICTORS)}")


def _fit_from_embeddings(kind: str, model, run: TrainingRun, options: FitOptions) -> Fitted:
    """kNN or PoLar: prompt embeddings of the training samples -> their best chains."""
    num_layers = model.num_layers
    pairs = record_chain_targets(run.records, options.no_correct)
    records = [r for r, _ in pairs]
    chains = [c for _, c in pairs]
    layer = default_layer(num_layers) if options.layer is None else options.layer
    embeddings = embed_prompts(model, train_prompts(model, run, records), layer)
    info = {
        "train_records": len(run.records),
        "train_targets": len(pairs),
        "embedding_layer": layer,
        "no_correct": options.no_correct,
    }
    if kind == "knn":
        return Fitted(KNNPredictor(embeddings, chains, num_layers, layer), info)
    predictor = PolarPredictor.fit(
        embeddings, chains, num_layers, layer, hidden=options.hidden, epochs=options.epochs, seed=options.seed
    )
    info["train_loss"] = predictor.train_loss
    return Fitted(predictor, info)


def _fit_dataset_chain(model, run: TrainingRun, options: FitOptions, scorer) -> Fitted:
    """One chain for the task: searched on the training samples for accuracy minus a length penalty."""
    from cola.evaluation.scorer import ChainScorer

    scorer = scorer or ChainScorer(model, run.task, run.config.eval)
    records = run.records[: options.train_samples] if options.train_samples else run.records
    search = dataclasses.replace(run.config.search, simulations=options.simulations, seed=options.seed)
    result = search_dataset_chain(scorer, run.samples_of(records), search, options.length_penalty)
    info = {
        "train_samples": result.train_samples,
        "dataset_chain": list(result.chain),
        "dataset_chain_length": len(result.chain),
        "train_accuracy": result.train_accuracy,
        "full_train_accuracy": result.full_train_accuracy,
        "length_penalty": result.length_penalty,
        "chains_evaluated": result.chains_evaluated,
        "search_seconds": round(result.seconds, 2),
    }
    return Fitted(DatasetChainPredictor.from_result(result, model.num_layers), info)
