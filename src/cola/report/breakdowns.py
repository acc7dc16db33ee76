"""Per-strategy breakdowns of a run: transitions, best-chain lengths, layer usage, levels, reach.

A sample's *best chain* is :func:`cola.report.stats.oracle_best_chain` (the gold label
picks it: every breakdown here is an oracle statistic, except the reach lists, which
describe where a strategy looked whatever it found).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cola.engine.chain import Chain, distinct_layers
from cola.report.stats import Proportion, oracle_best_chain, strategy_pairs, summarize_by_level
from cola.runs.records import SampleRecord

TRANSITIONS = (
    ("correct_shorter", "correct → correct, shorter chain found (oracle)"),
    ("correct_optimal", "correct → correct, no shorter correct chain found within the budget (oracle)"),
    ("wrong_fixed", "wrong → correct (oracle)"),
    ("wrong_wrong", "wrong → wrong, no correct chain found within the budget (oracle)"),
)
THIRDS = ("early", "middle", "late")


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
    edits: list[int] = field(default_factory=list)  # reach: edits of every chain evaluated (all samples)
    evaluated_lengths: list[int] = field(default_factory=list)  # lengths of every chain evaluated

    @property
    def with_best(self) -> int:
        return sum(chain is not None for chain in self.best_chains)


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
        edits=[d for _, o in pairs for d in (o.edits or [])],
        evaluated_lengths=[len(e.chain) for _, o in pairs for e in o.evaluations],
    )
