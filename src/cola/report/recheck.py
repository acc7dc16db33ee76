"""The line ``cola summary`` prints for a run that re-checked fast evaluations naively (``--recheck N``).

It reports the agreement measured in that run, not a number from elsewhere: of the
evaluations re-run through the naive path, how many gave another answer, and how many
another verdict (correct / incorrect), with 95% Wilson intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

from cola.report.stats import Proportion
from cola.runs.records import SampleRecord


def _share(p: Proportion) -> str:
    return f"{p.successes}/{p.n} ({100 * p.value:.1f}%, 95% CI {100 * p.low:.1f}-{100 * p.high:.1f}%)"


def format_recheck(records: Sequence[SampleRecord], dtype: str | None = None) -> str | None:
    """One line on fast-vs-naive agreement, or None when no record was re-checked."""
    checked = [r.recheck for r in records if r.recheck is not None]
    total = sum(c.checked for c in checked)
    if not total:
        return None
    answers = Proportion(sum(c.answers_differ for c in checked), total)
    verdicts = Proportion(sum(c.verdicts_differ for c in checked), total)
    precision = f" in {dtype}" if dtype else ""
    return (
        f"fast vs naive re-check{precision}: answers differ in {_share(answers)} of the re-evaluated chains, "
        f"verdicts in {_share(verdicts)} ({len(checked)} samples)"
    )
