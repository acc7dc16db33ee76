"""Skip / repeat patterns and oracle rates by difficulty level (``meta["level"]``, e.g. MATH 1-5).

Which layers a best chain drops or repeats may depend on how hard the question is (the
PoLar paper analyses its chains per DART-Math level), so a report of records that carry a
level shows, per level and per arm (the search and its random baseline, which is the
null for every rate here): the oracle rates, and how the level's best chains use the
depth, as mean layers skipped / repeated per best chain and by thirds of the depth.

Every number is the statistic of :mod:`cola.report.stats` or :mod:`cola.report.breakdowns`
computed on the level's records alone, so a level row reads exactly like the run's own
summary restricted to that level. All of it is oracle: the gold label picks each best chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cola.engine.chain import Chain
from cola.report.breakdowns import THIRDS, strategy_report, third_of
from cola.report.format import num, pct, proportion
from cola.report.stats import Proportion, StrategySummary, level_key, summarize_strategy
from cola.runs.records import SampleRecord

ARMS = ("search", "baseline")
Table = tuple[list[str], list[list[str]]]


class LevelRun(Protocol):
    """What the tables read of a run (:class:`cola.report.data.RunReport` has it)."""

    name: str
    num_layers: int
    by_level: dict[str, list[LevelPattern]]


@dataclass
class LevelPattern:
    """One arm of a run at one difficulty level: oracle rates and the layer usage of its best chains."""

    level: Any
    strategy: str
    n: int  # the level's records that ran this arm
    summary: StrategySummary  # cola.report.stats.summarize_strategy on the level's records
    best_chains: int  # samples with a correct chain (the original included)
    mean_best_length: float | None  # over those best chains, kept and fixed alike
    with_skip: Proportion  # of best chains: any layer 0..L-1 absent
    with_repeat: Proportion  # of best chains: any layer run more than once
    mean_skipped: float | None  # layers absent per best chain
    mean_repeated: float | None  # layers run more than once per best chain
    skipped: list[float]  # per layer: fraction of the level's best chains without it
    repeated: list[float]  # per layer: fraction that run it more than once
    thirds_skipped: dict[str, float]  # per third: fraction of its layers absent, over best chains
    thirds_repeated: dict[str, float]  # per third: fraction of its layers repeated


def levels_of(records: Sequence[SampleRecord]) -> list[Any]:
    """The distinct ``meta["level"]`` values in the order :func:`cola.report.stats.summarize_by_level` uses."""
    return sorted({r.meta.get("level") for r in records} - {None}, key=level_key)


def _third_share(per_layer: list[float], num_layers: int) -> dict[str, float]:
    out = {}
    for third in THIRDS:
        members = [i for i in range(num_layers) if third_of(i, num_layers) == third]
        out[third] = sum(per_layer[i] for i in members) / len(members) if members else 0.0
    return out


def level_pattern(records: Sequence[SampleRecord], which: str, level: Any) -> LevelPattern | None:
    """Arm ``which`` on the records at ``level``; None when none of them ran it."""
    group = [r for r in records if r.meta.get("level") == level and r.outcome(which) is not None]
    if not group:
        return None
    summary, report = summarize_strategy(group, which), strategy_report(group, which)
    assert summary is not None and report is not None  # both exist for records that ran the arm
    bests: list[Chain] = [b for b in report.best_chains if b is not None]
    m, num_layers = len(bests), report.num_layers
    return LevelPattern(
        level=level,
        strategy=report.strategy,
        n=len(group),
        summary=summary,
        best_chains=m,
        mean_best_length=sum(len(c) for c in bests) / m if m else None,
        with_skip=Proportion(sum(any(c.count(i) == 0 for i in range(num_layers)) for c in bests), m),
        with_repeat=Proportion(sum(any(c.count(i) > 1 for i in range(num_layers)) for c in bests), m),
        mean_skipped=sum(report.skipped) if m else None,
        mean_repeated=sum(report.repeated) if m else None,
        skipped=list(report.skipped),
        repeated=list(report.repeated),
        thirds_skipped=_third_share(report.skipped, num_layers),
        thirds_repeated=_third_share(report.repeated, num_layers),
    )


def level_patterns(records: Sequence[SampleRecord]) -> dict[str, list[LevelPattern]]:
    """Arm -> one :class:`LevelPattern` per level, for records that carry levels ({} when none does)."""
    levels = levels_of(records)
    out: dict[str, list[LevelPattern]] = {}
    for which in ARMS:
        rows = [p for level in levels if (p := level_pattern(records, which, level)) is not None]
        if rows:
            out[which] = rows
    return out


# ------------------------------------------------------------------ tables
def _thirds(shares: dict[str, float]) -> str:
    return " / ".join(pct(shares[t]) for t in THIRDS)


def pattern_table(runs: Sequence[LevelRun]) -> Table:
    """Per run, arm and level: oracle rates, then how the best chains skip and repeat layers."""
    header = [
        "run: strategy",
        "level",
        "n",
        "original accuracy",
        "oracle accuracy",
        "shorter, of originally correct (oracle)",
        "fixed, of originally wrong (oracle)",
        "mean best-chain length (oracle)",
        "best chains skipping / repeating any layer",
        "layers skipped / repeated per best chain",
        f"skipped by third ({' / '.join(THIRDS)})",
        f"repeated by third ({' / '.join(THIRDS)})",
    ]
    body = []
    for run in runs:
        for rows in run.by_level.values():
            for p in rows:
                s = p.summary
                body.append(
                    [
                        f"{run.name}: {p.strategy}",
                        str(p.level),
                        str(p.n),
                        proportion(s.original),
                        proportion(s.oracle_found),
                        proportion(s.oracle_shorter),
                        proportion(s.oracle_fixed),
                        num(p.mean_best_length),
                        f"{pct(p.with_skip.value)} / {pct(p.with_repeat.value)} of {p.best_chains}",
                        f"{num(p.mean_skipped)} / {num(p.mean_repeated)}",
                        _thirds(p.thirds_skipped) if p.best_chains else num(None),
                        _thirds(p.thirds_repeated) if p.best_chains else num(None),
                    ]
                )
    return header, body


def layer_level_table(runs: Sequence[LevelRun]) -> Table:
    """Per layer of the main search's best chains: skipped / repeated fraction at each level."""
    header, body = ["run", "layer"], []
    runs = [run for run in runs if run.by_level.get("search")]
    levels = sorted({p.level for run in runs for p in run.by_level["search"]}, key=level_key)
    header += [f"level {level}: skipped / repeated" for level in levels]
    for run in runs:
        at = {p.level: p for p in run.by_level["search"]}
        for layer in range(run.num_layers):
            cells = [
                f"{pct(at[lv].skipped[layer], digits=0)} / {pct(at[lv].repeated[layer], digits=0)}"
                if lv in at and at[lv].best_chains
                else num(None)
                for lv in levels
            ]
            body.append([run.name, str(layer), *cells])
    return header, body


PATTERN_INTRO = (
    "Each level on its own: the oracle rates of the run's summary restricted to the level's samples, "
    "then how the level's best chains (oracle: the gold label picks them) use the depth: the share "
    "that leave out or repeat any layer, layers left out and repeated per best chain, and the share "
    "of each third's layers left out or repeated. The baseline rows are the null for each rate."
)
LAYER_INTRO = "Per layer, the share of the main search's best chains at each level that skip it / repeat it."


def level_sections(runs: Sequence[LevelRun]) -> list[tuple[str, str, Table, None]]:
    """The report's by-level sections, as ``(title, intro, table, figure)``; [] when no record has a level."""
    if not any(run.by_level for run in runs):
        return []
    return [
        ("Skip and repeat patterns by difficulty level", PATTERN_INTRO, pattern_table(runs), None),
        ("Per-layer usage by difficulty level", LAYER_INTRO, layer_level_table(runs), None),
    ]
