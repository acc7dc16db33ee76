"""The label-free nulls every oracle figure is read against, summarized from the records.

* **length-matched random** (``record.length_null``): a :class:`StrategySummary` like any
  arm's, from :func:`cola.report.stats.summarize_strategy`;
* **sampling pass@E** (``record.sampling``): of the samples, how many have a correct
  answer among the full model's E sampled answers, E being the number of distinct chains
  the main search evaluated; the same question the oracle asks of E chains;
* **fixed menu** (``record.menu``): for K in :data:`cola.runs.menu.MENU_KS`, how many
  samples some chain of the train run's top K answers correctly (and, of the originally
  correct, with a chain shorter than the model). Its K = 1 row is one fixed chain's accuracy.

Each is computed over the records that carry it, and says its n.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cola.report.proportion import Proportion
from cola.runs.menu import MENU_KS
from cola.runs.records import SampleRecord


@dataclass(frozen=True)
class SamplingSummary:
    """Sampling pass@E over the records that have it."""

    temperature: str  # as recorded, or "mixed"
    top_p: str
    found: Proportion  # some sampled answer is correct
    fixed: Proportion  # of the originally wrong: some sampled answer is correct
    mean_accuracy: float | None  # mean over samples of the fraction of sampled answers correct
    mean_draws: float | None  # E, averaged over samples

    @property
    def label(self) -> str:
        return f"sampling pass@E (T={self.temperature}, top-p={self.top_p})"


@dataclass(frozen=True)
class MenuRow:
    """The fixed menu's first ``k`` chains applied to every sample."""

    k: int
    found: Proportion  # some chain of the top k answers correctly
    shorter: Proportion  # of the originally correct: one of them is correct and shorter than the model
    fixed: Proportion  # of the originally wrong: one of them is correct

    @property
    def label(self) -> str:
        return f"fixed menu, top {self.k}" if self.k > 1 else "fixed menu, top 1 (one chain)"


def _one(values: set[float]) -> str:
    return f"{values.pop():g}" if len(values) == 1 else "mixed"


def summarize_sampling(records: Sequence[SampleRecord]) -> SamplingSummary | None:
    """Sampling pass@E of the records that carry a sampling arm, or None if none does."""
    with_arm = [r for r in records if r.sampling is not None and r.sampling.rewards]
    if not with_arm:
        return None
    hit = [r.sampling.correct > 0 for r in with_arm]  # type: ignore[union-attr]
    wrong = [h for r, h in zip(with_arm, hit) if not r.original.correct]
    rates = [r.sampling.correct / len(r.sampling.rewards) for r in with_arm]  # type: ignore[union-attr]
    return SamplingSummary(
        temperature=_one({r.sampling.temperature for r in with_arm}),  # type: ignore[union-attr]
        top_p=_one({r.sampling.top_p for r in with_arm}),  # type: ignore[union-attr]
        found=Proportion(sum(hit), len(hit)),
        fixed=Proportion(sum(wrong), len(wrong)),
        mean_accuracy=sum(rates) / len(rates),
        mean_draws=sum(len(r.sampling.rewards) for r in with_arm) / len(with_arm),  # type: ignore[union-attr]
    )


def summarize_menu(records: Sequence[SampleRecord], ks: Sequence[int] = MENU_KS) -> list[MenuRow]:
    """One row per K of the menu, over the records that carry a menu (none: an empty list)."""
    with_arm = [r for r in records if r.menu is not None and r.menu.evaluations]
    rows = []
    for k in ks:
        found, shorter, fixed = [], [], []
        for record in with_arm:
            top = record.menu.evaluations[:k]  # type: ignore[union-attr]
            correct = [e for e in top if e.correct]
            found.append(bool(correct))
            if record.original.correct:
                shorter.append(any(len(e.chain) < record.num_layers for e in correct))
            else:
                fixed.append(bool(correct))
        if with_arm:
            rows.append(
                MenuRow(
                    k,
                    Proportion(sum(found), len(found)),
                    Proportion(sum(shorter), len(shorter)),
                    Proportion(sum(fixed), len(fixed)),
                )
            )
    return rows
