"""The per-sample record a search run writes, and its JSON form.

One :class:`SampleRecord` per benchmark sample is appended to ``records.jsonl`` in a
run directory. Everything downstream (``cola summary``, ``cola report``, predictors)
reads only these records, so they hold everything needed to recompute every number:
the gold answer, the original (full-model) answer, every evaluated chain with its answer
and reward, for the main search and for its same-budget random baseline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cola.evaluation.recheck import Recheck
from cola.evaluation.result import Evaluation
from cola.search.base import SearchOutcome

# The whole schema of a run file, so readers of records need one import.
__all__ = ["Evaluation", "Recheck", "SampleRecord", "SearchOutcome"]


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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["original"] = self.original.to_json()
        for name in ("search", "baseline", "decoy_search"):
            outcome = getattr(self, name)
            data[name] = outcome.to_json() if outcome is not None else None
        if self.recheck is None:
            del data["recheck"]  # records of runs without --recheck keep their old form
        return data

    def outcome(self, arm: str) -> SearchOutcome | None:
        """``"search"``, ``"baseline"`` or ``"decoy_search"``."""
        return getattr(self, arm)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampleRecord:
        baseline, decoy_search = data.get("baseline"), data.get("decoy_search")
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
        )
