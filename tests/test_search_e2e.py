"""The whole search on real models: fast engine == naive path, CLI runs, crash + resume."""

from __future__ import annotations

import json

import pytest

from cola.cli import main
from cola.errors import ColaWarning, RunConfigError
from cola.evaluation.batching import EvaluationBatcher
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.runs import RunConfig, run_search, sample_seed
from cola.search import SearchConfig, get_strategy
from cola.tasks import get_task


def _search(model, task, samples, mode: str, batch_size: int, simulations: int, scoring="generate"):
    scorer = ChainScorer(model, task, EvalConfig(mode=mode, scoring=scoring))
    outcomes = []
    for sample in samples:
        evaluator = scorer.for_sample(sample)
        original = evaluator.original()
        config = SearchConfig(simulations=simulations, batch_size=batch_size, seed=sample_seed(0, sample.id))
        outcome = get_strategy("mcts")(evaluator, model.num_layers, config, original)
        outcomes.append(([(e.chain, e.answer, e.reward) for e in outcome.evaluations], outcome.best_chain))
    return outcomes, scorer.stats


@pytest.mark.parametrize("batch_size", [1, 6])
def test_fast_equals_naive_smollm_arith(smollm, batch_size):
    task = get_task("arith")
    samples = task.load(limit=2)
    naive, naive_stats = _search(smollm, task, samples, "naive", batch_size, simulations=18)
    fast, fast_stats = _search(smollm, task, samples, "fast", batch_size, simulations=18)
    assert fast == naive
    assert len(fast[0][0]) > 5  # the search really evaluated several chains
    # and the fast path really did less work
    assert fast_stats.prefill_layer_forwards < naive_stats.prefill_layer_forwards
    assert fast_stats.prefill_layer_forwards == fast_stats.min_prefill_layer_forwards


def test_fast_equals_naive_smollm_arc_both_scorings(smollm):
    task = get_task("arc_easy")
    samples = task.load(source="bundled", limit=1)
    for scoring in ("generate", "choice"):
        naive, _ = _search(smollm, task, samples, "naive", 4, simulations=12, scoring=scoring)
        fast, _ = _search(smollm, task, samples, "fast", 4, simulations=12, scoring=scoring)
        assert fast == naive, scoring


def test_fast_equals_naive_gemma_arith(gemma):
    task = get_task("arith")
    samples = task.load(limit=1)
    naive, _ = _search(gemma, task, samples, "naive", 4, simulations=12)
    fast, _ = _search(gemma, task, samples, "fast", 4, simulations=12)
    assert fast == naive


def _search_together(model, task, samples, batch_size: int, simulations: int, concurrency: int):
    """Like ``_search`` in fast mode, but all samples searched at once; also returns how
    many samples each model pass served."""
    scorer = ChainScorer(model, task, EvalConfig(mode="fast"))
    served = []
    evaluate_many = scorer.evaluate_many

    def counting(requests):
        served.append(len(requests))
        return evaluate_many(requests)

    scorer.evaluate_many = counting

    def work(evaluator):
        original = evaluator.original()
        config = SearchConfig(
            simulations=simulations, batch_size=batch_size, seed=sample_seed(0, evaluator.sample.id)
        )
        outcome = get_strategy("mcts")(evaluator, model.num_layers, config, original)
        return [(e.chain, e.answer, e.reward) for e in outcome.evaluations], outcome.best_chain

    results = dict(EvaluationBatcher(scorer).run(samples, work, concurrency))
    return [results[i] for i in range(len(samples))], served


def test_samples_searched_together_equal_naive_one_by_one(smollm):
    """Several samples' lanes decode in shared, padded layer calls: results must not change."""
    task = get_task("arc_easy")
    samples = task.load(source="bundled", limit=3)
    naive, _ = _search(smollm, task, samples, "naive", 4, simulations=12)
    together, served = _search_together(smollm, task, samples, 4, simulations=12, concurrency=3)
    assert together == naive
    assert max(served) == 3  # passes really served all three samples at once
    assert sum(served) > len(served)


def test_samples_searched_together_equal_naive_gemma(gemma):
    task = get_task("arith")
    samples = task.load(limit=2)
    naive, _ = _search(gemma, task, samples, "naive", 4, simulations=10)
    together, served = _search_together(gemma, task, samples, 4, simulations=10, concurrency=2)
    assert together == naive
    assert max(served) == 2


def test_an_error_in_one_search_stops_all_and_is_raised(smollm):
    task = get_task("arith")
    samples = task.load(limit=3)
    scorer = ChainScorer(smollm, task, EvalConfig())

    def work(evaluator):
        evaluator.original()
        if evaluator.sample.id == samples[1].id:
            raise ValueError("boom in one search")
        evaluator.evaluate([tuple(range(10))])
        return evaluator.sample.id

    with pytest.raises(ValueError, match="boom in one search"):
        list(EvaluationBatcher(scorer).run(samples, work, 3))


def _config(samples: int = 3, simulations: int = 10) -> RunConfig:
    # No decoy arm or label-free nulls here (tests/test_nulls.py covers them): these tests are about
    # runs, and the arms would double their time.
    return RunConfig(
        task="arith",
        samples=samples,
        decoy=False,
        length_null=False,
        sampling=False,
        search=SearchConfig(simulations=simulations, batch_size=4),
    )


def test_run_is_resumable_after_a_crash(smollm, tmp_path):
    out = tmp_path / "run"
    seen = []

    def crash_after_two(record):
        seen.append(record.sample_id)
        if len(seen) == 2:
            raise KeyboardInterrupt  # as if the user hit Ctrl-C (or the machine died) here

    with pytest.raises(KeyboardInterrupt):
        run_search(_config(), out, model=smollm, progress=False, on_record=crash_after_two)
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == 2
    records = run_search(_config(), out, resume=True, model=smollm, progress=False)
    assert [r.sample_id for r in records] == [s.id for s in get_task("arith").load(limit=3)]
    assert (out / "records.jsonl").read_text().splitlines()[:2] == lines  # nothing rewritten
    # a fresh run of the same config gives the same records: per-sample seeds, order-free
    again = run_search(_config(), tmp_path / "again", model=smollm, progress=False)
    assert [r.to_json() | {"search": None, "baseline": None, "decoy_search": None} for r in again] == [
        r.to_json() | {"search": None, "baseline": None, "decoy_search": None} for r in records
    ]
    assert [[e.chain for e in r.search.evaluations] for r in again] == [
        [e.chain for e in r.search.evaluations] for r in records
    ]
    with pytest.raises(RunConfigError, match="simulations"):
        run_search(_config(simulations=11), out, resume=True, model=smollm, progress=False)
    with pytest.raises(RunConfigError, match="already exists"):
        run_search(_config(), out, model=smollm, progress=False)


def _evaluations(record):
    runs = (
        [record.original]
        + record.search.evaluations
        + (record.baseline.evaluations if record.baseline else [])
    )
    return [(e.chain, e.answer, e.reward) for e in runs], record.search.best_chain


def test_run_with_samples_together_matches_one_by_one_and_resumes(smollm, tmp_path):
    one_by_one = run_search(_config(), tmp_path / "seq", model=smollm, progress=False)
    seen = []

    def stop_after_two(record):
        seen.append(record.sample_id)
        if len(seen) == 2:
            raise KeyboardInterrupt

    out = tmp_path / "together"
    with pytest.raises(KeyboardInterrupt):
        run_search(
            _config(), out, model=smollm, progress=False, on_record=stop_after_two, concurrent_samples=3
        )
    assert len((out / "records.jsonl").read_text().splitlines()) == 2
    together = run_search(_config(), out, resume=True, model=smollm, progress=False, concurrent_samples=3)
    by_id = {r.sample_id: _evaluations(r) for r in together}
    assert len(by_id) == 3
    assert {r.sample_id: _evaluations(r) for r in one_by_one} == by_id


def test_baseline_uses_the_same_budget(smollm, tmp_path):
    records = run_search(_config(samples=2), tmp_path / "run", model=smollm, progress=False)
    for record in records:
        assert record.baseline is not None
        assert len(record.baseline.evaluations) == len(record.search.evaluations)
        assert record.original.chain == tuple(range(smollm.num_layers))


def test_cli_search_summary_and_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["search", "--task", "arith", "--samples", "2", "--simulations", "6", "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "oracle" in printed.lower() and "chance" in printed.lower()
    config = json.loads((out / "config.json").read_text())
    assert config["search"]["simulations"] == 6
    assert main(["summary", str(out)]) == 0
    assert "oracle" in capsys.readouterr().out.lower()
    assert main(args) == 2  # exists, no --resume
    assert "already exists" in capsys.readouterr().err
    assert main(["search", "--task", "nope", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "unknown task" in capsys.readouterr().err.lower()
    assert main(["search", "--concurrent-samples", "0", "--out", str(tmp_path / "y"), "--quiet"]) == 2
    assert "--concurrent-samples must be at least 1" in capsys.readouterr().err


def _without_seconds(record) -> dict:
    data = record.to_json()
    for value in data.values():  # every arm's timing: searches and nulls alike
        if isinstance(value, dict):
            value.pop("seconds", None)
    return data


def test_a_sample_stopped_midway_resumes_from_its_journal(smollm, tmp_path, monkeypatch):
    """A run stopped inside a sample replays the chains it had evaluated (no model pass) and
    writes the record an unstopped run writes; a journal from other settings is never replayed."""
    from cola.runs.journal import SampleJournal

    config = RunConfig(task="arith", samples=2, search=SearchConfig(simulations=10, batch_size=4))
    unstopped = run_search(config, tmp_path / "unstopped", model=smollm, progress=False, limit=1)[0]
    arms = [unstopped.original] + [
        e
        for arm in (unstopped.search, unstopped.baseline, unstopped.decoy_search, unstopped.length_null)
        for e in arm.evaluations
    ]
    distinct = len({tuple(e.chain) for e in arms})

    append, written = SampleJournal.append, []

    def stop_on_third_pass(self, evaluations):
        append(self, evaluations)
        written.append(len(evaluations))
        if len(written) == 3:
            raise KeyboardInterrupt  # as if the user hit Ctrl-C in the middle of the sample

    out = tmp_path / "stopped"
    monkeypatch.setattr(SampleJournal, "append", stop_on_third_pass)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, out, model=smollm, progress=False, limit=1)
    assert not (out / "records.jsonl").exists() or not (out / "records.jsonl").read_text().strip()
    journal = SampleJournal(out, unstopped.sample_id, config.to_json())
    replayed = journal.replay()
    assert len(replayed) == sum(written) and 1 < len(replayed) < distinct

    # a torn last line (killed while writing) is dropped; other settings replay nothing
    with open(journal.path, "a") as handle:
        handle.write('{"chain": [0, 1')
    assert journal.replay() == replayed
    other = RunConfig(task="arith", samples=2, search=SearchConfig(simulations=12, batch_size=4))
    with pytest.warns(ColaWarning, match="written under other settings"):
        assert SampleJournal(out, unstopped.sample_id, other.to_json()).replay() == []

    new = []
    monkeypatch.setattr(
        SampleJournal,
        "append",
        lambda self, evaluations: (append(self, evaluations), new.extend(evaluations)),
    )
    resumed = run_search(config, out, resume=True, model=smollm, progress=False, limit=1)[0]
    assert _without_seconds(resumed) == _without_seconds(unstopped)
    assert len(new) == distinct - len(replayed)  # only the chains the stopped run had not reached
    assert not (out / "inflight").exists()  # the record is written: the journal is gone
