"""What evaluating one chain on one sample gives: the answer and its reward.

This is the currency between the evaluator (which produces it), the search strategies
(which read rewards) and the run records (which store it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cola.engine.chain import Chain


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
