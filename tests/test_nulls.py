"""The honest nulls on a real run: decoy-label control, reach- and length-matched random, sampling pass@E,
the fixed menu, shared work, nulls added on resume, data seed."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from cola.errors import ColaError
from cola.evaluation.decoy import DecoyTarget, choose_decoy
from cola.evaluation.sampling import sample_full_model
from cola.evaluation.scorer import ChainScorer
from cola.report.stats import summarize
from cola.report.text import format_summary
from cola.runs import RunConfig, run_search, sample_seed
from cola.runs.config import load_samples
from cola.runs.menu import menu_chains, with_menu
from cola.runs.runner import search_sample
from cola.runs.store import RunStore
from cola.search import SearchConfig, get_strategy
from cola.search.random_length import chain_shape
from cola.tasks import Sample, get_task

CONFIG = RunConfig(task="arith", samples=6, search=SearchConfig(simulations=8, batch_size=8))


@pytest.fixture(scope="module")
def arith_dir(smollm, tmp_path_factory):
    out = tmp_path_factory.mktemp("nulls") / "run"
    run_search(CONFIG, out, model=smollm, progress=False)
    return out


@pytest.fixture(scope="module")
def arith_run(arith_dir):
    return RunStore(arith_dir).load_records()


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


def test_summary_prints_every_null_beside_the_oracle_in_120_columns(arith_run):
    summary = summarize(arith_run)
    text = format_summary(summary)
    assert max(len(line) for line in text.splitlines()) <= 120
    rows = {(r.arm, r.target): r for r in summary.rate_rows()}
    for arm in (
        "mcts (search)",
        "random_matched (reach-matched null)",
        "random_length (length-matched null)",
    ):
        assert (arm, "gold") in rows and arm in text
    assert ("mcts (search, decoy-guided)", "decoy") in rows
    assert ("random_length (length-matched null)", "decoy") in rows  # its chains graded against the decoy too
    assert "sampling pass@E (T=0.7, top-p=0.95)" in text
    line = next(
        row for row in text.splitlines() if row.startswith("random_length (length-matched null)  gold")
    )
    assert line.count("/") >= 2  # rates with their counts
    assert not any(r.arm.startswith("fixed menu") for r in rows.values())  # no train run named


def test_length_matched_null_has_the_search_chain_shapes(arith_run):
    for record in arith_run:
        assert record.length_null is not None and record.length_null.strategy == "random_length"
        shapes = Counter(chain_shape(e.chain, record.num_layers) for e in record.search.evaluations)
        null = Counter(chain_shape(e.chain, record.num_layers) for e in record.length_null.evaluations)
        assert null == shapes  # same lengths and skip/repeat mix, the same budget
        lengths = sorted(len(e.chain) for e in record.length_null.evaluations)
        assert lengths == sorted(len(e.chain) for e in record.search.evaluations)


def test_sampling_null_is_seeded_and_graded_by_the_task(smollm, arith_run):
    task, samples = load_samples(CONFIG)
    record = arith_run[0]
    sampling = record.sampling
    assert sampling is not None and (sampling.temperature, sampling.top_p) == (0.7, 0.95)
    assert len(sampling.rewards) == len(record.search.evaluations)  # E: the search's distinct chains
    sample = next(s for s in samples if s.id == record.sample_id)
    assert sampling.rewards == [float(task.is_correct(a, sample)) for a in sampling.answers]
    count = len(sampling.rewards)
    again = sample_full_model(ChainScorer(smollm, task).for_sample(sample), count, 0.7, 0.95, sampling.seed)
    assert again.answers == sampling.answers  # the same seed draws the same answers
    other = sample_full_model(
        ChainScorer(smollm, task).for_sample(sample), count, 0.7, 0.95, sampling.seed + 1
    )
    assert len(set(sampling.answers) | set(other.answers)) > 1  # it does sample, not decode greedily


def test_nulls_added_on_resume_are_what_the_run_would_have_recorded(smollm, arith_run, tmp_path):
    bare = dataclasses.replace(CONFIG, samples=2, length_null=False, sampling=False)
    first = run_search(bare, tmp_path / "r", model=smollm, progress=False)
    assert all(r.length_null is None and r.sampling is None for r in first)
    resumed = run_search(
        dataclasses.replace(bare, length_null=True, sampling=True),
        tmp_path / "r",
        resume=True,
        model=smollm,
        progress=False,
    )
    full = {r.sample_id: r for r in arith_run}
    assert [r.sample_id for r in resumed] == [r.sample_id for r in first]
    for before, after in zip(first, resumed):
        assert after.to_json()["search"] == before.to_json()["search"]  # the other arms are kept as they were
        assert after.to_json()["baseline"] == before.to_json()["baseline"]
        want = _without_timings(full[after.sample_id].to_json())
        got = _without_timings(after.to_json())
        assert got["length_null"] == want["length_null"] and got["sampling"] == want["sampling"]


def test_fixed_menu_runs_a_train_runs_top_chains_on_every_sample(smollm, arith_dir, arith_run, tmp_path):
    menu = menu_chains(arith_run)
    assert menu and len(menu) <= 100
    wins = [
        sum(any(e.chain == c and e.correct for e in [r.original, *r.search.evaluations]) for r in arith_run)
        for c in menu
    ]
    assert wins == sorted(wins, reverse=True)  # most frequent correct first
    test = dataclasses.replace(CONFIG, samples=2, data_seed=7, menu_from=str(arith_dir), sampling=False)
    records = run_search(test, tmp_path / "t", model=smollm, progress=False)
    for record in records:
        assert [e.chain for e in record.menu.evaluations] == menu
    summary = summarize(records)
    assert [row.k for row in summary.menu] == [1, 5, 20, 100]
    assert "fixed menu, top 1 (one chain)" in format_summary(summary)
    later = with_menu(tmp_path / "t", arith_dir, model=smollm)  # what cola summary --menu-from computes
    graded = [[(e.chain, e.answer, e.reward) for e in r.menu.evaluations] for r in later]
    assert graded == [[(e.chain, e.answer, e.reward) for e in r.menu.evaluations] for r in records]
    with pytest.raises(ColaError, match="shares 2 samples"):
        run_search(
            dataclasses.replace(CONFIG, samples=2, menu_from=str(arith_dir)), tmp_path / "u", model=smollm
        )
    assert not (tmp_path / "u").exists()  # refused before anything was written


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
    arms = (record.search, record.baseline, record.decoy_search, record.length_null)
    distinct = {e.chain for o in arms for e in o.evaluations}
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
