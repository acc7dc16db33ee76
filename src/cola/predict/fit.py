"""Fitting any predictor from a finished search run (the train split)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cola.errors import ColaError
from cola.predict.base import ChainPredictor, SampleKeys, TrainingRun, record_chain_targets
from cola.predict.dataset_chain import DatasetChainPredictor, search_dataset_chain
from cola.predict.depth import depth_chains
from cola.predict.embedding import default_layer, embed_prompts
from cola.predict.importance import LayerDropPredictor
from cola.predict.knn import KNNPredictor
from cola.predict.options import FitOptions
from cola.predict.polar import PolarPredictor
from cola.predict.registry import PREDICTORS, canonical_name, predictor_family

__all__ = ["PREDICTORS", "FitOptions", "Fitted", "fit_predictor"]


@dataclass
class Fitted:
    predictor: ChainPredictor
    info: dict[str, Any] = field(default_factory=dict)


def fit_predictor(
    kind: str, model, run: TrainingRun, options: FitOptions | None = None, scorer=None
) -> Fitted:
    """Build any predictor of :data:`PREDICTORS` from ``run`` (labels of the train split only).

    The predictor carries the run's sample keys (``train_keys``), so evaluating it on
    any of them is refused.
    """
    options = options or FitOptions()
    if run.records and run.records[0].num_layers != model.num_layers:
        raise ValueError(
            f"run {run.path} was searched on a {run.records[0].num_layers}-layer model, not {model.num_layers} layers"
        )
    kind = canonical_name(kind, PREDICTORS)  # unknown: one ColaError line naming the known ones
    family = predictor_family(kind)
    if family == "embeddings":
        fitted = _fit_from_embeddings(kind, model, run, options)
    elif family == "dataset":
        fitted = _fit_dataset_chain(model, run, options, scorer)
    else:
        fitted = _fit_layer_drop(kind, model, run, options, scorer)
    fitted.predictor.train_keys = SampleKeys.of(run.samples.values())
    return fitted


def _fit_from_embeddings(kind: str, model, run: TrainingRun, options: FitOptions) -> Fitted:
    """kNN or PoLar: prompt embeddings of the training samples -> their best chains."""
    num_layers = model.num_layers
    pairs = record_chain_targets(run.records, options.no_correct)
    records = [r for r, _ in pairs]
    chains = [c for _, c in pairs]
    layer = default_layer(num_layers) if options.layer is None else options.layer
    embeddings = embed_prompts(model, run.prompts(model.tokenizer, records), layer)
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


def _fit_layer_drop(kind: str, model, run: TrainingRun, options: FitOptions, scorer) -> Fitted:
    """An importance baseline: the chain of ``options.drop`` layers fewer that its criterion picks."""
    if options.drop is None:
        raise ColaError(f"the {kind} baseline needs the number of layers to drop (--drop N)")
    if not 0 <= options.drop < model.num_layers:
        raise ColaError(
            f"--drop {options.drop} is outside 0..{model.num_layers - 1} for a {model.num_layers}-layer model"
        )
    found = depth_chains(kind, model, run, [options.drop], options, scorer)
    chain = found.chains[options.drop]
    info = {"drop": options.drop, "chain": list(chain), "chain_length": len(chain), **found.info}
    return Fitted(LayerDropPredictor(kind, chain, model.num_layers), info)
