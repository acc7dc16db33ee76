"""``cola summary`` as text: every arm against the gold and the decoy label, beside chance."""

from __future__ import annotations

from typing import Any

from cola.report import format as fmt
from cola.report.stats import ARM_TITLES, Proportion, RunSummary

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


def _rate(p: Proportion | None) -> str:
    """Narrow enough for three to a 120-column line: ``43% [16%, 75%] 3/7``."""
    return fmt.proportion(p, MISSING, counts="{successes}/{n}", digits=0)


RATE_HEADER = ["arm", "label", "any chain answers it", "orig. correct: shorter", "orig. wrong: fixed"]
# (column title, StrategySummary -> cell) of the chains table: the gold label's best chains and the reach.
CHAIN_COLUMNS = (
    ("len (correct)", lambda g: _num(g.oracle_mean_length_correct)),
    ("layers", lambda g: _num(g.oracle_mean_distinct_correct)),
    ("len (fixed)", lambda g: _num(g.oracle_mean_length_fixed)),
    ("layers", lambda g: _num(g.oracle_mean_distinct_fixed)),
    ("chains", lambda g: _num(g.mean_evaluations)),
    ("edits", lambda g: _num(g.mean_edits)),
    ("max edits", lambda g: _num(g.max_edits)),
    ("shortest", lambda g: _num(g.mean_shortest)),
)
NOTE = """\
Every rate above is an oracle: the label picks the chain, so it shows a good chain exists, not that one
can be chosen. Read each against its nulls. decoy = each sample's decoy label, a wrong answer (the full
model's own where it is wrong, a seeded wrong one where it is right): what picking by a label finds when
the label says nothing. reach-matched null = random chains with the search's edit counts; length-matched
null = random chains of the search's lengths and skip/repeat mix; both have the search's budget.
sampling pass@E = the full model sampled E times (E = the search's distinct chains), some answer right.
fixed menu = a train run's K most frequent correct chains run on every sample (top 1: one fixed chain).
len = mean best-chain length (orig. correct; orig. wrong fixed), layers = its distinct layers; chains =
distinct chains per sample; edits, max edits = reach from the full chain; shortest = shortest chain tried.
[lo, hi] = 95% Wilson interval. chance = P(a random guesser is right at least once in E tries)."""


def format_summary(summary: RunSummary) -> str:
    """Plain text, arms as rows: the oracle rates of every arm and null, then where their chains lie."""
    layers = summary.num_layers if summary.num_layers is not None else "mixed"
    title = (
        f"cola summary: {summary.n} samples, {layers} layers; "
        f"the full model answers {_prop(summary.original)}"
    )
    rates = [[r.arm, r.target, _rate(r.found), _rate(r.shorter), _rate(r.fixed)] for r in summary.rate_rows()]
    if summary.chance is not None:
        rates.append(["chance (random guesser, E tries)", "", _pct(summary.chance), "", ""])
    else:
        rates.append(["chance", "", "n/a (free-form)", "", ""])
    gold = [(name, arm) for name, arm in summary.columns() if arm.target == "gold"]
    chains = [
        [ARM_TITLES[name].format(arm.strategy)] + [cell(arm) for _, cell in CHAIN_COLUMNS]
        for name, arm in gold
    ]
    chain_header = ["arm (gold label)"] + [title for title, _ in CHAIN_COLUMNS]
    text = f"{title}\n{_table(RATE_HEADER, rates)}\n\n{_table(chain_header, chains)}\n{NOTE}"
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
