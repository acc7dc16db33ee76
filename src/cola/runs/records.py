"""The per-sample record a search run writes, and its JSON form.

One :class:`SampleRecord` per benchmark sample is appended to ``records.jsonl`` in a
run directory. Everything downstream (``cola summary``, ``cola report``, predictors)
reads only these records, so they hold everything needed to recompute every number:
the gold answer, the original (full-model) answer, every evaluated chain with its answer
and reward, for the main search, its same-budget random baselines (reach- and
length-matched), its decoy control, the full model's samples (sampling pass@E) and, when
a train run was named, the fixed menu of that run's most frequent correct chains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cola.evaluation.recheck import Recheck
from cola.evaluation.result import Evaluation
from cola.evaluation.sampling import SamplingOutcome
from cola.search.base import SearchOutcome

# The whole schema of a run file, so readers of records need one import.
__all__ = ["Evaluation", "Recheck", "SampleRecord", "SamplingOutcome", "SearchOutcome"]
OUTCOME_ARMS = ("search", "baseline", "decoy_search", "length_null", "menu")  # SearchOutcome fields
NULL_ARMS = ("length_null", "sampling", "menu")  # added to an earlier record on --resume if missing


@dataclass
class SampleRecord:
    """Everything a run learned about one sample."""

    sample_id: str
    task: str
    gold: str
    num_layers: int
    original: Evaluation  # the full chain 0..L-1
    search: SearchOutcome  # the main strategy (MCTS by default)
    baseline: SearchOutcome | None = None  # random search with the same number of evaluations
    num_choices: int | None = None  # k for multiple choice, None for free-form answers
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"level": 3, "subject": "Algebra"}
    decoy: str | None = None  # the decoy label every evaluation's decoy_reward grades against
    # The main strategy again, rewarded against the decoy label; its evaluations keep both rewards
    # (``reward`` vs gold, ``decoy_reward`` vs decoy), its best_chain is the decoy's.
    decoy_search: SearchOutcome | None = None
    recheck: Recheck | None = None  # fast answers re-evaluated naively (``--recheck N``), if asked
    # Random chains of the main search's chain shapes (cola.search.random_length), the same budget.
    length_null: SearchOutcome | None = None
    sampling: SamplingOutcome | None = None  # the full model sampled E times (cola.evaluation.sampling)
    menu: SearchOutcome | None = None  # the train run's most frequent correct chains, in menu order

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["original"] = self.original.to_json()
        for name in OUTCOME_ARMS:
            outcome = getattr(self, name)
            data[name] = outcome.to_json() if outcome is not None else None
        data["sampling"] = self.sampling.to_json() if self.sampling is not None else None
        for name in ("recheck", *NULL_ARMS):
            if data[name] is None:
                del data[name]  # records without them keep the form they had before these arms existed
        return data

    def outcome(self, arm: str) -> SearchOutcome | None:
        """One of :data:`OUTCOME_ARMS`."""
        return getattr(self, arm)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampleRecord:
        baseline, decoy_search = data.get("baseline"), data.get("decoy_search")
        sampling = data.get("sampling")
        return cls(
            sample_id=str(data["sample_id"]),
            task=data["task"],
            gold=data["gold"],
            num_layers=int(data["num_layers"]),
            original=Evaluation.from_json(data["original"]),
            search=SearchOutcome.from_json(data["search"]),
            baseline=SearchOutcome.from_json(baseline) if baseline is not None else None,
            num_choices=data.get("num_choices"),
            meta=dict(data.get("meta") or {}),
            decoy=data.get("decoy"),
            decoy_search=SearchOutcome.from_json(decoy_search) if decoy_search is not None else None,
            recheck=Recheck.from_json(data["recheck"]) if data.get("recheck") else None,
            length_null=_outcome(data.get("length_null")),
            sampling=SamplingOutcome.from_json(sampling) if sampling is not None else None,
            menu=_outcome(data.get("menu")),
        )

    def missing_nulls(self, wanted: tuple[str, ...]) -> list[str]:
        """The null arms of ``wanted`` this record lacks (computed when a run with them resumes)."""
        return [name for name in wanted if getattr(self, name) is None]


def _outcome(data: dict[str, Any] | None) -> SearchOutcome | None:
    return SearchOutcome.from_json(data) if data is not None else None
