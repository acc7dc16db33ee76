"""``cola summary`` as text: every arm against the gold and the decoy label, beside chance."""

from __future__ import annotations

from typing import Any

from cola.report import format as fmt
from cola.report.stats import Proportion, RunSummary

MISSING = "-"  # plain text stays ASCII (the Markdown report writes an en dash)


def _pct(value: float | None) -> str:
    return fmt.pct(value, MISSING)


def _num(value: float | None) -> str:
    return fmt.num(value, MISSING)


def _prop(p: Proportion | None) -> str:
    return fmt.proportion(p, MISSING, counts="{successes}/{n}")


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


COLUMN_TITLES = {
    "search": "{} vs gold (oracle)",
    "decoy": "{} vs decoy (control)",
    "baseline": "{} vs gold (oracle)",
    "baseline_decoy": "{} vs decoy (control)",
}
# (label, StrategySummary -> cell); "the label" is the gold answer or, in the decoy columns, the decoy.
ROWS = (
    ("original accuracy (full model answers the label)", lambda g: _prop(g.original)),
    ("oracle accuracy, any chain answers the label (oracle)", lambda g: _prop(g.oracle_found)),
    ("orig. correct with a shorter correct chain (oracle)", lambda g: _prop(g.oracle_shorter)),
    ("orig. wrong fixed by some chain (oracle)", lambda g: _prop(g.oracle_fixed)),
    ("mean best length, orig. correct (oracle)", lambda g: _num(g.oracle_mean_length_correct)),
    ("mean distinct layers, orig. correct (oracle)", lambda g: _num(g.oracle_mean_distinct_correct)),
    ("mean best length, orig. wrong fixed (oracle)", lambda g: _num(g.oracle_mean_length_fixed)),
    ("mean distinct layers, orig. wrong fixed (oracle)", lambda g: _num(g.oracle_mean_distinct_fixed)),
    ("distinct chains evaluated per sample", lambda g: _num(g.mean_evaluations)),
    ("reach: mean edits from the full chain", lambda g: _num(g.mean_edits)),
    ("reach: most edits per sample (mean)", lambda g: _num(g.max_edits)),
    ("reach: shortest chain evaluated (mean)", lambda g: _num(g.mean_shortest)),
)
NOTE = """\
vs gold (oracle) = the gold answer picks the chain: a good chain exists, not that it can be chosen.
vs decoy (control) = the same with each sample's decoy label, a wrong answer (the full model's own
answer where it is wrong, a seeded wrong answer where it is right): what picking by a label finds
when the label says nothing about correctness. The baseline is random search with the search's
budget and reach (its edit counts). [lo, hi] = 95% Wilson interval. chance = P(a random guesser
is right at least once in as many tries as distinct chains evaluated) = mean of 1-(1-1/k)^E."""


def format_summary(summary: RunSummary) -> str:
    """Plain-text table: each arm against the gold and the decoy label, beside the chance rate."""
    columns = summary.columns()
    header = ["statistic"] + [COLUMN_TITLES[name].format(arm.strategy) for name, arm in columns] + ["chance"]
    rows = []
    for index, (label, cell) in enumerate(ROWS):
        chance = ""
        if index == 1:
            chance = _pct(summary.chance) if summary.chance is not None else "n/a (free-form)"
        rows.append([label] + [cell(arm) for _, arm in columns] + [chance])
    layers = summary.num_layers if summary.num_layers is not None else "mixed"
    title = f"cola summary: {summary.n} samples, {layers} layers"
    text = f"{title}\n{_table(header, rows)}\n{NOTE}"
    if summary.grading_timeouts:
        text += f"\ngrading timed out on {summary.grading_timeouts} evaluations (counted wrong)."
    return text


def format_level_summary(by_level: dict[Any, RunSummary]) -> str:
    """One line per level: n, original accuracy, oracle accuracy (search, baseline) and chance."""
    header = [
        "level",
        "n",
        "original accuracy",
        "oracle accuracy (search)",
        "oracle accuracy (baseline)",
        "chance",
    ]
    rows = [
        [
            str(level),
            str(s.n),
            _prop(s.original),
            _prop(s.search.oracle_found),
            _prop(s.baseline.oracle_found) if s.baseline else MISSING,
            _pct(s.chance),
        ]
        for level, s in by_level.items()
    ]
    return _table(header, rows)
