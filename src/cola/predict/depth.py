"""Chains of a requested depth: the layer-importance baselines and CoLa's dataset chain, per drop count.

One fit serves every depth of a sweep: the calibration pass, the greedy drop order and
the dataset search are each run once for the largest request.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cola.engine.chain import Chain
from cola.predict.base import TrainingRun
from cola.predict.dataset_chain import DatasetEvaluator, search_dataset_chain
from cola.predict.importance import calibrate, criterion_chains, greedy_drop
from cola.predict.options import FitOptions
from cola.predict.registry import DEPTH_METHODS

__all__ = ["DEPTH_METHODS", "DepthChains", "depth_chains"]


@dataclass
class DepthChains:
    """One chain per number of dropped layers, and how it was found."""

    method: str
    chains: dict[int, Chain]  # layers dropped -> chain (absent: no chain within that depth)
    info: dict[str, Any] = field(default_factory=dict)


def depth_chains(
    method: str, model, run: TrainingRun, drops: Sequence[int], options: FitOptions, scorer=None
) -> DepthChains:
    """Chains of ``L - n`` layers for each ``n`` in ``drops``, from one fit of ``method``.

    ``block-influence`` and ``angular`` read hidden states of the run's prompts (no
    labels); ``greedy-drop`` and ``dataset`` use the run samples' labels (the train
    split). ``dataset`` searches one CoLa dataset chain as :func:`search_dataset_chain`
    does, then takes, per depth, the evaluated chain of highest train accuracy among those
    at most ``L - n`` long (ties: shorter, then earlier); it may skip, repeat or re-order.
    """
    start = time.perf_counter()
    if method in ("block-influence", "angular"):
        calibration = calibrate(model, run.prompts(model.tokenizer))
        found = DepthChains(
            method, criterion_chains(method, calibration, drops), {"calibration_prompts": len(run.records)}
        )
    elif method == "greedy-drop":
        found = _greedy_depth_chains(model, run, drops, options, scorer)
    elif method == "dataset":
        found = _dataset_depth_chains(model, run, drops, options, scorer)
    else:
        raise ValueError(f"unknown depth method {method!r}; choose from {', '.join(DEPTH_METHODS)}")
    found.info["fit_seconds"] = round(time.perf_counter() - start, 2)
    return found


def _train_evaluator(model, run: TrainingRun, options: FitOptions, scorer) -> DatasetEvaluator:
    from cola.evaluation.scorer import ChainScorer

    scorer = scorer or ChainScorer(model, run.task, run.config.eval)
    records = run.records[: options.train_samples] if options.train_samples else run.records
    return DatasetEvaluator(scorer, run.samples_of(records))


def _greedy_depth_chains(
    model, run: TrainingRun, drops: Sequence[int], options: FitOptions, scorer
) -> DepthChains:
    evaluator = _train_evaluator(model, run, options, scorer)
    result = greedy_drop(
        lambda chains: [e.reward for e in evaluator.evaluate(chains)], model.num_layers, max(drops, default=0)
    )
    info = {
        "train_samples": len(evaluator.samples),
        "chains_evaluated": result.chains_evaluated,
        "train_accuracy": {n: result.accuracies[n] for n in drops},
    }
    return DepthChains("greedy-drop", {n: result.chains[n] for n in drops}, info)


def _dataset_depth_chains(
    model, run: TrainingRun, drops: Sequence[int], options: FitOptions, scorer
) -> DepthChains:
    evaluator = _train_evaluator(model, run, options, scorer)
    search = dataclasses.replace(run.config.search, simulations=options.simulations, seed=options.seed)
    result = search_dataset_chain(evaluator.scorer, evaluator.samples, search, options.length_penalty)
    chains, accuracy = {}, {}
    for n in drops:
        fitting = [
            (e.reward, len(e.chain), order, e.chain)
            for order, e in enumerate(result.candidates)
            if len(e.chain) <= model.num_layers - n
        ]
        if fitting:
            best = min(fitting, key=lambda item: (-item[0], item[1], item[2]))
            chains[n], accuracy[n] = tuple(best[3]), best[0]
    info = {
        "train_samples": result.train_samples,
        "chains_evaluated": result.chains_evaluated,
        "train_accuracy": accuracy,
    }
    return DepthChains("dataset", chains, info)
