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
from cola.report.stats import (
    Proportion,
    RunSummary,
    StrategySummary,
    format_summary,
    oracle_best_chain,
    strategy_pairs,
    summarize,
    summarize_by_level,
)
from cola.runs.records import SampleRecord

TRANSITIONS = (
    ("correct_shorter", "correct → correct, shorter chain found (oracle)"),
    ("correct_optimal", "correct → correct, original is optimal (no shorter correct chain)"),
    ("wrong_fixed", "wrong → correct (oracle)"),
    ("wrong_wrong", "wrong → wrong (no correct chain found)"),
)
THIRDS = ("early", "middle", "late")


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
class LevelStats:
    """One difficulty level (``meta["level"]``) of one strategy."""

    level: Any
    n: int
    original: Proportion  # full-model accuracy at this level
    oracle: Proportion  # oracle accuracy (any correct chain) at this level
    mean_best_length: float | None  # over the level's samples with a correct chain (oracle)
    mean_best_distinct: float | None


@dataclass
class StrategyReport:
    """The breakdowns of one strategy (the main search, or its random baseline) on one run.

    Only records that ran this strategy count (all records for the search; those with a
    baseline for the baseline), as in :func:`cola.report.stats.summarize_strategy`.
    """

    strategy: str
    n: int
    num_layers: int
    sample_ids: list[str]  # the records counted, in record order
    best_chains: list[Chain | None]  # per counted record: stats.oracle_best_chain
    lengths_correct: list[int]  # best-chain lengths of originally-correct samples
    lengths_wrong: list[int]  # best-chain lengths of originally-wrong samples a chain fixed (oracle)
    transitions: dict[str, int]  # keys of TRANSITIONS
    skipped: list[float]  # per layer: fraction of best chains that do not use it
    kept: list[float]  # ... use it exactly once
    repeated: list[float]  # ... use it more than once
    executions: list[float]  # per layer: mean times it runs in a best chain
    thirds: dict[str, dict[str, float]]  # third -> {"present", "executions", "share"}
    levels: list[LevelStats]

    @property
    def with_best(self) -> int:
        return sum(chain is not None for chain in self.best_chains)


@dataclass
class RunReport:
    """One run: its summary table (search and baseline) and per-strategy breakdowns."""

    name: str
    n: int
    num_layers: int
    task: str
    model: str | None
    summary: RunSummary
    summary_text: str  # cola.report.stats.format_summary
    rows: dict[str, list[SummaryRow]]  # "search" / "baseline" -> rows
    strategies: dict[str, StrategyReport]
    chance: dict[str, float | None]  # per strategy (None: free-form answers)


@dataclass
class ReportData:
    runs: list[RunReport]
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG, filled by write_report

    @property
    def has_levels(self) -> bool:
        return any(s.levels for run in self.runs for s in run.strategies.values())


# ------------------------------------------------------------------ computation
def chain_key(chain: Chain) -> tuple[int, int]:
    return (len(chain), distinct_layers(chain))


def transition(record: SampleRecord, best: Chain | None) -> str:
    """Which of :data:`TRANSITIONS` a sample makes under its oracle best chain."""
    if record.original.correct:
        shorter = best is not None and len(best) < record.num_layers
        return "correct_shorter" if shorter else "correct_optimal"
    return "wrong_fixed" if best is not None else "wrong_wrong"


def third_of(layer: int, num_layers: int) -> str:
    """Early / middle / late third of the depth (layer ``i`` is in third ``floor(3 i / L)``)."""
    return THIRDS[min(2, 3 * layer // num_layers)]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _layer_usage(used: list[Chain], num_layers: int):
    """Per-layer skipped / kept / repeated fractions and mean runs, and the thirds' usage."""
    counts = [[chain.count(layer) for layer in range(num_layers)] for chain in used]
    m = len(used)

    def per_layer(fn) -> list[float]:
        return [sum(fn(c[i]) for c in counts) / m if m else 0.0 for i in range(num_layers)]

    thirds: dict[str, dict[str, float]] = {}
    for third in THIRDS:
        members = [i for i in range(num_layers) if third_of(i, num_layers) == third]
        if not m or not members:
            thirds[third] = {"present": 0.0, "executions": 0.0, "share": 0.0}
            continue
        runs = sum(c[i] for c in counts for i in members)
        thirds[third] = {
            "present": sum(c[i] > 0 for c in counts for i in members) / (m * len(members)),
            "executions": runs / (m * len(members)),  # mean runs per layer of the third
            "share": runs / sum(len(b) for b in used),  # fraction of all chain positions
        }
    return (
        per_layer(lambda c: c == 0),
        per_layer(lambda c: c == 1),
        per_layer(lambda c: c > 1),
        per_layer(float),
        thirds,
    )


def strategy_report(records: Sequence[SampleRecord], which: str) -> StrategyReport | None:
    """Breakdowns of ``which`` ("search" or "baseline"); ``None`` if no record ran it."""
    pairs = strategy_pairs(records, which)
    if not pairs and which != "search":  # the main search is always summarized, even over no records
        return None
    chosen = [r for r, _ in pairs]
    num_layers = chosen[0].num_layers
    strategy = next((o.strategy for _, o in pairs if o is not None), which)
    bests = [oracle_best_chain(r, o) for r, o in pairs]
    transitions = {key: 0 for key, _ in TRANSITIONS}
    for record, best in zip(chosen, bests):
        transitions[transition(record, best)] += 1
    used = [b for b in bests if b is not None]
    skipped, kept, repeated, executions, thirds = _layer_usage(used, num_layers)
    best_of = {r.sample_id: b for r, b in zip(chosen, bests)}
    levels = []
    for level, summary in summarize_by_level(chosen).items():
        group = summary.search if which == "search" else summary.baseline
        # Mean best-chain length over all fixed-or-kept samples of the level: not in cola.report.stats
        # (it splits correct / fixed), so computed here from the same oracle best chains.
        found = [best_of[r.sample_id] for r in chosen if r.meta.get("level") == level]
        found = [b for b in found if b is not None]
        levels.append(
            LevelStats(
                level=level,
                n=summary.n,
                original=summary.original,
                oracle=group.oracle_found,
                mean_best_length=_mean([len(b) for b in found]),
                mean_best_distinct=_mean([distinct_layers(b) for b in found]),
            )
        )
    return StrategyReport(
        strategy=strategy,
        n=len(chosen),
        num_layers=num_layers,
        sample_ids=[r.sample_id for r in chosen],
        best_chains=bests,
        lengths_correct=[len(b) for r, b in zip(chosen, bests) if r.original.correct and b is not None],
        lengths_wrong=[len(b) for r, b in zip(chosen, bests) if not r.original.correct and b is not None],
        transitions=transitions,
        skipped=skipped,
        kept=kept,
        repeated=repeated,
        executions=executions,
        thirds=thirds,
        levels=levels,
    )


# (key, label, StrategySummary attribute, is a proportion); every row but the first is oracle.
SUMMARY_ROWS = (
    ("oracle_accuracy", "oracle accuracy (any correct chain)", "oracle_found", True),
    ("shorter_of_correct", "originally correct with a shorter correct chain (oracle)", "oracle_shorter", True),
    ("fixed_of_wrong", "originally wrong fixed by some chain (oracle)", "oracle_fixed", True),
    ("mean_len_correct", "mean best-chain length, originally correct (oracle)", "oracle_mean_length_correct", False),
    ("mean_len_wrong", "mean best-chain length, originally wrong fixed (oracle)", "oracle_mean_length_fixed", False),
    ("mean_distinct_correct", "mean distinct layers, originally correct (oracle)", "oracle_mean_distinct_correct", False),
    ("mean_distinct_wrong", "mean distinct layers, originally wrong fixed (oracle)", "oracle_mean_distinct_fixed", False),
)


def summary_rows(original: Proportion, group: StrategySummary) -> list[SummaryRow]:
    """The summary table of one strategy, straight from :func:`cola.report.stats.summarize`.

    ``original`` is the full model's accuracy over the records this strategy ran on (all of
    them for the search, ``summary.original``; a baseline may cover fewer).
    """
    rows = [SummaryRow("original_accuracy", "original accuracy (full model)", original.value, original)]
    for key, label, attribute, is_rate in SUMMARY_ROWS:
        value = getattr(group, attribute)
        if is_rate:
            rows.append(SummaryRow(key, label, value.value, value, oracle=True))
        else:
            rows.append(SummaryRow(key, label, value, oracle=True, percent=False))
    rows.append(
        SummaryRow("evaluations", "distinct chains evaluated per sample", group.mean_evaluations, percent=False)
    )
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
    strategies: dict[str, StrategyReport] = {}
    rows: dict[str, list[SummaryRow]] = {}
    chance: dict[str, float | None] = {}
    for which in ("search", "baseline"):
        group = summary.search if which == "search" else summary.baseline
        report = strategy_report(records, which)
        if report is None or group is None:
            continue
        strategies[which] = report
        ran = [r for r in records if getattr(r, which) is not None]
        original = (
            summary.original
            if len(ran) == len(records)
            else Proportion(sum(r.original.correct for r in ran), len(ran))
        )
        rows[which] = summary_rows(original, group)
        chance[which] = group.chance
    config = config or {}
    return RunReport(
        name=name,
        n=len(records),
        num_layers=records[0].num_layers,
        task=records[0].task,
        model=config.get("model"),
        summary=summary,
        summary_text=format_summary(summary),
        rows=rows,
        strategies=strategies,
        chance=chance,
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
    return path.resolve().name, records, store.load_config() or {}


def unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out
