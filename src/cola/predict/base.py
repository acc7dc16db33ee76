"""What every chain predictor shares: the interface, training targets and run loading."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cola.engine.chain import Chain, full_chain
from cola.errors import ColaError
from cola.evaluation.result import Evaluation
from cola.runs.records import SampleRecord
from cola.search.base import best_chain as search_best_chain


def normalize_question(text: str) -> str:
    """Question text as compared for overlap: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class SampleKeys:
    """What identifies a predictor's training samples: their ids and normalised question texts.

    A test sample overlaps the training data if it shares either: ids can repeat a
    question under a new name (another split, a re-export) and texts can differ only in
    spacing or case, so both are checked.
    """

    ids: frozenset[str]
    questions: frozenset[str]

    @classmethod
    def of(cls, samples: Iterable) -> SampleKeys:
        samples = list(samples)
        return cls(
            frozenset(s.id for s in samples), frozenset(normalize_question(s.question) for s in samples)
        )

    def overlap(self, sample) -> str | None:
        """Why ``sample`` is in the training data ("id" or "question"), or None."""
        if sample.id in self.ids:
            return "id"
        if normalize_question(sample.question) in self.questions:
            return "question"
        return None


class ChainPredictor:
    """Proposes ranked chains for prompts, without labels.

    Predictors that need an input representation get the prompt embeddings of
    :func:`cola.predict.embedding.embed_prompts` (``embedding_layer`` says which layer);
    the dataset-level predictor ignores them. A predictor fitted from a run carries its
    training samples' :class:`SampleKeys` (``train_keys``), so that
    :func:`cola.predict.evaluate.evaluate_predictor` refuses to score it on them.
    """

    name: str = "predictor"
    embedding_layer: int | None = None  # None: the predictor does not look at the input
    num_layers: int
    train_keys: SampleKeys | None = None  # None: fitted by hand, nothing to check against

    def rank(self, embeddings: torch.Tensor | None, k: int) -> list[list[Chain]]:
        """Up to ``k`` distinct chains per row of ``embeddings``, best first (never empty)."""
        raise NotImplementedError

    def needs_embeddings(self) -> bool:
        return self.embedding_layer is not None


def _evaluations(record: SampleRecord) -> list[Evaluation]:
    evaluations = [record.original, *record.search.evaluations]
    if record.baseline is not None:
        evaluations.extend(record.baseline.evaluations)
    return evaluations


def best_chain(record: SampleRecord) -> Chain | None:
    """The shortest correct chain a run found for a sample, or None if none was correct.

    Candidates are every evaluation of the record (the full model, the main search and
    its random baseline); ties go to fewer distinct layers, then to the earlier one
    (full model first, then search order), so the choice is deterministic.
    """
    return search_best_chain(_evaluations(record))


def record_chain_targets(
    records: Sequence[SampleRecord], no_correct: str = "skip"
) -> list[tuple[SampleRecord, Chain]]:
    """(record, target chain) pairs for training: each sample's :func:`best_chain`.

    Samples where no chain answered correctly carry no information about which chain
    helps; ``no_correct="skip"`` (default) drops them, ``"full"`` uses the full chain.
    """
    if no_correct not in ("skip", "full"):
        raise ValueError(f"no_correct must be 'skip' or 'full', not {no_correct!r}")
    pairs = []
    for record in records:
        chain = best_chain(record)
        if chain is None:
            if no_correct == "skip":
                continue
            chain = full_chain(record.num_layers)
        pairs.append((record, chain))
    return pairs


@dataclass
class TrainingRun:
    """A finished search run: its config, its records and its samples (by id)."""

    path: Path
    config: Any  # cola.runs.runner.RunConfig
    records: list[SampleRecord]
    task: Any
    samples: dict[str, Any]

    def samples_of(self, records: Sequence[SampleRecord]) -> list[Any]:
        return [self.samples[r.sample_id] for r in records]

    def prompts(self, tokenizer, records: Sequence[SampleRecord] | None = None) -> list[str]:
        """The model inputs of ``records``' samples (default: all records), as the search built them."""
        from cola.evaluation.scorer import resolve_style

        style = resolve_style(self.config.eval.style, tokenizer)
        records = self.records if records is None else records
        return [self.task.prompt(self.samples[r.sample_id], tokenizer, style) for r in records]


def load_training_run(run_dir: str | Path) -> TrainingRun:
    """Read a run directory and reload the samples its records were made from."""
    from cola.runs.config import load_samples
    from cola.runs.saved import load_run_config
    from cola.runs.store import RunStore

    path = Path(run_dir)
    if not path.is_dir():
        raise ColaError(f"{path} is not a search run directory (not a directory)")
    config = load_run_config(path)  # the one loader of a saved run's config: one line for any damage
    records = RunStore(path).load_records()
    if not records:
        raise ColaError(f"no records in {path}: run the search first")
    task, samples = load_samples(config)
    by_id = {s.id: s for s in samples}
    missing = [r.sample_id for r in records if r.sample_id not in by_id]
    if missing:
        raise ColaError(
            f"{len(missing)} records of {path} name samples its config no longer loads (e.g. {missing[0]!r})"
        )
    return TrainingRun(path, config, records, task, by_id)
