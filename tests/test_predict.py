"""Label-free chain predictors: kNN, PoLar heads, dataset chain, the vote and the evaluation."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
from collections import Counter

import pytest
import torch

from cola.engine.chain import full_chain
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.predict import (
    DatasetChainPredictor,
    DatasetEvaluator,
    KNNPredictor,
    PolarPredictor,
    best_chain,
    chain_to_actions,
    decode_topk,
    evaluate_predictor,
    prompt_embedding,
    record_chain_targets,
    vote,
)
from cola.predict.base import load_training_run
from cola.predict.evaluate import disjoint_from
from cola.predict.fit import FitOptions, fit_predictor
from cola.predict.polar import actions_to_chain
from cola.report.proportion import wilson_interval as wilson
from cola.runs.records import Evaluation, SampleRecord, SearchOutcome

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------- hand-made parts


def _record(sample_id, evaluations, num_layers=4, original_correct=False):
    original = Evaluation(full_chain(num_layers), "x", 1.0 if original_correct else 0.0)
    search = SearchOutcome(
        "mcts", [Evaluation(tuple(c), "a", r) for c, r in evaluations], len(evaluations), None
    )
    return SampleRecord(sample_id, "arith", "1", num_layers, original, search)


def test_best_chain_is_shortest_correct_then_fewest_distinct_then_first():
    record = _record("s", [((0, 1, 2), 1.0), ((0, 0, 1), 1.0), ((0, 1), 0.0), ((1, 2, 3), 1.0)])
    assert best_chain(record) == (0, 0, 1)  # 2 distinct layers beats 3
    assert best_chain(_record("t", [((0, 1), 0.0)])) is None
    assert best_chain(_record("u", [((0, 1), 0.0)], original_correct=True)) == (0, 1, 2, 3)
    records = [_record("a", [((0,), 1.0)]), _record("b", [((0, 1), 0.0)])]
    assert [c for _, c in record_chain_targets(records)] == [(0,)]
    assert [c for _, c in record_chain_targets(records, "full")] == [(0,), (0, 1, 2, 3)]


def test_knn_retrieves_cosine_neighbours_in_order():
    keys = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.9, 0.1, 0.0]])
    chains = [(0, 1), (1, 2), (2, 3), (0, 1)]
    knn = KNNPredictor(keys, chains, num_layers=4, center=False)
    query = torch.tensor([[0.0, 2.0, 0.1], [5.0, 0.2, 0.0]])
    sims, order = knn.neighbors(query)
    expected = torch.nn.functional.normalize(query, dim=-1) @ torch.nn.functional.normalize(keys, dim=-1).T
    assert torch.allclose(sims, expected.sort(dim=-1, descending=True).values)
    assert order[0].tolist() == [1, 3, 2, 0]
    assert order[1].tolist() == [0, 3, 1, 2]
    ranked = knn.rank(query, 2)
    assert ranked[0] == [(1, 2), (0, 1)]
    assert ranked[1] == [(0, 1), (1, 2)]  # neighbours 0 and 3 share a chain: counted once
    assert knn.rank(query, 10)[0] == [(1, 2), (0, 1), (2, 3)]


def test_knn_centres_by_the_training_mean():
    # All keys share a large common offset; centring lets the small differences decide.
    offset = torch.tensor([100.0, 100.0, 0.0])
    keys = offset + torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    knn = KNNPredictor(keys, [(0,), (1,)], num_layers=2)
    assert knn.rank(offset[None] + torch.tensor([[0.0, 0.8, 0.0]]), 1) == [[(1,)]]
    assert knn.rank(offset[None] + torch.tensor([[0.8, 0.0, 0.0]]), 1) == [[(0,)]]


def test_polar_actions_round_trip():
    assert chain_to_actions((0, 2, 2, 3), 5) == [1, 0, 2, 1, 0]
    assert actions_to_chain([1, 0, 2, 1, 0]) == (0, 2, 2, 3)
    assert chain_to_actions((3, 1, 1, 1), 4) == [0, 2, 0, 1]  # order dropped, 3 passes -> repeat
    assert actions_to_chain([0, 0, 0]) == ()


def test_decode_topk_matches_brute_force_and_skips_the_empty_chain():
    generator = torch.Generator().manual_seed(0)
    for trial in range(5):
        logits = torch.randn(4, 3, generator=generator) * 2
        if trial == 0:
            logits[:, 0] += 10  # all-skip is the most likely assignment and must be excluded
        log_probs = torch.log_softmax(logits, -1)
        brute = []
        for actions in itertools.product(range(3), repeat=4):
            chain = actions_to_chain(actions)
            if chain:
                brute.append((float(sum(log_probs[i, a] for i, a in enumerate(actions))), chain))
        brute.sort(key=lambda item: -item[0])
        top = decode_topk(log_probs, 6)
        assert [c for c, _ in top] == [c for _, c in brute[:6]]
        assert all(math.isclose(s, b, abs_tol=1e-5) for (_, s), (b, _) in zip(top, brute))


def test_polar_fits_separable_targets_deterministically():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(12, 8, generator=generator)
    chains = [(0, 1, 2, 3) if row[0] > 0 else (0, 1, 1, 3) for row in x]
    a = PolarPredictor.fit(x, chains, num_layers=4, epochs=200, seed=3)
    b = PolarPredictor.fit(x, chains, num_layers=4, epochs=200, seed=3)
    assert torch.equal(a.log_probs(x), b.log_probs(x))
    assert [r[0] for r in a.rank(x, 3)] == chains
    assert a.train_loss < 0.1


def test_vote_majority_ties_by_rank_and_ignores_missing():
    assert vote(["4", "5", "5"]) == "5"
    assert vote(["4", "5"]) == "4"
    assert vote(["4", "5", "5", "4"]) == "4"  # 2-2: "4" came first
    assert vote([None, None, "7"]) == "7"
    assert vote([None, "3", "2"]) == "3"
    assert vote([None]) is None


def test_wilson_interval_known_values():
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(0, 0) == (0.0, 1.0)


# -------------------------------------------------------------- a real small run
TRAIN = 6  # arith questions 0..5 of seed 0 train; the rest of the first pass are test


@pytest.fixture(scope="module")
def train_run(smollm, tmp_path_factory):
    from cola.runs import RunConfig, run_search
    from cola.search import SearchConfig

    out = tmp_path_factory.mktemp("predict") / "train"
    config = RunConfig(
        model="smollm2-135m",
        task="arith",
        data="generated",
        samples=TRAIN,
        seed=0,
        baseline=False,
        length_null=False,  # a training run: only the search's chains are fitted on
        sampling=False,
        search=SearchConfig(simulations=6),
    )
    run_search(config, out, model=smollm, progress=False)
    return load_training_run(out)


@pytest.fixture(scope="module")
def test_samples(train_run):
    from cola.runs import load_samples

    _, samples = load_samples(dataclasses.replace(train_run.config, samples=TRAIN + 4))
    kept, dropped = disjoint_from(samples, list(train_run.samples.values()))
    assert dropped == TRAIN and len(kept) == 4
    return kept


def test_prompt_embedding_matches_hf_hidden_states(smollm):
    ids, _ = smollm.encode(["Q: What is 3 * 4?\nA:"])
    with torch.inference_mode():
        hidden = smollm.model(input_ids=ids, output_hidden_states=True).hidden_states
    for layer in (0, 5, smollm.num_layers // 2):
        ours = prompt_embedding(smollm, ids, layer)
        assert torch.allclose(ours, hidden[layer][0].float().mean(0), atol=1e-4)


def _independent_report(smollm, task, samples, chains_per_sample, vote_m):
    """Re-grade the predicted chains with the naive evaluator and tally by hand."""
    scorer = ChainScorer(smollm, task, EvalConfig(mode="naive"))
    full_hits = top1_hits = vote_hits = pass_hits = 0
    depth = 0
    for sample, chains in zip(samples, chains_per_sample):
        ev = scorer.for_sample(sample)
        full = ev.evaluate([full_chain(smollm.num_layers)])[0]
        preds = ev.evaluate(chains)
        full_hits += full.correct
        top1_hits += preds[0].correct
        depth += len(chains[0])
        pass_hits += any(p.correct for p in preds)
        answers = [p.answer for p in preds[:vote_m] if p.answer is not None]
        if answers:
            counts = Counter(answers)
            top = max(counts.values())
            winner = next(a for a in answers if counts[a] == top)
            vote_hits += task.is_correct(winner, sample)
    return full_hits, top1_hits, vote_hits, pass_hits, depth / len(samples)


@pytest.mark.parametrize("kind", ["knn", "polar", "dataset"])
def test_predictors_on_a_real_run(kind, smollm, train_run, test_samples):
    scorer = ChainScorer(smollm, train_run.task, train_run.config.eval)
    fitted = fit_predictor(kind, smollm, train_run, FitOptions(simulations=4, epochs=100), scorer=scorer)
    predictor = fitted.predictor
    report = evaluate_predictor(predictor, scorer, test_samples, top_k=3, vote_m=3)
    n = len(test_samples)
    assert report.full.n == report.top1.n == report.vote.n == report.pass_at_k.n == n
    for result in report.samples:
        assert 1 <= len(result.chains) <= 3
        assert all(0 <= layer < smollm.num_layers for chain in result.chains for layer in chain)
    if kind == "knn":
        pairs = record_chain_targets(train_run.records)
        targets = {c for _, c in pairs} or {full_chain(smollm.num_layers)}
        assert all(set(r.chains) <= targets for r in report.samples)
        assert fitted.info["train_targets"] == len(pairs)
    if kind == "dataset":
        assert len({tuple(map(tuple, r.chains)) for r in report.samples}) == 1  # the same for every input
        chain = tuple(fitted.info["dataset_chain"])
        assert report.samples[0].chains[0] == chain
        # The chain's train accuracy, recomputed directly.
        hits = sum(
            scorer.for_sample(s).evaluate([chain])[0].correct for s in train_run.samples_of(train_run.records)
        )
        assert fitted.info["train_accuracy"] == pytest.approx(hits / len(train_run.records))
    chains = [r.chains for r in report.samples]
    full, top1, voted, passed, depth = _independent_report(smollm, train_run.task, test_samples, chains, 3)
    assert (report.full.successes, report.top1.successes) == (full, top1)
    assert (report.vote.successes, report.pass_at_k.successes) == (voted, passed)
    assert report.top1_depth == pytest.approx(depth)
    assert report.full_depth == smollm.num_layers
    assert report.pass_at_k.successes >= report.top1.successes
    assert report.top1.ci == wilson(top1, n)
    assert "ORACLE pass@3" in report.format()


def test_dataset_evaluator_rewards_are_mean_correctness(smollm, train_run):
    scorer = ChainScorer(smollm, train_run.task, train_run.config.eval)
    samples = train_run.samples_of(train_run.records)[:4]
    evaluator = DatasetEvaluator(scorer, samples)
    chains = [full_chain(30), tuple(range(0, 30, 2)), tuple(range(25))]
    got = evaluator.evaluate(chains)
    for chain, evaluation in zip(chains, got):
        flags = [scorer.for_sample(s).evaluate([chain])[0].correct for s in samples]
        assert evaluation.reward == pytest.approx(sum(flags) / 4)
        assert evaluator.correctness(chain) == flags
    full_hits = sum(r.original.correct for r in train_run.records[:4])
    assert got[0].reward == pytest.approx(full_hits / 4)
    predictor = DatasetChainPredictor([chains[1], chains[0]], 30)
    assert predictor.rank(torch.zeros(3, 0), 1) == [[chains[1]]] * 3


def test_cli_predict_and_evaluate(smollm, train_run, tmp_path, monkeypatch):
    from cola.cli.predict import add_evaluate_arguments, add_predict_arguments, cmd_evaluate, cmd_predict
    from cola.engine import ChainModel

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(lambda cls, *a, **k: smollm))
    common = [
        "--run",
        str(train_run.path),
        "--predictor",
        "knn",
        "--samples",
        str(TRAIN + 3),
        "--top-k",
        "2",
        "--quiet",
    ]
    parser = argparse.ArgumentParser()
    add_predict_arguments(parser)
    preds = tmp_path / "preds.jsonl"
    assert cmd_predict(parser.parse_args([*common, "--out", str(preds)])) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(rows) == 3 and all("gold" not in row for row in rows)
    assert all(1 <= len(row["chains"]) <= 2 for row in rows)

    parser = argparse.ArgumentParser()
    add_evaluate_arguments(parser)
    report_path = tmp_path / "report.json"
    assert cmd_evaluate(parser.parse_args([*common, "--json", str(report_path), "--vote", "2"])) == 0
    report = json.loads(report_path.read_text())
    assert report["full"]["n"] == 3 and report["oracle_pass_at_k"]["n"] == 3
    assert report["extra"]["test_dropped_overlap"] == TRAIN


# ------------------------------------------------------- train/test disjointness in the API
def test_evaluate_predictor_refuses_training_samples_by_id_and_by_question(smollm, train_run, test_samples):
    from cola.errors import ColaError
    from cola.tasks.base import Sample

    scorer = ChainScorer(smollm, train_run.task, train_run.config.eval)
    fitted = fit_predictor("knn", smollm, train_run, FitOptions())
    train = train_run.samples_of(train_run.records)
    with pytest.raises(
        ColaError, match=f"test sample '{train[0].id}' is in the knn predictor's training data"
    ):
        evaluate_predictor(fitted.predictor, scorer, [test_samples[0], train[0]], top_k=1, vote_m=1)
    renamed = dataclasses.replace(train[1], id="renamed", question="  " + train[1].question.upper() + " ")
    with pytest.raises(ColaError, match="'renamed'.*same question"):
        evaluate_predictor(fitted.predictor, scorer, [renamed], top_k=1, vote_m=1)
    same_id = Sample(id=train[2].id, question="What is 1 + 1?", gold="2")
    with pytest.raises(ColaError, match="same id"):
        evaluate_predictor(fitted.predictor, scorer, [same_id], top_k=1, vote_m=1)
    kept, dropped = disjoint_from([renamed, same_id, *test_samples], train)
    assert kept == test_samples and dropped == 2  # the CLI drops exactly what the API refuses


# ------------------------------------------------------------ depth sweep on a real run
@pytest.fixture(scope="module")
def sweep(smollm, train_run, test_samples):
    from cola.predict.sweep import depth_sweep

    scorer = ChainScorer(smollm, train_run.task, train_run.config.eval)
    options = FitOptions(simulations=4, train_samples=1)
    methods = ["block-influence", "angular", "greedy-drop", "dataset"]
    return depth_sweep(smollm, scorer, train_run, test_samples, methods, [0, 2, 1], options)


def test_sweep_chains_have_the_requested_depth(smollm, sweep):
    num_layers = smollm.num_layers
    assert sweep.drops == [0, 1, 2]
    for method in ("block-influence", "angular", "greedy-drop"):
        for drop in sweep.drops:
            chain = sweep.point(method, drop).chain
            assert len(chain) == num_layers - drop and list(chain) == sorted(set(chain))
            dropped = sorted(set(range(num_layers)) - set(chain))
            if method == "angular" and dropped:
                assert dropped == list(range(dropped[0], dropped[0] + drop))  # one consecutive block
    greedy = [set(sweep.point("greedy-drop", n).chain) for n in sweep.drops]
    assert greedy[0] > greedy[1] > greedy[2]  # greedy drops one more layer each step
    for drop in sweep.drops:
        point = sweep.point("dataset", drop)
        assert point is None or len(point.chain) <= num_layers - drop
    assert sweep.point("dataset", 0) is not None  # the full chain always fits the full depth


def test_sweep_accuracies_are_the_chains_held_out_accuracies(
    smollm, train_run, test_samples, sweep, tmp_path
):
    from cola.predict.importance import calibrate, drop_lowest
    from cola.predict.sweep import plot_sweep

    scorer = ChainScorer(smollm, train_run.task, train_run.config.eval)  # a fresh scorer, one chain at a time
    for method, drop in (("block-influence", 2), ("greedy-drop", 1)):
        point = sweep.point(method, drop)
        hits = sum(scorer.for_sample(s).evaluate([point.chain])[0].correct for s in test_samples)
        assert (point.accuracy.successes, point.accuracy.n) == (hits, len(test_samples))
        assert point.accuracy.ci == wilson(hits, len(test_samples))
    full_hits = sum(scorer.for_sample(s).evaluate([full_chain(30)])[0].correct for s in test_samples)
    assert sweep.full.successes == full_hits
    influence = calibrate(smollm, train_run.prompts(smollm.tokenizer)).block_influence().tolist()
    assert sweep.point("block-influence", 2).chain == drop_lowest(influence, 2)
    train = train_run.samples_of(train_run.records)[:1]
    greedy_chain = sweep.point("greedy-drop", 1).chain
    train_hits = sum(scorer.for_sample(s).evaluate([greedy_chain])[0].correct for s in train)
    assert sweep.fits["greedy-drop"]["train_accuracy"][1] == pytest.approx(train_hits / 1)
    table = sweep.markdown()
    assert table.count("\n| ") == 1 + len(sweep.drops) and "block-influence" in table
    png = plot_sweep([sweep], tmp_path / "sweep.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_sweep_refuses_test_samples_from_the_training_run(smollm, train_run):
    from cola.errors import ColaError
    from cola.predict.sweep import depth_sweep

    scorer = ChainScorer(smollm, train_run.task, train_run.config.eval)
    train = train_run.samples_of(train_run.records)
    with pytest.raises(ColaError, match="in the sweep training data"):
        depth_sweep(smollm, scorer, train_run, train[:1], ["angular"], [1], FitOptions())


def test_cli_lists_match_the_library():
    from cola.cli.predict import PREDICTORS as CLI_PREDICTORS
    from cola.cli.sweep import METHODS
    from cola.predict.depth import DEPTH_METHODS
    from cola.predict.fit import PREDICTORS

    assert CLI_PREDICTORS == PREDICTORS and set(METHODS) == set(DEPTH_METHODS)


def test_cli_evaluate_compares_several_predictors_and_sweep_writes_its_files(
    smollm, train_run, tmp_path, monkeypatch, capsys
):
    from cola.cli import main
    from cola.engine import ChainModel

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(lambda cls, *a, **k: smollm))
    common = ["--run", str(train_run.path), "--samples", str(TRAIN + 2)]
    assert main(["evaluate", *common, "--predictor", "block-influence", "--quiet"]) == 2
    assert "needs the number of layers to drop (--drop N)" in capsys.readouterr().err
    report = tmp_path / "report.json"
    args = ["--predictor", "knn,block-influence", "--drop", "3", "--top-k", "1", "--vote", "1", "--quiet"]
    assert main(["evaluate", *common, *args, "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "comparison on 2 held-out samples" in out and "block-influence" in out
    reports = json.loads(report.read_text())
    assert [r["predictor"] for r in reports] == ["knn", "block-influence"]
    assert reports[1]["top1_depth"] == 27 and reports[1]["extra"]["chain_length"] == 27
    sweep_args = ["--methods", "block-influence,angular", "--drops", "0-2", "--out", str(tmp_path / "sw")]
    assert main(["sweep", *common, *sweep_args]) == 0
    data = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert data["test_samples"] == 2 and data["test_dropped_overlap"] == TRAIN
    assert {(p["method"], p["drop"], p["depth"]) for p in data["points"]} == {
        (m, n, 30 - n) for m in ("block-influence", "angular") for n in range(3)
    }
    assert (tmp_path / "sw" / "sweep.png").exists() and (tmp_path / "sw" / "sweep.md").exists()
