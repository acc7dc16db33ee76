"""Run statistics from records alone: accuracy, oracle gains, baseline, chance, Wilson CIs.

Every number is recomputed from :class:`~cola.runs.records.SampleRecord` objects, so a run
directory is the single source of truth. Vocabulary:

* a sample's *best chain* under a strategy is its shortest correct chain (ties: fewest
  distinct layers) among the chains that strategy evaluated plus the original;
* anything that uses the gold answer to PICK a chain is an *oracle* statistic and is
  named ``oracle_...``: it shows a good chain exists, not that one could be chosen
  without the label. (Plain accuracy of the full model is not oracle.)
* the *chance rate* is what a random guesser achieves under the same oracle rule: with
  ``k`` choices and ``E`` distinct chains (answers) tried, P(at least one right) =
  ``1 - (1 - 1/k)^E``. Oracle accuracy must be read against it: with many tries and few
  choices even a coin "fixes" most samples. It is ``None`` for free-form answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cola.engine.chain import Chain, distinct_layers
from cola.runs.records import SampleRecord
from cola.search.base import SearchOutcome


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for z=1.96).

    Chosen over the normal approximation because it stays inside [0, 1] and is sensible at
    0/n and n/n, which are common here (small runs, near-perfect accuracies). With no
    data (n = 0) the honest interval is the whole range (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Proportion:
    """``successes / n`` with its Wilson interval; ``value``, ``low`` and ``high`` are None when n = 0."""

    successes: int
    n: int

    @property
    def value(self) -> float | None:
        return self.successes / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.successes, self.n) if self.n else None

    @property
    def low(self) -> float | None:
        return self.interval[0] if self.n else None  # type: ignore[index]

    @property
    def high(self) -> float | None:
        return self.interval[1] if self.n else None  # type: ignore[index]


def chance_rate(num_choices: int, tries: int) -> float:
    """P(a uniform random guesser over ``num_choices`` answers is right at least once in ``tries``)."""
    if num_choices < 1:
        raise ValueError(f"num_choices must be >= 1, got {num_choices}")
    return 1.0 - (1.0 - 1.0 / num_choices) ** max(0, tries)


def distinct_chains(record: SampleRecord, outcome: SearchOutcome | None) -> list[Chain]:
    """Distinct chains tried on a sample: the original, then the strategy's, in order."""
    chains: dict[Chain, None] = {tuple(record.original.chain): None}
    if outcome is not None:
        for evaluation in outcome.evaluations:
            chains.setdefault(tuple(evaluation.chain), None)
    return list(chains)


def oracle_best_chain(record: SampleRecord, outcome: SearchOutcome | None) -> Chain | None:
    """Shortest correct chain (ties: fewest distinct layers, then first tried), original included."""
    candidates = [(record.original.chain, record.original.correct)]
    if outcome is not None:
        candidates += [(e.chain, e.correct) for e in outcome.evaluations]
    best_key, best = None, None
    for order, (chain, correct) in enumerate(candidates):
        if correct:
            key = (len(chain), distinct_layers(chain), order)
            if best_key is None or key < best_key:
                best_key, best = key, tuple(chain)
    return best


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class StrategySummary:
    """Oracle statistics of one strategy (the main search or its random baseline) on a run."""

    strategy: str
    n: int  # samples this strategy ran on
    oracle_found: Proportion  # any tried chain (original included) correct
    oracle_shorter: Proportion  # of originally-correct: a correct chain with len < num_layers
    oracle_fixed: Proportion  # of originally-wrong: some correct chain
    oracle_mean_length_correct: float | None  # best-chain length, originally-correct samples
    oracle_mean_distinct_correct: float | None
    oracle_mean_length_fixed: float | None  # best-chain length, originally-wrong fixed samples
    oracle_mean_distinct_fixed: float | None
    mean_evaluations: float | None  # distinct chains per sample (the outcome's evaluations)
    chance: float | None  # mean of 1-(1-1/k)^E; None for free-form answers

    @property
    def oracle_accuracy(self) -> float | None:
        return self.oracle_found.value

    @property
    def oracle_shorter_of_correct(self) -> float | None:
        return self.oracle_shorter.value

    @property
    def oracle_fixed_of_wrong(self) -> float | None:
        return self.oracle_fixed.value

    # Unprefixed aliases read by cola.report; the values are oracle statistics all the same.
    @property
    def shorter_of_correct(self) -> float | None:
        return self.oracle_shorter_of_correct

    @property
    def fixed_of_wrong(self) -> float | None:
        return self.oracle_fixed_of_wrong

    @property
    def mean_length_correct(self) -> float | None:
        return self.oracle_mean_length_correct

    @property
    def mean_distinct_correct(self) -> float | None:
        return self.oracle_mean_distinct_correct

    @property
    def mean_length_fixed(self) -> float | None:
        return self.oracle_mean_length_fixed

    @property
    def mean_distinct_fixed(self) -> float | None:
        return self.oracle_mean_distinct_fixed


@dataclass
class RunSummary:
    """Headline numbers of a run: the full model, the search, its baseline and chance."""

    n: int
    num_layers: int | None  # None if the records mix models
    original: Proportion  # full-model accuracy (not oracle)
    search: StrategySummary
    baseline: StrategySummary | None  # None when no record has a baseline

    @property
    def original_accuracy(self) -> float | None:
        return self.original.value

    @property
    def oracle_accuracy(self) -> float | None:
        return self.search.oracle_accuracy

    @property
    def chance(self) -> float | None:
        """Chance rate at the main search's number of tries (the baseline's is on ``baseline``)."""
        return self.search.chance


def _chance(records: Sequence[SampleRecord], outcomes: Sequence[SearchOutcome | None]) -> float | None:
    if not records or any(r.num_choices is None or r.num_choices < 1 for r in records):
        return None
    rates = [chance_rate(int(r.num_choices), len(distinct_chains(r, o))) for r, o in zip(records, outcomes)]  # type: ignore[arg-type]
    return _mean(rates)


def strategy_pairs(records: Sequence[SampleRecord], which: str) -> list[tuple[SampleRecord, SearchOutcome]]:
    """(record, outcome) for the records that ran ``which`` ("search" or "baseline")."""
    return [(r, o) for r in records if (o := getattr(r, which)) is not None]


def summarize_strategy(records: Sequence[SampleRecord], which: str = "search") -> StrategySummary | None:
    """Statistics of ``which`` ("search" or "baseline") over the records that have it."""
    pairs = strategy_pairs(records, which)
    if not pairs and which != "search":  # the main search is always summarized, even over no records
        return None
    chosen = [r for r, _ in pairs]
    outcomes = [o for _, o in pairs]
    bests = [oracle_best_chain(r, o) for r, o in pairs]
    correct = [(r, b) for r, b in zip(chosen, bests) if r.original.correct]
    wrong = [(r, b) for r, b in zip(chosen, bests) if not r.original.correct]
    fixed = [b for _, b in wrong if b is not None]
    best_correct = [b for _, b in correct if b is not None]
    strategy = next((o.strategy for o in outcomes if o is not None), which)
    return StrategySummary(
        strategy=strategy,
        n=len(pairs),
        oracle_found=Proportion(sum(b is not None for b in bests), len(pairs)),
        oracle_shorter=Proportion(
            sum(b is not None and len(b) < r.num_layers for r, b in correct), len(correct)
        ),
        oracle_fixed=Proportion(len(fixed), len(wrong)),
        oracle_mean_length_correct=_mean([len(b) for b in best_correct]),
        oracle_mean_distinct_correct=_mean([distinct_layers(b) for b in best_correct]),
        oracle_mean_length_fixed=_mean([len(b) for b in fixed]),
        oracle_mean_distinct_fixed=_mean([distinct_layers(b) for b in fixed]),
        mean_evaluations=_mean([len(o.evaluations) for o in outcomes if o is not None]),
        chance=_chance(chosen, outcomes),
    )


def summarize(records: Sequence[SampleRecord]) -> RunSummary:
    """The :class:`RunSummary` of a run's records (empty input gives n = 0 and None values)."""
    records = list(records)
    sizes = {r.num_layers for r in records}
    search = summarize_strategy(records, "search")
    assert search is not None
    return RunSummary(
        n=len(records),
        num_layers=sizes.pop() if len(sizes) == 1 else None,
        original=Proportion(sum(r.original.correct for r in records), len(records)),
        search=search,
        baseline=summarize_strategy(records, "baseline"),
    )


def _level_key(level: Any) -> tuple[int, float, str]:
    try:
        return (0, float(level), str(level))
    except (TypeError, ValueError):
        return (1, 0.0, str(level))


def summarize_by_level(records: Sequence[SampleRecord], key: str = "level") -> dict[Any, RunSummary]:
    """One summary per ``record.meta[key]`` value (e.g. MATH levels), numeric levels sorted first.

    Records without the key are left out; an empty dict means no record has it.
    """
    groups: dict[Any, list[SampleRecord]] = {}
    for record in records:
        level = record.meta.get(key)
        if level is not None:
            groups.setdefault(level, []).append(record)
    return {level: summarize(groups[level]) for level in sorted(groups, key=_level_key)}


# ------------------------------------------------------------------ formatting
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _prop(p: Proportion | None) -> str:
    if p is None or not p.n:
        return "-"
    return f"{_pct(p.value)} [{_pct(p.low)}, {_pct(p.high)}] {p.successes}/{p.n}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def format_summary(summary: RunSummary) -> str:
    """Plain-text table: the search beside its random baseline and the chance rate."""
    s, b = summary.search, summary.baseline
    header = [
        "statistic",
        f"{s.strategy} (search)",
        f"{b.strategy} (baseline)" if b else "baseline",
        "chance",
    ]

    def row(label: str, fn, chance: str = "") -> list[str]:
        return [label, fn(s), fn(b) if b is not None else "-", chance]

    rows = [
        ["original accuracy (full model)", _prop(summary.original), _prop(summary.original), ""],
        row(
            "oracle accuracy, any correct chain (oracle)",
            lambda g: _prop(g.oracle_found),
            _pct(s.chance) if s.chance is not None else "n/a (free-form)",
        ),
        row("orig. correct with a shorter correct chain (oracle)", lambda g: _prop(g.oracle_shorter)),
        row("orig. wrong fixed by some chain (oracle)", lambda g: _prop(g.oracle_fixed)),
        row("mean best length, orig. correct (oracle)", lambda g: _num(g.oracle_mean_length_correct)),
        row("mean distinct layers, orig. correct (oracle)", lambda g: _num(g.oracle_mean_distinct_correct)),
        row("mean best length, orig. wrong fixed (oracle)", lambda g: _num(g.oracle_mean_length_fixed)),
        row("mean distinct layers, orig. wrong fixed (oracle)", lambda g: _num(g.oracle_mean_distinct_fixed)),
        row("distinct chains evaluated per sample", lambda g: _num(g.mean_evaluations)),
    ]
    layers = summary.num_layers if summary.num_layers is not None else "mixed"
    title = f"cola summary: {summary.n} samples, {layers} layers"
    note = (
        "(oracle) = the gold answer picks the chain: a good chain exists, not that it can be chosen.\n"
        "[lo, hi] = 95% Wilson interval. chance = P(a random guesser is right at least once in as many\n"
        "tries as distinct chains evaluated) = mean of 1-(1-1/k)^E."
    )
    return f"{title}\n{_table(header, rows)}\n{note}"


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
            _prop(s.baseline.oracle_found) if s.baseline else "-",
            _pct(s.chance),
        ]
        for level, s in by_level.items()
    ]
    return _table(header, rows)
