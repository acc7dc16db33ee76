"""The honest nulls on a real run: decoy-label control, reach-matched baseline, shared work, data seed."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from cola.evaluation.decoy import DecoyTarget, choose_decoy
from cola.evaluation.scorer import ChainScorer
from cola.report.stats import summarize
from cola.report.text import ROWS, format_summary
from cola.runs import RunConfig, run_search, sample_seed
from cola.runs.config import load_samples
from cola.runs.runner import search_sample
from cola.search import SearchConfig, get_strategy
from cola.tasks import Sample, get_task

CONFIG = RunConfig(task="arith", samples=6, search=SearchConfig(simulations=8, batch_size=8))


@pytest.fixture(scope="module")
def arith_run(smollm, tmp_path_factory):
    return run_search(CONFIG, tmp_path_factory.mktemp("nulls") / "run", model=smollm, progress=False)


def test_decoy_labels_swap_which_samples_count_as_correct(arith_run):
    task = get_task("arith")
    right = [r for r in arith_run if r.original.correct]
    wrong = [r for r in arith_run if not r.original.correct and r.original.answer is not None]
    assert right and wrong  # both groups exist, so the checks below are not vacuous
    for record in arith_run:
        gold = Sample(id=record.sample_id, question="", gold=record.gold)
        assert record.decoy is not None and not task.is_correct(record.decoy, gold)  # always a wrong answer
        assert record.decoy_search is not None and record.decoy_search.strategy == "mcts"
    for record in wrong:  # the full model's own wrong answer is its decoy ...
        assert record.decoy == record.original.answer and record.original.decoy_reward == 1.0
    for record in right:  # ... and a right one gets a seeded wrong answer it did not give
        assert record.decoy != record.original.answer and record.original.decoy_reward == 0.0
    for record in arith_run:  # every chain of every arm is graded against both labels
        gold = Sample(id=record.sample_id, question="", gold=record.gold)
        decoy = Sample(id="d", question="", gold=record.decoy)
        for outcome in (record.search, record.baseline, record.decoy_search):
            for evaluation in outcome.evaluations:
                assert evaluation.decoy_reward == float(task.is_correct(evaluation.answer, decoy))
                assert evaluation.reward == float(task.is_correct(evaluation.answer, gold))


def test_summary_prints_a_decoy_figure_beside_every_oracle_figure(arith_run):
    summary = summarize(arith_run)
    text = format_summary(summary)
    assert "mcts vs decoy (control)" in text and "random_matched vs decoy (control)" in text
    columns = dict(summary.columns())
    for label, cell in ROWS:
        if "(oracle)" not in label:
            continue
        for gold, decoy in (("search", "decoy"), ("baseline", "baseline_decoy")):
            if cell(columns[gold]) != "-":
                assert cell(columns[decoy]) != "-", (label, decoy)
    line = next(row for row in text.splitlines() if row.startswith("orig. wrong fixed"))
    assert line.count("/") >= 4  # a rate with counts in each of the four columns


def test_reach_matched_baseline_has_the_search_edit_counts(arith_run):
    for record in arith_run:
        assert record.search.edits is not None and record.baseline.edits is not None
        assert record.baseline.strategy == "random_matched"
        assert Counter(record.baseline.edits) == Counter(record.search.edits)
        assert len(record.baseline.evaluations) == len(record.search.evaluations)
    # the old nearby baseline could not follow a search that goes past four edits
    assert max(max(r.search.edits) for r in arith_run) > 4


def test_arms_share_the_sample_evaluator(smollm, arith_run):
    """All arms of a sample go through one evaluator: each distinct chain is computed once."""
    task, samples = load_samples(CONFIG)
    scorer = ChainScorer(smollm, task, CONFIG.eval)
    pool = [s.gold for s in samples]
    record = search_sample(scorer, samples[0], CONFIG, pool=pool)
    distinct = {e.chain for o in (record.search, record.baseline, record.decoy_search) for e in o.evaluations}
    assert scorer.stats.chains == len(distinct | {record.original.chain})
    same = next(r for r in arith_run if r.sample_id == record.sample_id)
    assert _without_timings(record.to_json()) == _without_timings(same.to_json())


def _without_timings(data: dict) -> dict:
    return {
        k: ({**v, "seconds": None} if isinstance(v, dict) and "seconds" in v else v) for k, v in data.items()
    }


def test_decoy_search_is_the_same_search_rewarded_by_the_decoy(smollm):
    task = get_task("arith")
    sample = task.load(limit=1, seed=3)[0]
    scorer = ChainScorer(smollm, task)
    evaluator = scorer.for_sample(sample)
    original = evaluator.original()
    evaluator.set_decoy(choose_decoy(task, sample, original, [], seed=1))
    config = SearchConfig(simulations=6, batch_size=6, seed=sample_seed(0, sample.id))
    seen = get_strategy("mcts")(
        DecoyTarget(evaluator), smollm.num_layers, config, evaluator.original().swapped()
    )
    for evaluation in seen.evaluations:  # what the search saw: decoy rewards in the reward slot
        truth = evaluator.evaluate([evaluation.chain])[0]
        assert (evaluation.reward, evaluation.decoy_reward) == (truth.decoy_reward, truth.reward)


def test_data_seed_fixes_the_questions_while_the_seed_varies_the_search(smollm, tmp_path):
    base = dataclasses.replace(CONFIG, samples=1, data_seed=5, baseline=False, decoy=False)
    one = run_search(dataclasses.replace(base, seed=1), tmp_path / "a", model=smollm, progress=False)
    two = run_search(dataclasses.replace(base, seed=2), tmp_path / "b", model=smollm, progress=False)
    assert (
        [r.sample_id for r in one]
        == [r.sample_id for r in two]
        == [s.id for s in get_task("arith").load(limit=1, seed=5)]
    )
    assert [e.chain for e in one[0].search.evaluations] != [e.chain for e in two[0].search.evaluations]
    old_style = run_search(
        dataclasses.replace(base, seed=5, data_seed=None), tmp_path / "c", model=smollm, progress=False
    )
    assert [r.gold for r in old_style] == [r.gold for r in one]  # no data seed: the seed picks questions


def test_grading_timeout_is_a_recorded_outcome(smollm, monkeypatch):
    import cola.tasks.math500 as math500

    task = get_task("math")
    sample = Sample(id="m", question="Expand (x+1)^12.", gold="(x+1)^{12}")
    evaluator = ChainScorer(smollm, task).for_sample(sample)
    text = "\\boxed{x^{12}+12x^{11}+66x^{10}+220x^9+495x^8+792x^7+924x^6+792x^5+495x^4+220x^3+66x^2+12x+1}"
    math500._parsed.cache_clear()
    monkeypatch.setattr(math500, "GRADING_CPU_SECONDS", 1e-6)
    late = evaluator.grade((0, 1), text)
    assert late.grading_timed_out and late.reward == 0.0 and late.answer is not None
    monkeypatch.setattr(math500, "GRADING_CPU_SECONDS", 10.0)
    graded = evaluator.grade((0, 1), text)
    assert not graded.grading_timed_out and graded.reward == 1.0
