"""Every number of a report, computed from run records into a :class:`ReportData`.

:func:`build_report_data` is a pure function of the records, so tests can check every
number; :mod:`cola.report.tables` and :mod:`cola.report.render` only format it, and
:mod:`cola.report.figures` draws its figures.

Vocabulary. A sample's *best chain* under a strategy is the shortest correct chain it
found (ties: fewest distinct layers), where the original full chain counts as found when
it is correct. Every statistic that looks at the gold answer to pick a chain is an
*oracle* statistic: it says a good chain exists, not that one could be chosen without
the label. Headline numbers (accuracy, oracle accuracy, fixes, shortenings, chance) come
from :func:`cola.report.stats.summarize`; this module adds the breakdowns a report needs
(lengths, per-layer usage, thirds of the depth, difficulty levels, transitions).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cola.engine.chain import Chain, distinct_layers
from cola.errors import ColaError
from cola.report.breakdowns import StrategyReport, strategy_report
from cola.report.levels import LevelPattern, level_patterns
from cola.report.stats import Proportion, RunSummary, StrategySummary, summarize
from cola.report.text import format_summary
from cola.runs.records import SampleRecord


# --------------------------------------------------------------------- the data
@dataclass
class SummaryRow:
    """One line of the summary table; ``oracle`` marks statistics that use the gold answer."""

    key: str
    label: str
    value: float | None
    rate: Proportion | None = None  # for proportions: counts and Wilson interval (cola.report.stats)
    oracle: bool = False
    percent: bool = True


@dataclass
class RunReport:
    """One run: its summary table (each arm against the gold and the decoy label) and per-strategy breakdowns."""

    name: str
    n: int
    num_layers: int
    task: str
    model: str | None
    summary: RunSummary
    summary_text: str  # cola.report.text.format_summary
    rows: dict[
        str, list[SummaryRow]
    ]  # summary column ("search", "decoy", "baseline", "baseline_decoy") -> rows
    strategies: dict[str, StrategyReport]  # "search" / "baseline" -> breakdowns (gold label)
    chance: dict[str, float | None]  # per summary column (None: free-form answers)
    titles: dict[str, str] = field(default_factory=dict)  # per summary column
    simulations: int | None = None  # the search budget from the run's config
    strategy: str | None = None  # the search strategy from the run's config
    by_level: dict[str, list[LevelPattern]] = field(default_factory=dict)  # cola.report.levels


@dataclass
class ReportData:
    runs: list[RunReport]
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG, filled by write_report

    @property
    def has_levels(self) -> bool:
        return any(s.levels for run in self.runs for s in run.strategies.values())

    def budget_curves(self) -> dict[tuple[str | None, str, str | None], list[RunReport]]:
        """Runs of one model, task and strategy at two or more budgets, by (model, task, strategy), budget ascending."""
        groups: dict[tuple[str | None, str, str | None], list[RunReport]] = {}
        for run in self.runs:
            if run.simulations is not None:
                groups.setdefault((run.model, run.task, run.strategy), []).append(run)
        return {
            key: sorted(runs, key=lambda r: r.simulations)
            for key, runs in groups.items()
            if len({r.simulations for r in runs}) > 1
        }


# ------------------------------------------------------------------ computation
def chain_key(chain: Chain) -> tuple[int, int]:
    return (len(chain), distinct_layers(chain))


# (key, label, StrategySummary attribute, is a proportion); in gold columns all but the first are oracle.
SUMMARY_ROWS = (
    ("original_accuracy", "original accuracy (full model answers the label)", "original", True),
    ("oracle_accuracy", "oracle accuracy (any chain answers the label)", "oracle_found", True),
    (
        "shorter_of_correct",
        "originally correct with a shorter correct chain (oracle)",
        "oracle_shorter",
        True,
    ),
    ("fixed_of_wrong", "originally wrong fixed by some chain (oracle)", "oracle_fixed", True),
    (
        "mean_len_correct",
        "mean best-chain length, originally correct (oracle)",
        "oracle_mean_length_correct",
        False,
    ),
    (
        "mean_len_wrong",
        "mean best-chain length, originally wrong fixed (oracle)",
        "oracle_mean_length_fixed",
        False,
    ),
    (
        "mean_distinct_correct",
        "mean distinct layers, originally correct (oracle)",
        "oracle_mean_distinct_correct",
        False,
    ),
    (
        "mean_distinct_wrong",
        "mean distinct layers, originally wrong fixed (oracle)",
        "oracle_mean_distinct_fixed",
        False,
    ),
    ("evaluations", "distinct chains evaluated per sample", "mean_evaluations", False),
    ("mean_edits", "reach: mean edits from the full chain of the chains evaluated", "mean_edits", False),
    ("max_edits", "reach: most edits per sample (mean)", "max_edits", False),
)
# Summary columns: (key in RunSummary.columns(), title template). "vs decoy": each sample's decoy label.
COLUMN_TITLES = {
    "search": "{}: {} vs gold (oracle)",
    "decoy": "{}: {} vs decoy (control)",
    "baseline": "{}: {} vs gold (oracle)",
    "baseline_decoy": "{}: {} vs decoy (control)",
    "length_null": "{}: {} vs gold (oracle)",
    "length_null_decoy": "{}: {} vs decoy (control)",
}


def summary_rows(group: StrategySummary) -> list[SummaryRow]:
    """The summary table of one arm against one label, straight from :func:`cola.report.stats.summarize`."""
    rows = []
    for key, label, attribute, is_rate in SUMMARY_ROWS:
        value = getattr(group, attribute)
        picked = group.target == "gold" and key not in (
            "original_accuracy",
            "evaluations",
            "mean_edits",
            "max_edits",
        )
        if is_rate:
            rows.append(SummaryRow(key, label, value.value, value, oracle=picked))
        else:
            rows.append(SummaryRow(key, label, value, oracle=picked, percent=False))
    return rows


def run_report(name: str, records: Sequence[SampleRecord], config: dict[str, Any] | None = None) -> RunReport:
    records = list(records)
    if not records:
        raise ColaError(f"run {name!r} has no records")
    sizes = {r.num_layers for r in records}
    if len(sizes) > 1:
        raise ColaError(
            f"run {name!r} mixes models with {sorted(sizes)} layers; report them as separate runs"
        )
    summary = summarize(records)
    strategies = {
        which: report
        for which in ("search", "baseline")
        if (report := strategy_report(records, which)) is not None
    }
    columns = summary.columns()
    config = config or {}
    return RunReport(
        name=name,
        n=len(records),
        num_layers=records[0].num_layers,
        task=records[0].task,
        model=config.get("model"),
        summary=summary,
        summary_text=format_summary(summary),
        rows={key: summary_rows(group) for key, group in columns},
        strategies=strategies,
        chance={key: group.chance for key, group in columns},
        titles={key: COLUMN_TITLES[key].format(name, group.strategy) for key, group in columns},
        simulations=(config.get("search") or {}).get("simulations"),
        strategy=(config.get("search") or {}).get("strategy"),
        by_level=level_patterns(records),
    )


def build_report_data(runs: Sequence[tuple]) -> ReportData:
    """All numbers of a report for runs given as ``(name, records)`` or ``(name, records, config)``.

    A pure function of the records; figures are drawn later by :func:`write_report`.
    """
    reports = [run_report(item[0], item[1], item[2] if len(item) > 2 else None) for item in runs]
    if not reports:
        raise ColaError("nothing to report: no runs given")
    return ReportData(runs=reports)


# ------------------------------------------------------------------- loading
def load_run(path: str | Path) -> tuple[str, list[SampleRecord], dict[str, Any]]:
    """``(name, records, config)`` of a run directory, read through :class:`cola.runs.store.RunStore`."""
    from cola.runs.saved import checked_config_json
    from cola.runs.store import RECORDS_FILE, RunStore

    path = Path(path)
    if not (path / RECORDS_FILE).exists():
        raise ColaError(f"no run at {path}: {RECORDS_FILE} not found")
    store = RunStore(path)
    try:
        records = store.load_records()
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ColaError(f"{path / RECORDS_FILE}: not a list of sample records ({exc})") from None
    if not records:
        raise ColaError(f"no records in {path}")
    return path.resolve().name, records, checked_config_json(path) or {}


def unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out
