"""Held-out use of a training run: the test split disjoint from it, and the chains predicted on it.

A predictor is fitted on a search run's samples (the train split) and used on samples
that share neither id nor question with them. :func:`load_heldout` builds the test
config from the run's (overriding only what the caller names), drops overlapping
samples, and refuses a test split that is all overlap; :meth:`HeldOut.load_model`
then loads the model on the resolved placement with the run's evaluation settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cola.engine.chain import format_chain
from cola.engine.placement import Placement, resolve_placement
from cola.errors import ColaError
from cola.predict.base import ChainPredictor, TrainingRun, load_training_run
from cola.predict.embedding import prompt_embedding
from cola.predict.evaluate import disjoint_from


@dataclass
class HeldOut:
    """A training run and the test samples disjoint from it, on a resolved placement."""

    run: TrainingRun
    config: Any  # the test split's cola.runs.config.RunConfig
    task: Any
    samples: list
    dropped: int  # test samples left out because they also occur in the training run
    placement: Placement

    def load_model(self, self_check: bool = True):
        """The test config's model on this placement and a scorer with the run's evaluation settings."""
        from cola.engine.model import ChainModel
        from cola.evaluation.scorer import ChainScorer

        model = ChainModel.from_pretrained(
            self.config.model, dtype=self.placement.dtype, device=self.placement.device, self_check=self_check
        )
        return model, ChainScorer(model, self.task, self.run.config.eval)


def load_heldout(
    run_dir: str | Path,
    *,
    model: str | None = None,
    task: str | None = None,
    data: str | None = None,
    split: str = "test",
    samples: int | None = None,
    seed: int | None = None,
    dtype: str | None = None,
    device: str | None = "auto",
) -> HeldOut:
    """The run at ``run_dir`` and its test split; each ``None`` keeps the run's own setting.

    ``seed`` picks generated test questions (default: the run's); ``samples`` takes the
    first N (None: all). A different task is refused: a predictor's chains are per task.
    """
    from cola.runs.config import load_samples

    run = load_training_run(run_dir)
    config = dataclasses.replace(
        run.config,
        model=model or run.config.model,
        task=task or run.config.task,
        data=data or run.config.data,
        split=split,
        samples=samples,
        data_seed=run.config.questions_seed if seed is None else seed,
        dtype=dtype or run.config.dtype,
    )
    placement = resolve_placement(device, config.dtype)
    config = dataclasses.replace(config, dtype=placement.dtype)
    if config.task != run.config.task:
        raise ColaError(f"the run is on task {run.config.task}, not {config.task}")
    config.validate()
    test_task, test_samples = load_samples(config)
    kept, dropped = disjoint_from(test_samples, list(run.samples.values()))
    if not kept:
        raise ColaError("every test sample also occurs in the training run: pick a disjoint split/data/seed")
    return HeldOut(run, config, test_task, kept, dropped, placement)


def predict_chains(
    predictor: ChainPredictor, model, scorer, samples: Sequence, top_k: int
) -> list[dict[str, Any]]:
    """Per sample, the predictor's top-``top_k`` chains (labels are never read), as JSON rows."""
    rows = []
    for sample in samples:
        evaluator = scorer.for_sample(sample)
        if predictor.needs_embeddings():
            embedding = prompt_embedding(model, evaluator.input_ids, predictor.embedding_layer)[None]
        else:
            embedding = torch.zeros(1, 0)
        chains = predictor.rank(embedding, top_k)[0]
        rows.append(
            {
                "sample_id": sample.id,
                "predictor": predictor.name,
                "chains": [list(c) for c in chains],
                "specs": [format_chain(c) for c in chains],
                "lengths": [len(c) for c in chains],
            }
        )
    return rows
