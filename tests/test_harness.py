"""cola inside lm-evaluation-harness: ``--model cola`` against lm-eval's stock ``hf`` model.

Three offline lm-eval tasks are defined over the bundled ARC-Easy rows (a YAML per task,
``dataset_path: json`` pointing at the JSONL): multiple choice (``loglikelihood``),
greedy generation (``generate_until``) and perplexity (``loglikelihood_rolling``). The
full chain must give lm-eval's stock ``hf`` numbers on the same weights, and a chain with
a repeated layer the stock ``hf`` numbers of the exported, physically unrolled checkpoint.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("lm_eval")

import lm_eval  # noqa: E402
from lm_eval.api.registry import get_model  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

import cola  # noqa: E402
from cola.engine.chain import full_chain  # noqa: E402
from cola.engine.loading import resolve_model_path  # noqa: E402
from cola.errors import ChainSpecError, ColaError  # noqa: E402
from cola.harness import ColaLM, main, parse_chain_arg, register  # noqa: E402

ARC_ROWS = Path(cola.__file__).parent / "data" / "arc_easy_test.jsonl"
MC, GEN, ROLL = "cola_arc_mc", "cola_arc_gen", "cola_arc_roll"
TASKS = {
    MC: 'output_type: multiple_choice\ndoc_to_text: "Question: {{question}}\\nAnswer:"\n'
    'doc_to_target: "{{choices.label.index(answerKey)}}"\ndoc_to_choice: "{{choices.text}}"\n'
    "metric_list:\n  - metric: acc\n",
    GEN: 'output_type: generate_until\ndoc_to_text: "Question: {{question}}\\nAnswer: The answer is"\n'
    'doc_to_target: "{{choices.text[choices.label.index(answerKey)]}}"\n'
    'generation_kwargs:\n  until: ["."]\n  max_gen_toks: 6\n  do_sample: false\n'
    "metric_list:\n  - metric: exact_match\n",
    ROLL: 'output_type: loglikelihood_rolling\ndoc_to_text: ""\ndoc_to_target: "{{question}}"\n'
    "metric_list:\n  - metric: word_perplexity\n",
}
LIMITS = {MC: 5, GEN: 3, ROLL: 3}
REPEAT = "0-9;11;11;12-29"  # layer 10 skipped, 11 looped: 31 positions


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    for name, body in TASKS.items():
        header = f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files: {ARC_ROWS.resolve()}\ntest_split: train\n"
        (folder / f"{name}.yaml").write_text(header + body)
    return folder


def evaluate(lm, task_dir: Path, tasks=(MC, GEN, ROLL), limit: int | None = None, **kwargs) -> dict:
    """Per task: the aggregate metrics and each document's logged sample, by document (limits: LIMITS)."""
    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    out = {}
    for task in tasks:
        results = lm_eval.simple_evaluate(
            model=lm,
            tasks=[task],
            limit=limit or LIMITS[task],
            task_manager=manager,
            log_samples=True,
            **kwargs,
        )
        out[task] = (results["results"][task], sorted(results["samples"][task], key=lambda s: s["doc_id"]))
    return out


def _flat(docs) -> list:
    """Every response value of every document, in order (log-likelihood pairs, floats or strings)."""
    return [value for doc in docs for resp in doc["resps"] for value in resp]


def assert_same(ours: dict, stock: dict) -> None:
    """Equal log-likelihoods (float tolerance), greedy flags, generations and aggregate metrics."""
    for task in ours:
        (our_metrics, our_docs), (stock_metrics, stock_docs) = ours[task], stock[task]
        assert len(our_docs) == len(stock_docs) > 0
        mine, theirs = _flat(our_docs), _flat(stock_docs)
        for a, b in zip(mine, theirs, strict=True):
            if isinstance(a, str):
                assert a == b
            elif isinstance(a, tuple):
                assert a[0] == pytest.approx(b[0], rel=1e-5, abs=1e-4) and a[1] == b[1]
            else:
                assert a == pytest.approx(b, rel=1e-5, abs=1e-4)
        for key, value in stock_metrics.items():
            if isinstance(value, float) and not math.isnan(value) and "," in key:
                assert our_metrics[key] == pytest.approx(value, rel=1e-5), key


def test_chain_arg_uses_semicolons_because_model_args_split_on_commas():
    assert parse_chain_arg("0-2;4;4", 6) == (0, 1, 2, 4, 4)
    assert parse_chain_arg("0-2+4", 6) == (0, 1, 2, 4)
    assert parse_chain_arg(3, 6) == (3,)  # lm-eval turns chain=3 into an int
    assert parse_chain_arg("0-2,5", 6) == (0, 1, 2, 5)  # the Python API may pass commas
    with pytest.raises(ChainSpecError):
        parse_chain_arg("0-9", 6)


def test_full_chain_equals_stock_hf_on_the_same_weights(smollm, task_dir):
    register()
    assert get_model("hf") is HFLM  # registering cola must not hide lm-eval's own models
    ours = evaluate("cola", task_dir, model_args={"pretrained": smollm, "batch_size": 3})
    stock_args = f"pretrained={resolve_model_path('smollm2-135m')},dtype=float32,device=cpu,batch_size=3"
    stock = evaluate("hf", task_dir, model_args=stock_args)
    assert_same(ours, stock)
    assert any(text.strip() for text in _flat(stock[GEN][1]))  # the generation test is not vacuous


@pytest.fixture(scope="module")
def repeat_results(smollm, task_dir) -> dict:
    """The repeat chain through the Python API (the rolling task runs the multiple-choice forward hook)."""
    return evaluate(ColaLM(pretrained=smollm, chain=REPEAT, batch_size=2), task_dir, (MC, GEN))


def test_repeat_chain_equals_stock_hf_on_the_exported_unrolled_checkpoint(
    smollm, task_dir, tmp_path, repeat_results
):
    from cola.export import export_hf

    exported = export_hf(smollm, parse_chain_arg(REPEAT, smollm.num_layers), tmp_path / "unrolled")
    stock_lm = HFLM(pretrained=str(exported), dtype="float32", device="cpu", batch_size=2)
    assert_same(repeat_results, evaluate(stock_lm, task_dir, (MC, GEN)))
    full = evaluate(ColaLM(pretrained=smollm, batch_size=2), task_dir, tasks=(MC,), limit=2)
    assert _flat(full[MC][1]) != _flat(repeat_results[MC][1][:2])  # the chain really changed the model


def test_full_chain_equals_stock_hf_on_gemma(gemma, task_dir):
    """Mixed sliding-window / full attention: the same numbers as lm-eval's hf model object."""
    stock_lm = HFLM(pretrained=gemma.model, tokenizer=gemma.tokenizer, batch_size=3)
    ours = evaluate(ColaLM(pretrained=gemma, batch_size=3), task_dir, tasks=(MC,), limit=3)
    stock = evaluate(stock_lm, task_dir, tasks=(MC,), limit=3)
    assert_same(ours, stock)


@pytest.fixture(scope="module")
def knn_run(smollm, tmp_path_factory) -> Path:
    """A training run whose records name a different correct chain per sample (the kNN targets)."""
    from cola.runs import RunConfig
    from cola.runs.config import load_samples
    from cola.runs.records import Evaluation, SampleRecord, SearchOutcome
    from cola.runs.store import RunStore

    config = RunConfig(model="smollm2-135m", task="arc_easy", data="bundled", samples=6, baseline=False)
    _, samples = load_samples(config)
    store = RunStore(tmp_path_factory.mktemp("knn") / "train")
    store.create(config.to_json())
    full = full_chain(smollm.num_layers)
    for i, sample in enumerate(samples):
        chain = full[:i] + full[i + 1 :] if i % 2 else (*full[: i + 3], i + 2, *full[i + 3 :])
        search = SearchOutcome("mcts", [Evaluation(chain, sample.gold, 1.0)], 1, chain)
        store.append(
            SampleRecord(
                sample.id, "arc_easy", sample.gold, smollm.num_layers, Evaluation(full, "x", 0.0), search
            )
        )
    return store.path


def test_predictor_from_a_run_chooses_among_its_targets(smollm, knn_run):
    from cola.predict import KNNPredictor, record_chain_targets
    from cola.predict.base import load_training_run

    lm = ColaLM(pretrained=smollm, predictor=str(knn_run), predictor_kind="knn")
    assert isinstance(lm.chooser.predictor, KNNPredictor) and lm.chooser.fixed is None
    targets = {chain for _, chain in record_chain_targets(load_training_run(knn_run).records)}
    assert lm.chooser.choose(lm.tok_encode("Question: Why is the sky blue?\nAnswer:")) in targets


def test_per_input_chains_equal_each_inputs_chain_run_alone(smollm, task_dir):
    """Each document runs the chain its context picks (grouped by chain) and scores as that chain alone."""
    from lm_eval.api.instance import Instance

    from cola.harness.chains import PredictedChain
    from cola.predict import KNNPredictor, prompt_embedding

    rows = [json.loads(line) for line in ARC_ROWS.read_text().splitlines()[:3]]
    contexts = [f"Question: {row['question']}\nAnswer:" for row in rows]
    lm = ColaLM(pretrained=smollm, batch_size=4)
    keys = torch.stack([prompt_embedding(smollm, torch.tensor([lm.tok_encode(c)])) for c in contexts])
    full = full_chain(smollm.num_layers)
    targets = [
        full[:i] + full[i + 1 :] if i % 2 else (*full[: i + 3], i + 2, *full[i + 3 :])
        for i in range(len(rows))
    ]
    lm.chooser = PredictedChain(
        smollm, KNNPredictor(keys, targets, smollm.num_layers, smollm.num_layers // 2)
    )
    _, docs = evaluate(lm, task_dir, tasks=(MC,), limit=len(rows))[MC]
    for doc, target in zip(docs, targets, strict=True):
        pairs = [tuple(arguments) for arguments in doc["arguments"]]
        assert pairs[0][0] == contexts[doc["doc_id"]]
        assert lm.chooser.choose(lm.tok_encode(pairs[0][0])) == target  # its own context is its nearest key
        alone = ColaLM(pretrained=smollm, chain=list(target))
        expected = alone.loglikelihood([Instance("loglikelihood", {}, pair, 0) for pair in pairs])
        got = [resp[0] for resp in doc["resps"]]
        assert [g[0] for g in got] == pytest.approx([e[0] for e in expected], rel=1e-5, abs=1e-4)


def test_input_independent_predictor_is_one_fixed_chain(smollm, knn_run):
    lm = ColaLM(pretrained=smollm, predictor=str(knn_run), predictor_kind="block-influence", drop=3)
    assert lm.chooser.fixed is not None and len(lm.chooser.fixed) == smollm.num_layers - 3
    assert lm.current_chain() == lm.chooser.fixed


def test_one_line_errors(smollm, knn_run):
    with pytest.raises(ColaError, match="either chain= or predictor="):
        ColaLM(pretrained=smollm, chain="0-3", predictor=str(knn_run))
    with pytest.raises(ColaError, match="predictor_kind"):
        ColaLM(pretrained=smollm, predictor=str(knn_run), predictor_kind="oracle")
    with pytest.raises(ColaError, match="--drop"):
        ColaLM(pretrained=smollm, predictor=str(knn_run), predictor_kind="angular")
    register()
    with pytest.raises(ChainSpecError, match="unknown layer index 30"):  # through lm-eval's registry
        get_model("cola").create_from_arg_obj({"pretrained": smollm, "chain": "0-30"})
    lm = ColaLM(pretrained=smollm, chain="0-29")
    with pytest.raises(ColaError, match="sampling"):
        lm._model_generate(torch.tensor([[1, 2]]), 4, ["."], do_sample=True, temperature=0.7)
    with pytest.raises(ColaError, match="num_beams"):
        lm._model_generate(torch.tensor([[1, 2]]), 4, ["."], do_sample=False, num_beams=4)


def test_cola_lm_eval_command_runs_lm_evals_cli(smollm, task_dir, tmp_path, monkeypatch, repeat_results):
    from cola.engine import ChainModel

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(lambda cls, *a, **k: smollm))

    class OnlyIncludedTasks(TaskManager):  # the CLI would index lm-eval's ~15k bundled tasks (20-40 s)
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "include_defaults": False})

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", OnlyIncludedTasks)
    args = [
        "run", "--model", "cola", "--model_args", f"pretrained=smollm2-135m,chain={REPEAT}",
        "--tasks", MC, "--include_path", str(task_dir), "--limit", str(LIMITS[MC]), "--device", "cpu",
        "--output_path", str(tmp_path / "out"), "--log_samples",
    ]  # fmt: skip
    assert main(args) == 0
    [written] = list((tmp_path / "out").rglob("samples_*.jsonl"))
    cli_docs = sorted(
        (json.loads(line) for line in written.read_text().splitlines()), key=lambda d: d["doc_id"]
    )
    api_docs = repeat_results[MC][1]
    cli = [value for doc in cli_docs for resp in doc["resps"] for value in resp]
    assert [float(v[0]) for v in cli] == pytest.approx([v[0] for v in _flat(api_docs)], rel=1e-5, abs=1e-4)


@pytest.fixture
def lm_eval_cli(smollm, monkeypatch):
    """``cola-lm-eval`` in-process on the session's SmolLM2, indexing only the tasks given with --include_path;
    returns the ColaLM instances lm-eval made."""
    from cola.engine import ChainModel

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(lambda cls, *a, **k: smollm))

    class OnlyIncludedTasks(TaskManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "include_defaults": False})

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", OnlyIncludedTasks)
    made = []
    create = ColaLM.create_from_arg_obj.__func__

    def keep(cls, *args, **kwargs):
        made.append(create(cls, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ColaLM, "create_from_arg_obj", classmethod(keep))
    return made


def _cli_args(task_dir: Path, model_args: str, *extra: str, task: str = MC) -> list[str]:
    return [
        "run", "--model", "cola", "--model_args", model_args, "--tasks", task,
        "--include_path", str(task_dir), "--limit", "2", "--device", "cpu", *extra,
    ]  # fmt: skip


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("cola-lm-eval: error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("model_args", "extra"),
    [("pretrained=smollm2-135m,batch_size=2", ()), ("pretrained=smollm2-135m", ("--batch_size", "2"))],
    ids=["in-model_args", "as-option"],
)
def test_batch_size_works_in_every_documented_form(lm_eval_cli, task_dir, model_args, extra):
    """``--model_args ...,batch_size=8`` met ``--batch_size``'s default as a second keyword (TypeError)."""
    assert main(_cli_args(task_dir, model_args, *extra)) == 0
    [lm] = lm_eval_cli
    assert lm.batch_size_per_gpu == 2


def test_a_batch_size_given_two_ways_is_one_line(lm_eval_cli, task_dir, capsys):
    args = _cli_args(task_dir, "pretrained=smollm2-135m,batch_size=2", "--batch_size", "3")
    assert main(args) == 2
    assert "batch_size is given twice: 2 in model_args and 3 as --batch_size" in _one_error_line(capsys)


def test_an_unknown_model_args_key_is_refused_naming_it(smollm, lm_eval_cli, task_dir, capsys):
    """``chian=0-3`` used to be dropped: the full model scored, exit 0."""
    assert main(_cli_args(task_dir, "pretrained=smollm2-135m,chian=0-3")) == 2
    line = _one_error_line(capsys)
    assert "unknown model_args key 'chian' for --model cola; valid keys: pretrained, chain, predictor" in line
    assert lm_eval_cli == []
    register()
    with pytest.raises(ColaError, match="unknown model_args key 'chian'"):  # the Python API too
        get_model("cola").create_from_arg_string("chian=0-3", {"batch_size": 1})
    with pytest.raises(ColaError, match="unknown model_args key 'batchsize'"):
        ColaLM(pretrained=smollm, batchsize=4)


def test_an_unknown_task_is_one_line(lm_eval_cli, task_dir, capsys):
    assert main(_cli_args(task_dir, "pretrained=smollm2-135m", task="no_such_task")) == 2
    assert "Tasks not found: no_such_task" in _one_error_line(capsys)
