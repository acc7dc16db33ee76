"""Re-checking a sample's fast evaluations through the naive path, to measure their agreement.

In float32 the fast evaluator's answers are the naive reference's (tested). In bfloat16
or float16 a batched or left-padded layer call rounds differently from a call of one, so
an answer, and with it a search verdict (correct / incorrect), can depend on which other
chains shared the batch. ``cola search --recheck N`` measures this in every run: after a
sample's search, N of its distinct evaluated chains, drawn at random (seeded by the
sample), are evaluated again by the naive path (one chain at a time, the whole prompt,
:func:`cola.evaluation.reference.naive_generate`), and the sample's record keeps how many
answers and verdicts differ. ``--mode exact`` removes the cause instead.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cola.evaluation.result import Evaluation
from cola.evaluation.scorer import ChainScorer


@dataclass(frozen=True)
class Recheck:
    """How many re-evaluated chains of one sample gave another answer / verdict than in the run."""

    checked: int
    answers_differ: int
    verdicts_differ: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recheck:
        return cls(int(data["checked"]), int(data["answers_differ"]), int(data["verdicts_differ"]))


def naive_scorer(scorer: ChainScorer) -> ChainScorer:
    """A scorer like ``scorer`` (same model, task, prompts, budget) that evaluates naively."""
    return ChainScorer(scorer.model, scorer.task, dataclasses.replace(scorer.config, mode="naive"))


def recheck_sample(
    naive: ChainScorer, sample, evaluations: Sequence[Evaluation], count: int, seed: int
) -> Recheck:
    """Evaluate ``count`` of the distinct chains in ``evaluations`` again with ``naive`` and compare."""
    if naive.config.mode != "naive":
        raise ValueError("recheck_sample needs a naive scorer (see naive_scorer)")
    by_chain = {e.chain: e for e in evaluations}
    chosen = random.Random(seed).sample(sorted(by_chain), min(count, len(by_chain)))
    again = naive.for_sample(sample).evaluate(chosen) if chosen else []
    return Recheck(
        checked=len(chosen),
        answers_differ=sum(by_chain[e.chain].answer != e.answer for e in again),
        verdicts_differ=sum(by_chain[e.chain].reward != e.reward for e in again),
    )
