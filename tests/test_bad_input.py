"""Every bad input is one clear line (exit 2), written nowhere; data is never silently changed.

The CLI cases run ``cola.cli.main`` in-process: an unexpected exception would escape
``main`` and fail the test with its traceback, so "rc 2 and one ``cola: error:`` line"
proves the CLI printed no traceback. Where a command names an output, the test also
checks that nothing was written there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cola.cli import main
from cola.errors import ContextLengthError, DatasetError
from cola.runs import RunConfig, run_search
from cola.search import SearchConfig
from cola.tasks import get_task

ARC_ROW = {
    "id": "q1",
    "question": "Which is a gas?",
    "answerKey": "B",
    "choices": {"text": ["rock", "steam", "ice", "wood"], "label": ["A", "B", "C", "D"]},
}
GSM_ROW = {"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"}
MATH_ROW = {"problem": "What is $1+1$?", "answer": "2", "level": 1, "unique_id": "m1"}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# cola's own line while it prepares an embedded model on a cold cache (any command that
# loads one may print it, once per machine); no other output may come with an error.
FIRST_USE = ("cola: smollm2-135m: first use", "cola: gemma3-270m: first use")


def one_line_error(capsys, args: list[str], after_load: bool = False) -> str:
    """Run the CLI; it must exit 2 with exactly one ``cola: error:`` line on stderr.

    ``after_load``: the error needs the model (its depth, its chat template), so the line
    saying where the model loaded (``cola: device ...``) comes first and is allowed. On a
    cold cache the one line preparing an embedded model is allowed too.
    """
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if not line.startswith(FIRST_USE)]
    if after_load:
        assert lines[0].startswith("cola: device "), err
        lines = lines[1:]
    assert len(lines) == 1 and lines[0].startswith("cola: error: "), err
    return lines[0]


# ----------------------------------------------------------------- data rows
def test_undecodable_bytes_name_the_file_and_row(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        json.dumps(GSM_ROW).encode()
        + b"\n"
        + '{"question": "caf\xe9?", "answer": "#### 1"}\n'.encode("latin-1")
    )
    with pytest.raises(
        DatasetError, match=r"latin1.jsonl: row 2: not valid UTF-8 \(byte 0xe9 at column 18\)"
    ):
        get_task("gsm8k").load(str(path))


def test_a_byte_order_mark_is_harmless(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GSM_ROW).encode() + b"\n")
    assert get_task("gsm8k").load(str(path))[0].gold == "5"


def _arc(**changes) -> dict:
    row = json.loads(json.dumps(ARC_ROW))
    for dotted, value in changes.items():
        target = row
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return row


@pytest.mark.parametrize(
    ("task", "row", "message"),
    [
        ("arc_easy", _arc(choices__text=5), "field 'choices.text' must be a list, got an int"),
        ("arc_easy", _arc(choices__text="wxyz"), "field 'choices.text' must be a list, got a string"),
        ("arc_easy", _arc(choices__label="ABCD"), "field 'choices.label' must be a list, got a string"),
        (
            "arc_easy",
            _arc(choices__text=["a", 2, "c", "d"]),
            "field 'choices.text' item 1 must be a string, got an int",
        ),
        ("arc_easy", _arc(choices__label=["A", "A", "C", "D"]), "repeats a label"),
        ("arc_easy", _arc(question=["Which", "is"]), "field 'question' must be a string, got a list"),
        ("arc_easy", _arc(question="  "), "field 'question' is empty"),
        ("arc_easy", _arc(answerKey=True), "field 'answerKey' must be a string or a number, got a bool"),
        ("gsm8k", {**GSM_ROW, "question": ["a", "b"]}, "field 'question' must be a string, got a list"),
        ("gsm8k", {**GSM_ROW, "answer": 5}, "field 'answer' must be a string, got an int"),
        ("gsm8k", {**GSM_ROW, "id": {"n": 1}}, "field 'id' must be a string or a number, got an object"),
        ("math", {**MATH_ROW, "problem": {"text": "x"}}, "field 'problem' must be a string, got an object"),
        ("math", {**MATH_ROW, "answer": [2]}, "field 'answer' must be a string or a number, got a list"),
        ("math", {**MATH_ROW, "level": [3]}, "field 'level' must be a string or a number, got a list"),
    ],
)
def test_wrong_types_are_refused_not_converted(tmp_path, task, row, message):
    path = write_jsonl(tmp_path / "rows.jsonl", [row])
    with pytest.raises(DatasetError) as info:
        get_task(task).load(str(path))
    assert str(info.value).startswith(f"{path}: row 1: ")
    assert message in str(info.value)


def test_numbers_are_accepted_where_they_mean_themselves(tmp_path):
    arc = write_jsonl(tmp_path / "arc.jsonl", [_arc(id=7, choices__label=[1, 2, 3, 4], answerKey=2)])
    sample = get_task("arc_easy").load(str(arc))[0]
    assert (sample.id, sample.gold, sample.meta["source_labels"]) == ("7", "B", ["1", "2", "3", "4"])
    math = write_jsonl(tmp_path / "math.jsonl", [{**MATH_ROW, "answer": 2}])
    assert get_task("math").load(str(math))[0].gold == "2"


@pytest.mark.parametrize(
    ("task", "rows"),
    [
        ("arc_easy", [ARC_ROW, _arc(question="Another?")]),
        ("gsm8k", [{**GSM_ROW, "id": "a"}, {**GSM_ROW, "id": "b"}, {**GSM_ROW, "id": "a"}]),
        ("gsm8k", [GSM_ROW, {**GSM_ROW, "id": "test-0"}]),  # an explicit id equal to a positional one
    ],
)
def test_duplicate_sample_ids_are_refused(tmp_path, task, rows):
    """A run keys records by sample id: a duplicate would silently drop one of the rows (which, by timing)."""
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    row = len(rows)
    with pytest.raises(
        DatasetError, match=rf"dup.jsonl: row {row}: duplicate sample id '.+' \(first at .*dup.jsonl: row 1\)"
    ):
        get_task(task).load(str(path))


def test_no_samples_is_an_error_not_an_empty_run(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="empty.jsonl has no rows"):
        get_task("gsm8k").load(str(empty))
    with pytest.raises(DatasetError, match=r"no samples at levels \[9\]"):
        get_task("math").load(levels=[9])


# ---------------------------------------------------- one line, nothing written
@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes('{"question": "caf\xe9?", "answer": "#### 1"}\n'.encode("latin-1"))
    (tmp_path / "a_file").write_text("not a directory")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    return {
        "latin1": latin,
        "int_choices": write_jsonl(tmp_path / "int_choices.jsonl", [_arc(choices__text=5)]),
        "empty": write_jsonl(tmp_path / "empty.jsonl", []),
        "dups": write_jsonl(tmp_path / "dups.jsonl", [{**GSM_ROW, "id": "x"}, {**GSM_ROW, "id": "x"}]),
        "file": tmp_path / "a_file",
        "full": tmp_path / "full",
    }


SEARCH = ["search", "--samples", "2", "--simulations", "2", "--no-length-null", "--no-sampling", "--quiet"]
SEARCH_CASES = [
    (["--strategy", "nope"], "unknown search strategy 'nope'"),
    (["--task", "nope"], "unknown task 'nope'"),
    (["--simulations", "-1"], "--simulations must be an integer >= 0, got -1"),
    (["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
    (["--levels", "1"], "task arith has no difficulty levels"),
    (["--task", "math", "--levels", "x"], "--levels must be comma-separated integers like 1,2, got 'x'"),
    (["--task", "math", "--levels", "9"], "no samples at levels [9]"),
    (["--samples", "-1"], "--samples must be a positive integer (0 = all), got -1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be a positive integer, got 0"),
    (["--max-new-tokens", "-1"], "--max-new-tokens must be a positive integer, got -1"),
    (["--scoring", "choice"], "--scoring choice needs a multiple-choice task"),
    (["--concurrent-samples", "0"], "--concurrent-samples must be at least 1"),
    (["--prefix-cache-mb", "-5"], "--prefix-cache-mb must be a number >= 0"),
    (["--task", "gsm8k", "--data", "{latin1}"], "row 1: not valid UTF-8 (byte 0xe9"),
    (["--task", "arc_easy", "--data", "{int_choices}"], "field 'choices.text' must be a list, got an int"),
    (["--task", "gsm8k", "--data", "{empty}"], "has no rows"),
    (["--task", "gsm8k", "--data", "{dups}"], "row 2: duplicate sample id 'x'"),
]


@pytest.mark.parametrize(("options", "message"), SEARCH_CASES, ids=[" ".join(c[0]) for c in SEARCH_CASES])
def test_search_refuses_bad_settings_in_one_line_and_writes_nothing(
    tmp_path, capsys, bad_files, options, message
):
    out = tmp_path / "run"
    options = [o.format(**bad_files) for o in options]
    line = one_line_error(capsys, [*SEARCH, *options, "--out", str(out)])
    assert message in line
    assert not out.exists()


@pytest.mark.parametrize("where", ["{file}", "{file}/run"])
def test_search_out_in_the_way_is_one_line(tmp_path, capsys, bad_files, where):
    out = where.format(**bad_files)
    line = one_line_error(capsys, [*SEARCH, "--out", out])
    assert "cannot write run dir" in line and "is not a directory" in line
    assert bad_files["file"].read_text() == "not a directory"


def _read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write into (root ignores modes: then a read-only system dir)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        return folder
    (folder / "probe").unlink()
    for candidate in (Path("/sys"), Path("/proc/sys")):
        try:
            (candidate / f"cola-probe-{os.getpid()}").mkdir()
        except OSError:
            return candidate
    pytest.skip("no directory here refuses writes (root on a writable /sys)")


def test_read_only_out_is_one_line(tmp_path, capsys):
    folder = _read_only_dir(tmp_path)
    line = one_line_error(capsys, [*SEARCH, "--out", str(folder / "run")])
    assert f"cannot write run dir {folder / 'run'}" in line
    line = one_line_error(
        capsys, ["export", "--chain", "0-3", "--format", "mergekit", "--out", str(folder / "recipe")]
    )
    assert f"cannot write {folder / 'recipe'}" in line


def test_a_failed_validation_does_not_block_the_corrected_retry(tmp_path, capsys):
    out = tmp_path / "run"
    tiny = [
        "search",
        "--samples",
        "1",
        "--simulations",
        "1",
        "--no-baseline",
        "--no-length-null",
        "--no-sampling",
        "--quiet",
        "--out",
        str(out),
    ]
    one_line_error(capsys, [*tiny, "--strategy", "nope"])
    assert main(tiny) == 0  # the refusal left nothing behind: no "run dir already exists" or "config changed"
    assert len((out / "records.jsonl").read_text().splitlines()) == 1


RUN = ["run", "--prompt", "What is 7 * 8?"]
RUN_CASES = [
    (["run", "--prompt", ""], "--prompt is empty"),
    ([*RUN, "--max-new-tokens", "-5"], "--max-new-tokens must be at least 1, got -5"),
    ([*RUN, "--max-new-tokens", "0"], "--max-new-tokens must be at least 1, got 0"),
    ([*RUN, "--chain", "0-2000000000"], "layer index '0-2000000000' is far too large"),
    ([*RUN, "--chain", "0-999999"], "has at least 1000000 positions; the longest allowed is 100000"),
    ([*RUN, "--chain", "[" + "9" * 5000 + "]"], "not a JSON list of layer indices"),
    ([*RUN, "--chain", "0-3", "--max-chain-length", "0"], "maximum chain length must be a positive integer"),
]


@pytest.mark.parametrize(("args", "message"), RUN_CASES, ids=[c[1][:30] for c in RUN_CASES])
def test_run_refuses_bad_values_before_loading_a_model(capsys, monkeypatch, args, message):
    from cola.engine import model as model_module

    def no_load(*_, **__):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(model_module.ChainModel, "from_pretrained", no_load)
    assert message in one_line_error(capsys, args)


def test_run_bounds_a_chain_by_the_models_depth(capsys):
    """30,000 layer positions would run for minutes; the default maximum is 4 x depth (120 for SmolLM2)."""
    line = one_line_error(capsys, [*RUN, "--chain", ",".join(["0-29"] * 1000)], after_load=True)
    assert "has at least 150 positions; the longest allowed is 120 (4 x the model's 30 layers" in line


def test_run_chat_without_a_chat_template(capsys):
    line = one_line_error(
        capsys, ["run", "--model", "gemma3-270m", "--chat", "--prompt", "Hi"], after_load=True
    )
    assert "gemma3-270m has no chat template; drop --chat" in line


def test_an_error_after_a_cold_load_is_still_one_line(tmp_path, monkeypatch, capsys):
    """On a machine that never loaded the model, stderr is where it loads, cola's line
    preparing it, and the error: no progress bars from transformers. On the second run,
    warm, the preparing line is gone."""
    monkeypatch.setenv("COLA_CACHE_DIR", str(tmp_path / "cold-cache"))
    args = ["run", "--chain", "0-40", "--prompt", "Hi"]
    assert main(args) == 2
    cold = capsys.readouterr().err.strip().splitlines()
    assert len(cold) == 3, cold
    assert cold[0].startswith("cola: device ") and cold[2].startswith("cola: error: "), cold
    assert cold[1].startswith("cola: smollm2-135m: first use on this machine, de-quantizing"), cold
    assert main(args) == 2
    warm = capsys.readouterr().err.strip().splitlines()
    assert warm == [cold[0], cold[2]], warm


def test_summary_of_a_missing_dir_says_not_found(tmp_path, capsys):
    assert (
        one_line_error(capsys, ["summary", str(tmp_path / "nope")])
        == f"cola: error: run dir {tmp_path / 'nope'} not found"
    )


def test_export_into_a_file_or_non_empty_dir_is_one_line(tmp_path, capsys, bad_files):
    export = ["export", "--chain", "0-3", "--format"]
    line = one_line_error(capsys, [*export, "hf", "--out", str(bad_files["file"])])
    assert "exists and is not a directory" in line
    line = one_line_error(capsys, [*export, "mergekit", "--out", str(bad_files["full"])])
    assert "is not empty (notes.txt); pass --force to replace it" in line
    line = one_line_error(capsys, [*export, "mergekit", "--out", str(bad_files["full"]), "--force"])
    assert "does not look like an export" in line
    assert [p.name for p in bad_files["full"].iterdir()] == ["notes.txt"]
    recipe = tmp_path / "r.yaml"
    line = one_line_error(
        capsys, [*export, "mergekit", "--model", str(tmp_path / "no-model"), "--out", str(recipe)]
    )
    assert f"model '{tmp_path / 'no-model'}' not found" in line and not recipe.exists()


# ------------------------------------------------------------ context length
def test_a_prompt_past_the_context_is_refused_with_both_lengths(smollm, tmp_path):
    long_question = "Count the words. " + "word " * 9000
    data = write_jsonl(tmp_path / "long.jsonl", [GSM_ROW, {"question": long_question, "answer": "#### 1"}])
    config = RunConfig(
        task="gsm8k", data=str(data), samples=None, baseline=False, search=SearchConfig(simulations=1)
    )
    out = tmp_path / "run"
    with pytest.raises(
        ContextLengthError,
        match=r"the prompt of sample 'test-1' is \d{4,} tokens \+ 256 new tokens, past the 8192-token "
        r"context of smollm2-135m",
    ):
        run_search(config, out, model=smollm, progress=False)
    assert not out.exists()  # checked for every sample before the first search
    with pytest.raises(ContextLengthError, match=r"the prompt is \d{4,} tokens, past the 8192-token context"):
        smollm.generate(long_question, max_new_tokens=8)
    fits_alone = "word " * 8188  # fits the context, but not with the tokens to generate
    length = smollm.count_tokens(fits_alone)
    assert 8192 - 8 < length <= 8192
    with pytest.raises(
        ContextLengthError, match=rf"the prompt is {length} tokens \+ 8 new tokens, past the 8192"
    ):
        smollm.generate(fits_alone, max_new_tokens=8)


def test_a_bug_still_shows_its_traceback(monkeypatch):
    """Only user errors are one line: anything else escapes main(), so Python prints the traceback."""
    from cola.cli.registry import COMMANDS, Command

    def broken(args):
        raise RuntimeError("a bug in cola")

    monkeypatch.setitem(
        COMMANDS, "models", Command("models", "list the embedded models", broken, lambda p: None)
    )
    with pytest.raises(RuntimeError, match="a bug in cola"):
        main(["models"])


@pytest.mark.parametrize(("option", "value"), [("--samples", "-1"), ("--top-k", "0"), ("--epochs", "0")])
def test_predict_checks_its_counts_before_reading_the_run(tmp_path, capsys, option, value):
    out = tmp_path / "preds.jsonl"
    line = one_line_error(
        capsys, ["predict", "--run", str(tmp_path / "no-run"), option, value, "--out", str(out)]
    )
    assert f"{option} must be at least" in line and not out.exists()


def _not_models(root: Path, smollm) -> dict[str, tuple[Path, str]]:
    """Local paths that are not models, each with what its one line must name."""
    from cola.engine.loading import resolve_model_path

    empty = root / "empty"
    empty.mkdir()
    plain = root / "plain.txt"
    plain.write_text("not a model")
    run_dir = root / "run"
    config = RunConfig(
        task="arith",
        samples=1,
        baseline=False,
        decoy=False,
        length_null=False,
        sampling=False,
        search=SearchConfig(simulations=2, batch_size=2),
    )
    run_search(config, run_dir, model=smollm, progress=False)
    no_weights = root / "export-without-weights"  # a model directory whose weights are gone
    shutil.copytree(
        resolve_model_path("smollm2-135m"), no_weights, ignore=shutil.ignore_patterns("*.safetensors")
    )
    no_type = root / "no-model-type"
    no_type.mkdir()
    (no_type / "config.json").write_text('{"hidden_size": 8}')
    return {
        "empty dir": (empty, "no config.json"),
        "plain file": (plain, "it is a file"),
        "run dir": (run_dir, "it is a cola run directory"),
        "no weights": (no_weights, "no weights (*.safetensors / pytorch_model.bin)"),
        "no model_type": (no_type, "config.json has no model_type"),
    }


def test_a_model_path_that_is_not_a_model_is_one_line_naming_what_is_missing(
    tmp_path, capsys, smollm, monkeypatch
):
    cases = _not_models(tmp_path, smollm)
    _no_transformers_load(monkeypatch)
    for label, (path, missing) in cases.items():
        line = one_line_error(capsys, ["run", "--model", str(path), "--prompt", "Hi"])
        assert f"--model {path} is not a model directory: {missing}" in line, label
        out = tmp_path / f"search-{label.replace(' ', '-')}"
        line = one_line_error(capsys, [*SEARCH_TINY, "--model", str(path), "--out", str(out)])
        assert missing in line and not out.exists(), label


def _no_transformers_load(monkeypatch) -> None:
    """The checks must answer before transformers is asked (it would raise its own traceback, or retry)."""
    import transformers

    def refuse(*_, **__):
        raise AssertionError("transformers was asked to load a model that cola should have refused")

    for name in ("AutoConfig", "AutoTokenizer", "AutoModelForCausalLM"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)


SEARCH_TINY = [
    "search",
    "--task",
    "arith",
    "--samples",
    "1",
    "--simulations",
    "2",
    "--no-decoy",
    "--no-length-null",
    "--no-sampling",
    "--quiet",
]


def test_an_unknown_hub_name_offline_fails_at_once_saying_the_hub_is_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _no_transformers_load(monkeypatch)
    hub_id = "nobody-here/no-such-model-135m"
    line = one_line_error(capsys, ["run", "--model", hub_id, "--prompt", "Hi"])
    assert f"model {hub_id!r} not found" in line and "the hub is offline (HF_HUB_OFFLINE is set)" in line
    out = tmp_path / "run"
    line = one_line_error(capsys, [*SEARCH_TINY, "--model", hub_id, "--out", str(out)])
    assert "the hub is offline" in line and not out.exists()
