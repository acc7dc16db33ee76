"""What evaluating one chain on one sample gives: the answer and its reward.

This is the currency between the evaluator (which produces it), the search strategies
(which read rewards) and the run records (which store it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cola.engine.chain import Chain


@dataclass(frozen=True)
class Evaluation:
    """One chain evaluated on one sample. ``reward`` is 1.0 for a correct answer, else 0.0.

    ``decoy_reward`` grades the same answer against the sample's decoy label (a wrong
    answer: see :mod:`cola.evaluation.decoy`), so every strategy's chains also say what
    a label carrying no information about correctness would have rewarded.
    """

    chain: Chain
    answer: str | None
    reward: float
    text: str = ""  # the raw generation (empty for single-forward scoring)
    decoy_reward: float | None = None  # None: no decoy label was set
    grading_timed_out: bool = False  # the grader gave up (counted wrong); never cached, always reported

    @property
    def correct(self) -> bool:
        return self.reward > 0.0

    def to_json(self) -> dict[str, Any]:
        data = {"chain": list(self.chain), "answer": self.answer, "reward": self.reward, "text": self.text}
        if self.decoy_reward is not None:
            data["decoy_reward"] = self.decoy_reward
        if self.grading_timed_out:
            data["grading_timed_out"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        decoy = data.get("decoy_reward")
        return cls(
            chain=tuple(data["chain"]),
            answer=data.get("answer"),
            reward=float(data["reward"]),
            text=data.get("text", ""),
            decoy_reward=float(decoy) if decoy is not None else None,
            grading_timed_out=bool(data.get("grading_timed_out", False)),
        )

    def swapped(self) -> Evaluation:
        """The same evaluation with the gold and decoy rewards exchanged (what a decoy-guided search sees)."""
        return replace(self, reward=self.decoy_reward, decoy_reward=self.reward)
