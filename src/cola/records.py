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

from cola.chain import Chain


@dataclass(frozen=True)
class Evaluation:
    """One chain evaluated on one sample. ``reward`` is 1.0 for a correct answer, else 0.0."""

    chain: Chain
    answer: str | None
    reward: float
    text: str = ""  # the raw generation (empty for single-forward scoring)

    @property
    def correct(self) -> bool:
        return self.reward > 0.0

    def to_json(self) -> dict[str, Any]:
        return {"chain": list(self.chain), "answer": self.answer, "reward": self.reward, "text": self.text}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            chain=tuple(data["chain"]),
            answer=data.get("answer"),
            reward=float(data["reward"]),
            text=data.get("text", ""),
        )


@dataclass
class SearchOutcome:
    """What one search strategy found on one sample."""

    strategy: str
    evaluations: list[Evaluation]  # distinct chains, in the order they were evaluated
    simulations: int  # search iterations run; the root evaluation is not one, and duplicates are free
    best_chain: Chain | None  # shortest correct chain; ties by fewest distinct layers
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "evaluations": [e.to_json() for e in self.evaluations],
            "simulations": self.simulations,
            "best_chain": list(self.best_chain) if self.best_chain is not None else None,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchOutcome:
        best = data.get("best_chain")
        return cls(
            strategy=data["strategy"],
            evaluations=[Evaluation.from_json(e) for e in data["evaluations"]],
            simulations=int(data["simulations"]),
            best_chain=tuple(best) if best is not None else None,
            seconds=float(data.get("seconds", 0.0)),
        )


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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["original"] = self.original.to_json()
        data["search"] = self.search.to_json()
        data["baseline"] = self.baseline.to_json() if self.baseline is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampleRecord:
        baseline = data.get("baseline")
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
        )
