"""``cola report``: every number in ReportData against an independent recomputation from records."""

from __future__ import annotations

import json
import math
import re

import pytest

from cola.cli.report import add_report_arguments, cmd_report
from cola.engine.chain import full_chain
from cola.errors import ColaError
from cola.report.breakdowns import TRANSITIONS
from cola.report.data import build_report_data, load_run
from cola.report.render import report, write_report
from cola.runs.records import Evaluation, SampleRecord, SearchOutcome


# ------------------------------------------------------- independent reference
def ref_wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def ref_best(record: SampleRecord, outcome: SearchOutcome | None):
    """Shortest correct chain, ties by fewest distinct layers, then first tried (original first)."""
    tried = [record.original] + (list(outcome.evaluations) if outcome else [])
    correct = [tuple(e.chain) for e in tried if e.reward > 0]
    return sorted(correct, key=lambda c: (len(c), len(set(c))))[0] if correct else None


def ref_mean(values):
    return sum(values) / len(values) if values else None


def close(a, b, tol=1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return b is None or math.isnan(b)
    if isinstance(b, float) and math.isnan(b):
        return a is None
    return abs(a - b) <= tol


def check_strategy(records: list[SampleRecord], which: str, s, rows, chance) -> None:
    """Recompute every number of one StrategyReport and its summary rows from the records."""
    records = [r for r in records if getattr(r, which) is not None]  # those that ran the strategy
    assert s.sample_ids == [r.sample_id for r in records]
    L = records[0].num_layers
    n = len(records)
    bests = [ref_best(r, getattr(r, which)) for r in records]
    assert s.best_chains == bests
    orig = [r.original.reward > 0 for r in records]

    # transitions
    expected = {
        "correct_shorter": sum(o and b is not None and len(b) < L for o, b in zip(orig, bests)),
        "correct_optimal": sum(o and (b is None or len(b) >= L) for o, b in zip(orig, bests)),
        "wrong_fixed": sum((not o) and b is not None for o, b in zip(orig, bests)),
        "wrong_wrong": sum((not o) and b is None for o, b in zip(orig, bests)),
    }
    assert s.transitions == expected
    assert sum(s.transitions.values()) == n

    # length histograms
    assert sorted(s.lengths_correct) == sorted(len(b) for o, b in zip(orig, bests) if o)
    assert sorted(s.lengths_wrong) == sorted(len(b) for o, b in zip(orig, bests) if not o and b is not None)

    # per-layer usage
    used = [b for b in bests if b is not None]
    for layer in range(L):
        counts = [b.count(layer) for b in used]
        m = len(used)
        assert close(s.skipped[layer], sum(c == 0 for c in counts) / m if m else 0.0)
        assert close(s.kept[layer], sum(c == 1 for c in counts) / m if m else 0.0)
        assert close(s.repeated[layer], sum(c >= 2 for c in counts) / m if m else 0.0)
        assert close(s.executions[layer], sum(counts) / m if m else 0.0)
        assert close(s.skipped[layer] + s.kept[layer] + s.repeated[layer], 1.0 if m else 0.0)

    # thirds: layer i belongs to third floor(3i/L)
    for t, name in enumerate(("early", "middle", "late")):
        members = [i for i in range(L) if (3 * i) // L == t]
        if not used:
            continue
        present = sum(sum(1 for i in members if i in b) for b in used) / (len(used) * len(members))
        runs = sum(sum(1 for x in b if x in members) for b in used)
        assert close(s.thirds[name]["present"], present)
        assert close(s.thirds[name]["executions"], runs / (len(used) * len(members)))
        assert close(s.thirds[name]["share"], runs / sum(len(b) for b in used))
    if used:
        assert close(sum(s.thirds[t]["share"] for t in ("early", "middle", "late")), 1.0)

    # difficulty levels
    levels = sorted({r.meta["level"] for r in records if "level" in r.meta})
    assert [lv.level for lv in s.levels] == levels
    for lv in s.levels:
        idx = [i for i, r in enumerate(records) if r.meta.get("level") == lv.level]
        found = [bests[i] for i in idx if bests[i] is not None]
        assert lv.n == len(idx)
        assert (lv.original.successes, lv.original.n) == (sum(orig[i] for i in idx), len(idx))
        assert (lv.oracle.successes, lv.oracle.n) == (len(found), len(idx))
        assert close(lv.mean_best_length, ref_mean([len(b) for b in found]))
        assert close(lv.mean_best_distinct, ref_mean([len(set(b)) for b in found]))
        low, high = ref_wilson(lv.oracle.successes, lv.oracle.n)
        assert close(lv.oracle.low, low, 1e-6) and close(lv.oracle.high, high, 1e-6)

    # summary rows (values from cola.report.stats, counts and intervals from the report)
    by_key = {row.key: row for row in rows}
    n_orig = sum(orig)
    checks = {
        "original_accuracy": (sum(orig), n),
        "oracle_accuracy": (len(used), n),
        "shorter_of_correct": (expected["correct_shorter"], n_orig),
        "fixed_of_wrong": (expected["wrong_fixed"], n - n_orig),
    }
    for key, (k, total) in checks.items():
        row = by_key[key]
        assert (row.rate.successes, row.rate.n) == (k, total), key
        if total:
            assert close(row.value, k / total), key
            low, high = ref_wilson(k, total)
            assert close(row.rate.low, low, 1e-6) and close(row.rate.high, high, 1e-6), key
            assert row.rate.low <= row.value <= row.rate.high
    for key in (
        "oracle_accuracy",
        "shorter_of_correct",
        "fixed_of_wrong",
        "mean_len_correct",
        "mean_len_wrong",
    ):
        assert by_key[key].oracle and "oracle" in by_key[key].label
    assert not by_key["original_accuracy"].oracle
    assert close(by_key["mean_len_correct"].value, ref_mean([len(b) for o, b in zip(orig, bests) if o]), 1e-9)
    assert close(
        by_key["mean_len_wrong"].value,
        ref_mean([len(b) for o, b in zip(orig, bests) if not o and b is not None]),
        1e-9,
    )
    assert close(
        by_key["mean_distinct_correct"].value, ref_mean([len(set(b)) for o, b in zip(orig, bests) if o]), 1e-9
    )
    assert close(
        by_key["evaluations"].value, ref_mean([len(getattr(r, which).evaluations) for r in records]), 1e-9
    )
    # chance: a guesser over k choices, one try per distinct chain (the original included)
    if all(r.num_choices for r in records):
        tries = [
            len({tuple(r.original.chain)} | {tuple(e.chain) for e in getattr(r, which).evaluations})
            for r in records
        ]
        assert close(chance, ref_mean([1 - (1 - 1 / r.num_choices) ** e for r, e in zip(records, tries)]))
    else:
        assert chance is None


def check_report_data(data, runs) -> None:
    assert [r.name for r in data.runs] == [name for name, _ in runs]
    for run, (_, records) in zip(data.runs, runs):
        assert run.n == len(records)
        assert run.num_layers == records[0].num_layers
        whiches = ["search"] + (["baseline"] if any(r.baseline for r in records) else [])
        assert list(run.strategies) == whiches
        for which in whiches:
            check_strategy(records, which, run.strategies[which], run.rows[which], run.chance[which])


def check_written(written: dict, data, *, levels: bool) -> None:
    html_text = written["html"].read_text()
    md_text = written["markdown"].read_text()
    for text in (html_text, md_text):
        assert "original accuracy" in text and "oracle accuracy (any chain answers the label)" in text
        assert "chance rate" in text and "Wilson" in text
        for _, label in TRANSITIONS:
            assert label.split(" (")[0] in text
        assert ("By difficulty level" in text) == levels
        for run in data.runs:
            assert run.name in text
    # self-contained: images inline, nothing fetched
    assert html_text.count("data:image/png;base64,") == len(data.figures) >= 4
    assert not re.search(r"""(src|href)=["']https?:""", html_text)
    for name in data.figures:
        assert (written["markdown"].parent / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name}.png)" in md_text
    assert ("levels" in data.figures) == levels
    # numbers in the tables match the data
    for run in data.runs:
        row = run.rows["search"][0]
        assert f"({row.rate.successes}/{row.rate.n})" in md_text


# ------------------------------------------------------------ synthetic records
def _ev(chain, correct, answer="x"):
    return Evaluation(chain=tuple(chain), answer=answer, reward=1.0 if correct else 0.0)


def _rec(sid, orig_correct, search_evals, baseline_evals=None, level=None, L=6):
    original = _ev(full_chain(L), orig_correct)
    search = SearchOutcome(
        "mcts",
        [_ev(c, ok) for c, ok in search_evals],
        len(search_evals),
        ref_best_from(search_evals, original),
    )
    baseline = None
    if baseline_evals is not None:
        baseline = SearchOutcome(
            "random",
            [_ev(c, ok) for c, ok in baseline_evals],
            len(baseline_evals),
            ref_best_from(baseline_evals, original),
        )
    return SampleRecord(
        sample_id=sid,
        task="toy",
        gold="1",
        num_layers=L,
        original=original,
        search=search,
        baseline=baseline,
        num_choices=4,
        meta={} if level is None else {"level": level},
    )


def ref_best_from(evals, original):
    correct = [tuple(c) for c, ok in evals if ok]
    return sorted(correct, key=lambda c: (len(c), len(set(c))))[0] if correct else None


def synthetic_records():
    return [
        # correct -> shorter (0,1,2,3,5) found; a longer correct loop also found
        _rec("a", True, [((0, 1, 2, 3, 5), True), ((0, 1, 2, 2, 3, 4, 5), True)], [((1, 2), False)], level=1),
        # correct, nothing shorter: original optimal
        _rec("b", True, [((0, 1, 2), False)], [((0, 2, 3, 4, 5), True)], level=2),
        # wrong -> fixed by a looping chain; tie on length broken by fewer distinct layers
        _rec(
            "c",
            False,
            [((0, 1, 1, 3, 4, 5, 5), True), ((0, 1, 2, 3, 4, 5, 4), True), ((0, 0, 1, 1, 2, 2, 3), True)],
            [((5,), False)],
            level=2,
        ),
        # wrong -> wrong
        _rec("d", False, [((0, 1), False)], [((0, 1, 2, 3, 4, 5, 5), True)], level=1),
    ]


def test_synthetic_exact_numbers():
    records = synthetic_records()
    data = build_report_data([("toy", records)])
    check_report_data(data, [("toy", records)])
    s = data.runs[0].strategies["search"]
    assert s.transitions == {"correct_shorter": 1, "correct_optimal": 1, "wrong_fixed": 1, "wrong_wrong": 1}
    # best chains: a -> (0,1,2,3,5); b -> full; c -> (0,0,1,1,2,2,3) (4 distinct < 5); d -> None
    assert s.best_chains == [(0, 1, 2, 3, 5), full_chain(6), (0, 0, 1, 1, 2, 2, 3), None]
    assert s.lengths_correct == [5, 6] and s.lengths_wrong == [7]
    assert s.skipped == pytest.approx([0, 0, 0, 0, 2 / 3, 1 / 3])
    assert s.repeated == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0, 0, 0])
    assert s.thirds["early"]["executions"] == pytest.approx((2 + 2 + 4) / 6)
    assert [(lv.level, lv.n, lv.oracle.successes) for lv in s.levels] == [(1, 2, 1), (2, 2, 2)]
    b = data.runs[0].strategies["baseline"]
    assert b.strategy == "random"
    assert b.transitions == {"correct_shorter": 1, "correct_optimal": 1, "wrong_fixed": 1, "wrong_wrong": 1}
    rows = {r.key: r for r in data.runs[0].rows["search"]}
    assert rows["oracle_accuracy"].value == pytest.approx(0.75)
    assert rows["shorter_of_correct"].value == pytest.approx(0.5)
    # chance with k = 4: search tries 3, 2, 4, 2 distinct chains (original included), baseline 2 each
    want = sum(1 - 0.75**e for e in (3, 2, 4, 2)) / 4
    assert data.runs[0].chance == {"search": pytest.approx(want), "baseline": pytest.approx(1 - 0.75**2)}


def test_run_directory_round_trip_and_errors(tmp_path):
    run = tmp_path / "toyrun"
    run.mkdir()
    records = synthetic_records()
    (run / "records.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    (run / "config.json").write_text(json.dumps({"model": "toy-model", "task": "toy"}))
    name, loaded, config = load_run(run)
    assert name == "toyrun" and config["model"] == "toy-model"
    assert [r.to_json() for r in loaded] == [r.to_json() for r in records]
    with pytest.raises(ColaError, match="not found"):
        load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "records.jsonl").write_text("")
    with pytest.raises(ColaError, match="no records"):
        load_run(tmp_path / "empty")
    with pytest.raises(ColaError, match="no runs"):
        build_report_data([])


def test_cmd_report_compares_two_runs_same_name(tmp_path):
    """Two run dirs with the same basename are told apart; CLI entry point writes both files."""
    import argparse

    for parent in ("x", "y"):
        run = tmp_path / parent / "run"
        run.mkdir(parents=True)
        (run / "records.jsonl").write_text(
            "".join(json.dumps(r.to_json()) + "\n" for r in synthetic_records())
        )
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    args = parser.parse_args(
        [str(tmp_path / "x" / "run"), str(tmp_path / "y" / "run"), "--out", str(tmp_path / "o")]
    )
    assert cmd_report(args) == 0
    md = (tmp_path / "o" / "report.md").read_text()
    assert "run: mcts" in md and "run (2): mcts" in md and "run (2): random" in md


# ----------------------------------------------------------------- real records
ARITH = [("3 + 4", "7"), ("12 + 5", "17"), ("9 - 2", "7"), ("6 + 6", "12"), ("20 + 1", "21"), ("8 - 5", "3")]


def _answer(text: str) -> str | None:
    match = re.search(r"-?\d+", text)
    return match.group(0) if match else None


def real_records(model) -> list[SampleRecord]:
    """Answer six sums with real chains of SmolLM2: full model, a search set and a baseline set."""
    L = model.num_layers
    prompts = [f"Question: What is {q}?\nAnswer: {q} =" for q, _ in ARITH]
    search_chains = [
        tuple(range(L - 1)),  # drop the last layer
        tuple(i for i in range(L) if i != 3),
        tuple(i for i in range(L) if i not in (20, 21, 22)),
        tuple(range(16)) + (15,) + tuple(range(16, L)),  # loop a middle layer
        tuple(range(L)) + (L - 1,),
    ]
    baseline_chains = [
        tuple(i for i in range(L) if i != 1),
        tuple(range(10)) + (11, 10) + tuple(range(12, L)),  # swap two layers
        tuple(range(0, L, 2)) + tuple(range(L - 6, L)),
    ]
    answers = {}
    for chain in [full_chain(L)] + search_chains + baseline_chains:
        outs = model.generate(prompts, chain=chain, max_new_tokens=4)
        answers[chain] = [_answer(o.text) for o in outs]

    def ev(chain, row):
        answer = answers[chain][row]
        return Evaluation(chain=chain, answer=answer, reward=1.0 if answer == ARITH[row][1] else 0.0)

    def outcome(strategy, chains, row):
        evals = [ev(c, row) for c in chains]
        return SearchOutcome(
            strategy, evals, len(evals), ref_best_from([(e.chain, e.correct) for e in evals], None)
        )

    return [
        SampleRecord(
            sample_id=str(row),
            task="arith",
            gold=gold,
            num_layers=L,
            original=ev(full_chain(L), row),
            search=outcome("mcts", search_chains, row),
            baseline=outcome("random", baseline_chains, row),
            meta={"level": 1 + row % 3},
        )
        for row, (_, gold) in enumerate(ARITH)
    ]


@pytest.fixture(scope="module")
def real_run(smollm) -> list[SampleRecord]:
    return real_records(smollm)


def test_report_on_real_records(tmp_path, real_run, smollm):
    records = real_run
    outcomes = {r.original.correct for r in records}
    assert len(records) == 6 and records[0].num_layers == smollm.num_layers
    # A second "run": the same model's records without a baseline and with levels stripped,
    # to check that runs with different contents sit side by side.
    other = [SampleRecord.from_json({**r.to_json(), "baseline": None, "meta": {}}) for r in records[:4]]
    runs = [("smollm-real", records), ("smollm-no-baseline", other)]
    data = build_report_data(runs)
    check_report_data(data, runs)
    written = write_report(data, tmp_path / "report")
    check_written(written, data, levels=True)
    html_text = written["html"].read_text()
    assert "smollm-real: mcts" in html_text and "smollm-real: random" in html_text
    assert "smollm-no-baseline: mcts" in html_text and "smollm-no-baseline: random" not in html_text
    assert outcomes  # the model answered; whatever it got right, the checks above recomputed it


@pytest.mark.slow
def test_report_from_run_search(tmp_path, smollm):
    """End to end through the real runner (MCTS + random baseline), then the report CLI path."""
    from cola.runs import RunConfig, run_search
    from cola.search import SearchConfig

    config = RunConfig(task="arith", data="generated", samples=2, search=SearchConfig(simulations=4))
    run_search(config, tmp_path / "run", model=smollm, progress=False)
    name, records, saved = load_run(tmp_path / "run")
    assert name == "run" and saved["model"] == "smollm2-135m" and len(records) == 2
    data = build_report_data([(name, records, saved)])
    check_report_data(data, [(name, records)])
    written = write_report(data, tmp_path / "out")
    check_written(written, data, levels=False)
    assert "smollm2-135m" in written["markdown"].read_text()
    # the one-call entry point (what `cola report RUN --out DIR` runs) writes the same tables
    again = report([tmp_path / "run"], tmp_path / "out2")
    assert again["markdown"].read_text() == written["markdown"].read_text()


def test_partial_baseline_counts_only_records_that_ran_it(tmp_path):
    records = synthetic_records()
    records[3] = SampleRecord.from_json({**records[3].to_json(), "baseline": None})
    data = build_report_data([("partial", records)])
    check_report_data(data, [("partial", records)])
    b = data.runs[0].strategies["baseline"]
    assert b.n == 3 and b.sample_ids == ["a", "b", "c"]
    assert sum(b.transitions.values()) == 3
    written = write_report(data, tmp_path / "r")
    assert "1 (33.3%)" in written["markdown"].read_text()


def test_transition_labels_claim_only_what_the_budget_showed():
    """'original is optimal' overclaimed: a search only shows no shorter correct chain was found."""
    labels = dict(TRANSITIONS)
    assert "optimal" not in " ".join(labels.values())
    assert "within the budget" in labels["correct_optimal"] and "within the budget" in labels["wrong_wrong"]
    assert all(label.endswith("(oracle)") for label in labels.values())


def test_budget_curve_groups_runs_of_one_model_task_and_strategy(tmp_path):
    """Runs at several budgets make one curve; a run of another strategy is not a point on it."""
    runs = []
    for name, strategy, simulations in (
        ("a", "mcts", 25),
        ("b", "mcts", 50),
        ("c", "best_first", 200),
        ("d", "mcts", 200),
    ):
        run = tmp_path / name
        run.mkdir()
        (run / "records.jsonl").write_text(
            "".join(json.dumps(r.to_json()) + "\n" for r in synthetic_records())
        )
        config = {
            "model": "toy-model",
            "task": "toy",
            "search": {"strategy": strategy, "simulations": simulations},
        }
        (run / "config.json").write_text(json.dumps(config))
        runs.append(load_run(run))
    curves = build_report_data(runs).budget_curves()
    assert list(curves) == [("toy-model", "toy", "mcts")]
    assert [r.simulations for r in curves[("toy-model", "toy", "mcts")]] == [25, 50, 200]
    written = write_report(build_report_data(runs), tmp_path / "out")
    assert any("budget" in str(path) for path in written.values())
