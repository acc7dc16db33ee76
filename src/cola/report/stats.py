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
from dataclasses import dataclass, field
from typing import Any

from cola.engine.chain import Chain, distinct_layers
from cola.evaluation.result import Evaluation
from cola.report.nulls import MenuRow, SamplingSummary, summarize_menu, summarize_sampling
from cola.report.proportion import Proportion
from cola.runs.records import SampleRecord
from cola.search.base import SearchOutcome


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


def target_reward(evaluation: Evaluation, target: str) -> float | None:
    """The reward of an evaluation against the gold label (``"gold"``) or the decoy label (``"decoy"``)."""
    return evaluation.reward if target == "gold" else evaluation.decoy_reward


def oracle_best_chain(
    record: SampleRecord, outcome: SearchOutcome | None, target: str = "gold"
) -> Chain | None:
    """Shortest chain answering the label (ties: fewest distinct layers, then first tried), original included."""
    candidates = [record.original] + (list(outcome.evaluations) if outcome is not None else [])
    best_key, best = None, None
    for order, evaluation in enumerate(candidates):
        if (target_reward(evaluation, target) or 0.0) > 0.0:
            chain = tuple(evaluation.chain)
            key = (len(chain), distinct_layers(chain), order)
            if best_key is None or key < best_key:
                best_key, best = key, chain
    return best


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class StrategySummary:
    """Label-picked statistics of one arm of a run, against the gold label (oracle) or the decoy label.

    With ``target == "gold"`` every ``oracle_*`` number is an oracle statistic; with
    ``target == "decoy"`` the same numbers are measured against each sample's decoy label
    (a wrong answer), the control that shows what picking by a label achieves when the
    label says nothing about correctness. "Originally correct" means the full model
    answers the target label.
    """

    strategy: str
    n: int  # samples this arm ran on (with a decoy label, for target "decoy")
    oracle_found: Proportion  # any tried chain (original included) answers the label
    oracle_shorter: Proportion  # of originally-correct: a chain with len < num_layers answers it
    oracle_fixed: Proportion  # of originally-wrong: some chain answers it
    oracle_mean_length_correct: float | None  # best-chain length, originally-correct samples
    oracle_mean_distinct_correct: float | None
    oracle_mean_length_fixed: float | None  # best-chain length, originally-wrong fixed samples
    oracle_mean_distinct_fixed: float | None
    mean_evaluations: float | None  # distinct chains per sample (the outcome's evaluations)
    chance: float | None  # mean of 1-(1-1/k)^E; None for free-form answers
    target: str = "gold"
    original: Proportion = Proportion(0, 0)  # the full model answers the label
    mean_edits: float | None = None  # reach: mean edits from the full chain of the chains evaluated
    max_edits: float | None = None  # reach: mean over samples of the most edits reached
    mean_shortest: float | None = None  # mean over samples of the shortest chain evaluated

    @property
    def oracle_accuracy(self) -> float | None:
        return self.oracle_found.value

    @property
    def oracle_shorter_of_correct(self) -> float | None:
        return self.oracle_shorter.value

    @property
    def oracle_fixed_of_wrong(self) -> float | None:
        return self.oracle_fixed.value


# How each arm of RunSummary.columns() is named in tables ({} is its strategy).
ARM_TITLES = {
    "search": "{} (search)",
    "decoy": "{} (search, decoy-guided)",
    "baseline": "{} (reach-matched null)",
    "baseline_decoy": "{} (reach-matched null)",
    "length_null": "{} (length-matched null)",
    "length_null_decoy": "{} (length-matched null)",
}


@dataclass(frozen=True)
class RateRow:
    """One arm's oracle rates against one label (``target``); None where the arm has no such rate."""

    arm: str
    target: str  # "gold" or "decoy"
    found: Proportion  # some chain (or sample, or menu chain) answers the label
    shorter: Proportion | None  # of the originally correct: a correct chain shorter than the model
    fixed: Proportion  # of the originally wrong: some chain answers the label


@dataclass
class RunSummary:
    """Headline numbers of a run: the search, its random baseline, both against the decoy too, and chance."""

    n: int
    num_layers: int | None  # None if the records mix models
    original: Proportion  # full-model accuracy (not oracle)
    search: StrategySummary
    baseline: StrategySummary | None  # None when no record has a baseline
    decoy: StrategySummary | None = None  # the decoy-guided search, against the decoy label
    baseline_decoy: StrategySummary | None = None  # the baseline's chains, graded against the decoy
    grading_timeouts: int = 0  # evaluations whose grader gave up (counted wrong)
    length_null: StrategySummary | None = None  # random chains of the search's shapes (cola.report.nulls)
    length_null_decoy: StrategySummary | None = None
    sampling: SamplingSummary | None = None  # sampling pass@E
    menu: list[MenuRow] = field(default_factory=list)  # the fixed menu, one row per K

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

    def rate_rows(self) -> list[RateRow]:
        """Every arm and null as one row of oracle rates: what the summary and the report print."""
        rows = [
            RateRow(
                ARM_TITLES[name].format(arm.strategy),
                arm.target,
                arm.oracle_found,
                arm.oracle_shorter,
                arm.oracle_fixed,
            )
            for name, arm in self.columns()
        ]
        if self.sampling is not None:
            s = self.sampling
            rows.append(RateRow(s.label, "gold", s.found, None, s.fixed))
        rows += [RateRow(m.label, "gold", m.found, m.shorter, m.fixed) for m in self.menu]
        return rows

    def columns(self) -> list[tuple[str, StrategySummary]]:
        """``(title, summary)`` of every arm present, in table order."""
        arms = [
            ("search", self.search),
            ("decoy", self.decoy),
            ("baseline", self.baseline),
            ("baseline_decoy", self.baseline_decoy),
            ("length_null", self.length_null),
            ("length_null_decoy", self.length_null_decoy),
        ]
        return [(name, arm) for name, arm in arms if arm is not None]


def _chance(records: Sequence[SampleRecord], outcomes: Sequence[SearchOutcome | None]) -> float | None:
    if not records or any(r.num_choices is None or r.num_choices < 1 for r in records):
        return None
    rates = [chance_rate(int(r.num_choices), len(distinct_chains(r, o))) for r, o in zip(records, outcomes)]  # type: ignore[arg-type]
    return _mean(rates)


def strategy_pairs(records: Sequence[SampleRecord], which: str) -> list[tuple[SampleRecord, SearchOutcome]]:
    """(record, outcome) for the records that ran ``which`` ("search", "baseline" or "decoy_search")."""
    return [(r, o) for r in records if (o := getattr(r, which)) is not None]


def _reach(
    pairs: Sequence[tuple[SampleRecord, SearchOutcome]],
) -> tuple[float | None, float | None, float | None]:
    """(mean edits of evaluated chains, mean max edits per sample, mean shortest chain per sample)."""
    edits = [o.edits for _, o in pairs if o.edits]
    flat = [d for sample in edits for d in sample]
    shortest = [min(len(e.chain) for e in [r.original, *o.evaluations]) for r, o in pairs]
    return _mean(flat), _mean([max(sample) for sample in edits]), _mean(shortest)


def summarize_strategy(
    records: Sequence[SampleRecord], which: str = "search", target: str = "gold"
) -> StrategySummary | None:
    """Statistics of arm ``which`` against ``target`` ("gold" or "decoy") over the records that have it."""
    pairs = strategy_pairs(records, which)
    if target == "decoy":
        pairs = [(r, o) for r, o in pairs if r.original.decoy_reward is not None]
    if not pairs and (which != "search" or target != "gold"):  # the main search is always summarized
        return None
    chosen = [r for r, _ in pairs]
    bests = [oracle_best_chain(r, o, target) for r, o in pairs]
    hit = [(target_reward(r.original, target) or 0.0) > 0.0 for r in chosen]
    correct = [(r, b) for r, b, h in zip(chosen, bests, hit) if h]
    fixed = [b for (r, b), h in zip(zip(chosen, bests), hit) if not h and b is not None]
    best_correct = [b for _, b in correct if b is not None]
    mean_edits, max_edits, shortest = _reach(pairs)
    return StrategySummary(
        strategy=next((o.strategy for _, o in pairs), which),
        n=len(pairs),
        oracle_found=Proportion(sum(b is not None for b in bests), len(pairs)),
        oracle_shorter=Proportion(
            sum(b is not None and len(b) < r.num_layers for r, b in correct), len(correct)
        ),
        oracle_fixed=Proportion(len(fixed), len(chosen) - len(correct)),
        oracle_mean_length_correct=_mean([len(b) for b in best_correct]),
        oracle_mean_distinct_correct=_mean([distinct_layers(b) for b in best_correct]),
        oracle_mean_length_fixed=_mean([len(b) for b in fixed]),
        oracle_mean_distinct_fixed=_mean([distinct_layers(b) for b in fixed]),
        mean_evaluations=_mean([len(o.evaluations) for _, o in pairs]),
        chance=_chance(chosen, [o for _, o in pairs]),
        target=target,
        original=Proportion(sum(hit), len(chosen)),
        mean_edits=mean_edits,
        max_edits=max_edits,
        mean_shortest=shortest,
    )


def summarize(records: Sequence[SampleRecord]) -> RunSummary:
    """The :class:`RunSummary` of a run's records (empty input gives n = 0 and None values)."""
    records = list(records)
    sizes = {r.num_layers for r in records}
    search = summarize_strategy(records, "search")
    assert search is not None
    timeouts = {
        (r.sample_id, tuple(e.chain))
        for r in records
        for o in [r.search, r.baseline, r.decoy_search, r.length_null]
        for e in ([r.original] + (o.evaluations if o is not None else []))
        if e.grading_timed_out
    }
    return RunSummary(
        n=len(records),
        num_layers=sizes.pop() if len(sizes) == 1 else None,
        original=Proportion(sum(r.original.correct for r in records), len(records)),
        search=search,
        baseline=summarize_strategy(records, "baseline"),
        decoy=summarize_strategy(records, "decoy_search", "decoy"),
        baseline_decoy=summarize_strategy(records, "baseline", "decoy"),
        grading_timeouts=len(timeouts),
        length_null=summarize_strategy(records, "length_null"),
        length_null_decoy=summarize_strategy(records, "length_null", "decoy"),
        sampling=summarize_sampling(records),
        menu=summarize_menu(records),
    )


def level_key(level: Any) -> tuple[int, float, str]:
    """Sort key for difficulty levels: numeric ones (``2`` or ``"2"``) first, in order, then by name.

    Levels come from dataset metadata as ints or strings; sorting them as strings would put
    ``"10"`` before ``"2"``, and mixing the two would not sort at all.
    """
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
    return {level: summarize(groups[level]) for level in sorted(groups, key=level_key)}


def sign_test(only_a: int, only_b: int) -> float:
    """Exact two-sided binomial test of ``only_a`` vs ``only_b`` discordant pairs (p = 1/2).

    The paired test for "does arm A shorten more samples than arm B": samples both or
    neither arm shortened say nothing about the difference, so only the discordant ones count.
    """
    if only_a < 0 or only_b < 0:
        raise ValueError(f"need counts >= 0, got {only_a} and {only_b}")
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def shortened(record: SampleRecord, outcome: SearchOutcome | None) -> tuple[bool, int]:
    """(some chain shorter than the model answers the gold label, the best chain's length).

    Meant for an originally correct sample, where the full chain itself counts: its best
    length is then at most ``record.num_layers``, which it is when nothing shorter was correct.
    """
    best = oracle_best_chain(record, outcome)
    if best is None:
        return False, record.num_layers
    return len(best) < record.num_layers, len(best)


@dataclass(frozen=True)
class PairedShortening:
    """Two arms on the same originally correct samples: who found a shorter correct chain.

    ``depth_a`` / ``depth_b`` are the *mean best depth*: over the samples, the length of
    the shortest correct chain the arm evaluated, the full chain's when nothing shorter was.
    """

    n: int
    a: Proportion  # samples arm A shortened
    b: Proportion
    only_a: int  # discordant pairs: only A shortened
    only_b: int
    p: float  # exact two-sided sign test on the discordant pairs
    depth_a: float | None
    depth_b: float | None


def paired_shortening(pairs: Sequence[tuple[tuple[bool, int], tuple[bool, int]]]) -> PairedShortening:
    """Compare two arms from per-sample ``(shortened, best depth)`` pairs (see :func:`shortened`)."""
    pairs = list(pairs)
    only_a = sum(a[0] and not b[0] for a, b in pairs)
    only_b = sum(b[0] and not a[0] for a, b in pairs)
    return PairedShortening(
        n=len(pairs),
        a=Proportion(sum(a[0] for a, _ in pairs), len(pairs)),
        b=Proportion(sum(b[0] for _, b in pairs), len(pairs)),
        only_a=only_a,
        only_b=only_b,
        p=sign_test(only_a, only_b),
        depth_a=_mean([a[1] for a, _ in pairs]),
        depth_b=_mean([b[1] for _, b in pairs]),
    )


def search_vs_baseline(records: Sequence[SampleRecord]) -> PairedShortening:
    """The search (A) against its random baseline (B) on the originally correct samples that have both."""
    return paired_shortening(
        [
            (shortened(r, r.search), shortened(r, r.baseline))
            for r in records
            if r.original.correct and r.baseline is not None
        ]
    )
