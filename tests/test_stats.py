"""Run statistics recomputed by hand on four hand-built records."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from cola.engine.chain import full_chain
from cola.report.nulls import summarize_menu, summarize_sampling
from cola.report.proportion import Proportion, wilson_interval
from cola.report.stats import (
    chance_rate,
    oracle_best_chain,
    paired_shortening,
    search_vs_baseline,
    shortened,
    sign_test,
    summarize,
    summarize_by_level,
)
from cola.report.text import format_level_summary, format_summary
from cola.runs.records import Evaluation, SampleRecord, SamplingOutcome, SearchOutcome

L = 6
FULL = full_chain(L)


def ev(chain, ok: bool) -> Evaluation:
    return Evaluation(tuple(chain), "A" if ok else "B", 1.0 if ok else 0.0)


def outcome(strategy, orig_ok, chains):
    evals = [ev(FULL, orig_ok)] + [ev(c, ok) for c, ok in chains]  # root first, as strategies return
    return SearchOutcome(strategy, evals, len(evals), None)


def rec(sid, orig_ok, search, baseline, level, num_choices=4) -> SampleRecord:
    return SampleRecord(
        sample_id=sid,
        task="toy",
        gold="A",
        num_layers=L,
        original=ev(FULL, orig_ok),
        search=outcome("mcts", orig_ok, search),
        baseline=outcome("random", orig_ok, baseline) if baseline is not None else None,
        num_choices=num_choices,
        meta={"level": level},
    )


def records() -> list[SampleRecord]:
    return [
        # correct; shorter correct chain found (len 5)
        rec("r1", True, [((0, 1, 2, 3, 5), True), ((0, 1, 2), False)], [((1, 2), False)], 1),
        # correct; nothing shorter (search); baseline finds a len-5 chain
        rec("r2", True, [((0, 1, 2), False)], [((0, 2, 3, 4, 5), True)], 2),
        # wrong; fixed by two len-7 chains: the one with fewer distinct layers (4) is best
        rec(
            "r3",
            False,
            [((0, 1, 2, 3, 4, 5, 4), True), ((0, 0, 1, 1, 2, 2, 3), True), ((5,), False)],
            [((5,), False)],
            2,
        ),
        # wrong, not fixed by the search; the baseline fixes it with a len-7 chain of 6 layers
        rec("r4", False, [((0, 1), False)], [((0, 1, 2, 3, 4, 5, 5), True)], 1),
    ]


def test_wilson_known_values():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.27754, abs=1e-5)
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.72246, abs=1e-5) and hi == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_wilson_interval_holds_its_estimate_exactly():
    """0/n and n/n give exactly 0 and 1 (rounding gave 2.8e-17 for 0/11 and broke the budget plot's error bars)."""
    for n in range(1, 200):
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0, (k, n, lo, hi)
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0


def test_wilson_formula_exactly():
    k, n, z = 3, 7, 1.96
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half), abs=1e-12)


def test_chance_rate():
    assert chance_rate(4, 1) == pytest.approx(0.25)
    assert chance_rate(2, 3) == pytest.approx(0.875)
    assert chance_rate(4, 3) == pytest.approx(1 - 0.75**3)
    assert chance_rate(1, 5) == 1.0
    assert chance_rate(5, 0) == 0.0


def test_oracle_best_chain():
    r1, r2, r3, r4 = records()
    assert oracle_best_chain(r1, r1.search) == (0, 1, 2, 3, 5)
    assert oracle_best_chain(r2, r2.search) == FULL  # the correct original counts
    assert oracle_best_chain(r3, r3.search) == (0, 0, 1, 1, 2, 2, 3)
    assert oracle_best_chain(r4, r4.search) is None
    assert oracle_best_chain(r4, None) is None


def test_summary_every_number():
    s = summarize(records())
    assert s.n == 4 and s.num_layers == L
    assert (s.original.successes, s.original.n, s.original_accuracy) == (2, 4, 0.5)
    assert (s.original.low, s.original.high) == pytest.approx(wilson_interval(2, 4))

    m = s.search
    assert m.strategy == "mcts" and m.n == 4
    assert (m.oracle_found.successes, m.oracle_found.n) == (3, 4) and m.oracle_accuracy == 0.75
    assert s.oracle_accuracy == 0.75
    assert (m.oracle_shorter.successes, m.oracle_shorter.n) == (1, 2)
    assert (m.oracle_fixed.successes, m.oracle_fixed.n) == (1, 2)
    assert m.oracle_mean_length_correct == 5.5  # r1: 5, r2: 6 (original)
    assert m.oracle_mean_distinct_correct == 5.5
    assert m.oracle_mean_length_fixed == 7.0  # r3
    assert m.oracle_mean_distinct_fixed == 4.0  # the looped chain, not the 6-layer one
    assert m.mean_evaluations == pytest.approx((3 + 2 + 4 + 2) / 4)
    # chance: E = distinct chains incl. the original = 3, 2, 4, 2; k = 4
    expected = sum(1 - 0.75**e for e in (3, 2, 4, 2)) / 4
    assert m.chance == pytest.approx(expected) and s.chance == pytest.approx(expected)
    assert (m.oracle_found.low, m.oracle_found.high) == pytest.approx(wilson_interval(3, 4))

    b = s.baseline
    assert b is not None and b.strategy == "random" and b.n == 4
    assert (b.oracle_found.successes, b.oracle_shorter.successes, b.oracle_fixed.successes) == (3, 1, 1)
    assert b.oracle_mean_length_correct == 5.5  # r1: 6 (original), r2: 5
    assert b.oracle_mean_distinct_correct == 5.5
    assert (b.oracle_mean_length_fixed, b.oracle_mean_distinct_fixed) == (7.0, 6.0)  # r4
    assert b.mean_evaluations == 2.0
    assert b.chance == pytest.approx(1 - 0.75**2)
    assert (m.oracle_shorter_of_correct, m.oracle_fixed_of_wrong) == (0.5, 0.5)


def test_chance_ignores_duplicate_of_original_and_is_none_for_free_form():
    r1 = records()[0]
    assert summarize([r1]).chance == pytest.approx(1 - 0.75**3)
    free = [replace(r, num_choices=None) for r in records()]
    assert summarize(free).chance is None
    assert summarize(free).baseline.chance is None


def test_no_baseline_and_empty():
    s = summarize([replace(r, baseline=None) for r in records()])
    assert s.baseline is None
    empty = summarize([])
    assert empty.n == 0 and empty.original_accuracy is None and empty.search.oracle_accuracy is None
    assert empty.chance is None
    assert "0 samples" in format_summary(empty)


def test_proportion():
    assert Proportion(0, 0).value is None and Proportion(0, 0).low is None
    p = Proportion(5, 10)
    assert p.value == 0.5 and (p.low, p.high) == pytest.approx(wilson_interval(5, 10))


def test_by_level():
    by = summarize_by_level(records())
    assert list(by) == [1, 2]
    assert (by[1].n, by[1].original.successes, by[1].search.oracle_found.successes) == (2, 1, 1)
    assert (by[2].n, by[2].original.successes, by[2].search.oracle_found.successes) == (2, 1, 2)
    assert by[1].baseline.oracle_found.successes == 2
    assert summarize_by_level([replace(r, meta={}) for r in records()]) == {}
    text = format_level_summary(by)
    assert "level" in text.splitlines()[0] and "50.0%" in text


def test_format_summary_labels_oracle_and_shows_baseline_and_chance():
    s = summarize(records())
    text = format_summary(s)
    lines = text.splitlines()
    assert "4 samples, 6 layers" in lines[0] and "the full model answers 50.0%" in lines[0]
    assert max(len(line) for line in lines) <= 120
    header = lines[1]
    assert "any chain answers it" in header and "orig. correct: shorter" in header and "fixed" in header
    search = next(line for line in lines if line.startswith("mcts (search)  "))
    assert "gold" in search and "75% [30%, 95%] 3/4" in search  # oracle accuracy, with its interval
    assert any(line.startswith("random (reach-matched null)") for line in lines)
    chance = next(line for line in lines if line.startswith("chance"))
    assert f"{100 * s.chance:.1f}%" in chance
    assert "Every rate above is an oracle" in text and "Wilson" in text
    free = format_summary(summarize([replace(r, num_choices=None) for r in records()]))
    assert "n/a (free-form)" in free


def _with_nulls(record: SampleRecord, sampled: list[bool], menu: list[bool]) -> SampleRecord:
    chains = [FULL, (0, 1, 2), (0, 1, 2, 3, 4), (0, 0, 1, 2, 3, 4, 5)]
    return replace(
        record,
        sampling=SamplingOutcome(
            0.7, 0.95, 1, ["A" if ok else "B" for ok in sampled], [float(ok) for ok in sampled]
        ),
        menu=SearchOutcome("fixed_menu", [ev(c, ok) for c, ok in zip(chains, menu)], len(menu), None),
    )


def test_sampling_pass_at_e_and_the_fixed_menu_by_hand():
    r1, r2, r3, r4 = records()  # originally correct: r1, r2; wrong: r3, r4
    with_nulls = [
        _with_nulls(r1, [False, True], [True, False, False, False]),  # menu top 1 (the full chain) right
        _with_nulls(r2, [False, False], [False, True, False, False]),  # a shorter menu chain (len 3) right
        _with_nulls(r3, [True, False], [False, False, False, True]),  # fixed by menu chain 4 (len 7)
        _with_nulls(r4, [False, False], [False, False, False, False]),
    ]
    sampling = summarize_sampling(with_nulls)
    assert (sampling.found.successes, sampling.found.n) == (2, 4)
    assert (sampling.fixed.successes, sampling.fixed.n) == (1, 2)
    assert sampling.mean_accuracy == pytest.approx(0.25) and sampling.mean_draws == 2
    assert sampling.label == "sampling pass@E (T=0.7, top-p=0.95)"
    menu = {row.k: row for row in summarize_menu(with_nulls, ks=(1, 2, 4))}
    assert (menu[1].found.successes, menu[2].found.successes, menu[4].found.successes) == (1, 2, 3)
    assert (menu[1].shorter.successes, menu[2].shorter.successes, menu[2].shorter.n) == (0, 1, 2)
    assert (menu[2].fixed.successes, menu[4].fixed.successes, menu[4].fixed.n) == (0, 1, 2)
    assert summarize_sampling(records()) is None and summarize_menu(records()) == []
    rows = [row.arm for row in summarize(with_nulls).rate_rows()]
    assert "sampling pass@E (T=0.7, top-p=0.95)" in rows and "fixed menu, top 1 (one chain)" in rows


def test_sign_test_exact_values():
    """Two-sided exact binomial at p = 1/2, by hand: P(X <= k) doubled, capped at 1."""
    assert sign_test(0, 0) == 1.0
    assert sign_test(3, 3) == 1.0
    assert sign_test(7, 0) == pytest.approx(2 / 2**7)
    assert sign_test(0, 7) == sign_test(7, 0)
    assert sign_test(5, 7) == pytest.approx(2 * sum(math.comb(12, i) for i in range(6)) / 2**12)
    assert sign_test(11, 0) == pytest.approx(2 / 2**11)
    with pytest.raises(ValueError):
        sign_test(-1, 2)


def test_paired_shortening_of_search_and_baseline():
    r1, r2, r3, r4 = records()
    assert shortened(r1, r1.search) == (True, 5)
    assert shortened(r2, r2.search) == (False, L)  # only the original is correct
    assert shortened(r1, r1.baseline) == (False, L) and shortened(r2, r2.baseline) == (True, 5)
    pairs = search_vs_baseline(records())  # r3, r4 were wrong at first: not paired
    assert pairs.n == 2 and (pairs.a.successes, pairs.b.successes) == (1, 1)
    assert (pairs.only_a, pairs.only_b, pairs.p) == (1, 1, 1.0)
    assert (pairs.depth_a, pairs.depth_b) == (5.5, 5.5)
    one_sided = paired_shortening([((True, 4), (False, 6))] * 6 + [((True, 5), (True, 5))])
    assert (one_sided.only_a, one_sided.only_b) == (6, 0)
    assert one_sided.p == pytest.approx(2 / 2**6) and one_sided.depth_a == pytest.approx(29 / 7)
    assert paired_shortening([]).depth_a is None and paired_shortening([]).p == 1.0
