"""The output rule on real files: nothing a user wrote is destroyed by a command that writes.

A real run (``cola search --task arith --samples 2 --simulations 4 --no-decoy``, through
the library with the session's SmolLM2), real exports, a real predictions file, a real
sweep and a real report are the targets. Every refusal must be one ``cola: error:`` line
naming the path, and every file that was there must be byte-for-byte what it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cola.cli import main
from cola.outputs import MANIFEST, atomic_write

TRAIN = 2


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), the run's lock file included."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def error_line(capsys, args: list[str]) -> str:
    capsys.readouterr()  # what earlier commands printed
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    # "cola: device ..." (the model loaded) and "# ..." (what predict tells about its samples) may come first
    lines = [line for line in err.strip().splitlines() if not line.startswith(("cola: device ", "# "))]
    assert len(lines) == 1 and lines[0].startswith("cola: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def real_run(smollm, tmp_path_factory) -> Path:
    """``cola search --task arith --samples 2 --simulations 4 --no-decoy --quiet --out R``."""
    from cola.runs import RunConfig, run_search
    from cola.search import SearchConfig

    out = tmp_path_factory.mktemp("outputs") / "R"
    config = RunConfig(
        task="arith",
        data="generated",
        samples=TRAIN,
        decoy=False,
        length_null=False,
        sampling=False,
        search=SearchConfig(simulations=4),
    )
    run_search(config, out, model=smollm, progress=False)
    assert len((out / "records.jsonl").read_text().splitlines()) == TRAIN
    return out


@pytest.fixture
def run(real_run, tmp_path) -> Path:
    copy = tmp_path / "R"
    shutil.copytree(real_run, copy)
    return copy


@pytest.fixture
def real_model(smollm, monkeypatch):
    """Commands that load a model get the session's real SmolLM2 instead of loading it again."""
    from cola.engine import ChainModel

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(lambda cls, *a, **k: smollm))
    return smollm


EXPORT = ["export", "--chain", "0-29", "--format"]


# ----------------------------------------------------------- item 1: export --force
@pytest.mark.parametrize("fmt", ["mergekit", "hf", "peft"])
def test_export_force_never_wipes_a_search_run(run, capsys, fmt):
    before = snapshot(run)
    line = error_line(capsys, [*EXPORT, fmt, "--out", str(run), "--force"])
    assert f"{run} is a cola run directory" in line and "--force never replaces a run" in line
    assert snapshot(run) == before


def test_export_force_respects_a_live_runs_lock(run, capsys):
    """Against a search in progress (it holds the run's lock), the export is refused and the run goes on."""
    from cola.runs.store import RunStore

    store = RunStore(run)
    store.acquire()
    try:
        before = snapshot(run)
        error_line(capsys, [*EXPORT, "mergekit", "--out", str(run), "--force"])
        assert snapshot(run) == before
    finally:
        store.close()


def test_export_force_replaces_only_its_own_files(tmp_path, capsys, real_model):
    out = tmp_path / "exp"
    assert main([*EXPORT, "mergekit", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "mergekit.yaml"]
    assert main(["export", "--chain", "0-3", "--format", "mergekit", "--out", str(out), "--force"]) == 0
    assert "0-3" in (out / "mergekit.yaml").read_text()
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    line = error_line(capsys, [*EXPORT, "mergekit", "--out", str(out), "--force"])
    assert "did not write (notes.txt); --force never deletes them" in line
    assert snapshot(out) == before


def test_a_foreign_yaml_file_is_not_replaced_by_force(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("mine: true\n")
    line = error_line(capsys, [*EXPORT, "mergekit", "--out", str(recipe), "--force"])
    assert f"{recipe} exists and is not a mergekit recipe written by cola" in line
    assert recipe.read_text() == "mine: true\n"


# ----------------------------------------------------- item 2: search --out checks
@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A directory holding a model's config.json (what ``cola export --format hf`` writes first)."""
    from transformers import LlamaConfig

    folder = tmp_path / "H"
    LlamaConfig(
        num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2
    ).save_pretrained(folder)
    return folder


SEARCH = [
    "search",
    "--task",
    "arith",
    "--samples",
    "2",
    "--simulations",
    "4",
    "--no-decoy",
    "--no-length-null",
    "--no-sampling",
    "--quiet",
]


@pytest.mark.parametrize("extra", [[], ["--max-length-factor", "0.01"], ["--resume"]])
def test_search_refuses_a_dir_that_is_not_a_run(model_dir, capsys, extra):
    before = snapshot(model_dir)
    line = error_line(capsys, [*SEARCH, *extra, "--out", str(model_dir)])
    assert "is not a cola run directory" in line or "--max-length-factor" in line or "max_length" in line
    assert snapshot(model_dir) == before  # no run config over the model's, no lock, no inflight/


def test_search_refuses_a_folder_of_other_files(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    line = error_line(capsys, [*SEARCH, "--out", str(folder)])
    assert "exists and is not a cola run directory (it holds notes.txt)" in line
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_search_refuses_an_empty_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    line = error_line(capsys, [*SEARCH, "--out", ""])
    assert "the output path is empty" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


# ------------------------------------------------------------ item 12: before anything
def test_depth_settings_are_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    from cola.engine import ChainModel

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the settings were checked")

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(no_load))
    out = tmp_path / "run"
    line = error_line(capsys, [*SEARCH, "--max-length-factor", "0.01", "--out", str(out)])
    assert "max chain length 0" in line or "max_length_factor" in line
    assert not out.exists()


def test_arith_takes_no_data_path(tmp_path, capsys):
    out = tmp_path / "run"
    line = error_line(capsys, [*SEARCH, "--data", str(tmp_path / "x.jsonl"), "--out", str(out)])
    assert "task arith generates its questions and reads no data" in line
    assert not out.exists()


# -------------------------------------------------- item 5: resume with foreign records
def test_resume_refuses_records_of_another_task(run, tmp_path, capsys, smollm):
    from cola.runs import RunConfig, run_search
    from cola.search import SearchConfig

    other = tmp_path / "arc"
    config = RunConfig(
        task="arc_easy",
        samples=1,
        baseline=False,
        decoy=False,
        length_null=False,
        sampling=False,
        search=SearchConfig(simulations=1),
    )
    run_search(config, other, model=smollm, progress=False)
    with (run / "records.jsonl").open("ab") as handle:
        handle.write((other / "records.jsonl").read_bytes())
    before = snapshot(run)
    line = error_line(capsys, [*SEARCH, "--resume", "--out", str(run)])
    assert "is of task arc_easy, but the run's task is arith" in line
    assert snapshot(run) == before


def test_resume_refuses_records_of_samples_the_config_does_not_load(run, capsys):
    lines = (run / "records.jsonl").read_text().splitlines()
    stranger = json.loads(lines[0])
    stranger["sample_id"] = "arith-99-0000"
    (run / "records.jsonl").write_text("\n".join([*lines, json.dumps(stranger)]) + "\n")
    before = snapshot(run)
    line = error_line(capsys, [*SEARCH, "--resume", "--out", str(run)])
    assert "'arith-99-0000', which this run's config does not load" in line
    assert snapshot(run) == before


# ------------------------------------------- items 3 and 4: predict, evaluate, sweep, report
def _predict(run: Path, out: Path, *extra: str) -> list[str]:
    return ["predict", "--run", str(run), "--samples", str(TRAIN + 2), "--quiet", "--out", str(out), *extra]


def test_predict_never_overwrites_a_runs_records(run, capsys):
    before = snapshot(run)
    for extra in ([], ["--force"]):
        line = error_line(capsys, _predict(run, run / "records.jsonl", *extra))
        assert str(run / "records.jsonl") in line
    assert "is not a predictions file written by cola" in line
    assert snapshot(run) == before


def test_predict_replaces_its_own_file_only_with_force(run, tmp_path, capsys, real_model):
    preds = tmp_path / "preds.jsonl"
    assert main(_predict(run, preds)) == 0
    first = preds.read_bytes()
    assert len(first.splitlines()) == 2
    line = error_line(capsys, _predict(run, preds))
    assert "already exists; pass --force" in line and preds.read_bytes() == first
    assert main(_predict(run, preds, "--top-k", "1", "--force")) == 0
    assert all(len(json.loads(row)["chains"]) == 1 for row in preds.read_text().splitlines())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R", "preds.jsonl"]  # no temp file left


def test_a_failed_predict_keeps_the_file_it_was_to_replace(run, tmp_path, capsys, real_model):
    preds = tmp_path / "preds.jsonl"
    assert main(_predict(run, preds)) == 0
    first = preds.read_bytes()
    line = error_line(capsys, _predict(run, preds, "--force", "--predictor", "block-influence"))
    assert "needs the number of layers to drop" in line
    assert preds.read_bytes() == first


def test_evaluate_refuses_existing_files_that_are_not_its_own(run, tmp_path, capsys):
    mine = tmp_path / "mine.json"
    mine.write_text('{"mine": 1}\n')
    for option in ("--json", "--details"):
        for extra in ([], ["--force"]):
            line = error_line(capsys, ["evaluate", "--run", str(run), option, str(mine), *extra])
            assert str(mine) in line
    assert mine.read_text() == '{"mine": 1}\n'


def test_sweep_and_report_replace_only_their_own_kind(run, tmp_path, capsys, real_model):
    sweep = tmp_path / "sw"
    args = ["sweep", "--run", str(run), "--samples", str(TRAIN + 2), "--methods", "angular", "--drops", "0-1"]
    assert main([*args, "--out", str(sweep)]) == 0
    before = snapshot(sweep)
    assert {"sweep.json", "sweep.md", "sweep.png", MANIFEST} == set(before)
    line = error_line(capsys, [*args, "--out", str(sweep)])
    assert "is not empty" in line and snapshot(sweep) == before
    report = tmp_path / "rep"
    assert main(["report", str(run), "--out", str(report)]) == 0
    line = error_line(capsys, ["report", str(run), "--out", str(sweep), "--force"])
    assert "holds a cola sweep output, not a report" in line and snapshot(sweep) == before
    line = error_line(capsys, [*args, "--out", str(report), "--force"])
    assert "holds a cola report output, not a sweep" in line
    assert main([*args, "--out", str(sweep), "--force"]) == 0
    assert set(snapshot(sweep)) == set(before)
    assert main(["report", str(run), "--out", str(report), "--force"]) == 0
    run_before = snapshot(run)
    for extra in ([], ["--force"]):
        line = error_line(capsys, ["report", str(run), "--out", str(run), *extra])
        assert f"{run} is a cola run directory" in line
    assert snapshot(run) == run_before


# ---------------------------------------------------- item 9: output paths in one line
def test_output_paths_in_the_way_are_one_line_naming_the_path(run, tmp_path, capsys):
    folder, a_file = tmp_path / "folder", tmp_path / "a_file"
    folder.mkdir()
    a_file.write_text("x")
    long = tmp_path / ("n" * 300)
    cases = [
        (_predict(run, folder), f"{folder} is a directory"),
        (["evaluate", "--run", str(run), "--json", str(folder)], f"{folder} is a directory"),
        (["report", str(run), "--out", str(a_file)], f"{a_file} exists and is not a directory"),
        (["sweep", "--run", str(run), "--out", str(a_file)], f"{a_file} exists and is not a directory"),
        (_predict(run, a_file / "p.jsonl"), f"cannot write {a_file / 'p.jsonl'}"),
        (_predict(run, long), "File name too long"),
        (["report", str(run), "--out", str(long)], "File name too long"),
    ]
    for args, message in cases:
        assert message in error_line(capsys, args)
    assert a_file.read_text() == "x" and list(folder.iterdir()) == []


def test_read_only_outputs_are_one_line(run, tmp_path, capsys, real_model):
    from test_bad_input import _read_only_dir

    folder = _read_only_dir(tmp_path)
    for args in (
        _predict(run, folder / "p.jsonl"),
        ["evaluate", "--run", str(run), "--json", str(folder / "e.json")],
        ["report", str(run), "--out", str(folder / "rep")],
        ["sweep", "--run", str(run), "--out", str(folder / "sw")],
    ):
        assert f"cannot write {folder}" in error_line(capsys, args)


# ------------------------------------------------------- item 8: corrupt run directories
def _damage(run: Path, how: str) -> None:
    records, config = run / "records.jsonl", run / "config.json"
    lines = records.read_text().splitlines()
    if how in ("null", "[1,2,3]"):
        records.write_text("\n".join([lines[0], how, *lines[1:]]) + "\n")
    elif how == "records dir":
        records.unlink()
        records.mkdir()
    elif how == "config dir":
        config.unlink()
        config.mkdir()
    elif how == "truncated":
        config.write_text(config.read_text()[:40])
    elif how == "extra search key":
        data = json.loads(config.read_text())
        data["search"]["foo"] = 1
        config.write_text(json.dumps(data))
    else:
        config.write_text(how)


DAMAGE = ["null", "[1,2,3]", "records dir", "config dir", "[1,2]", '"abc"', "truncated", "extra search key"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_corrupt_run_is_one_line_for_every_command_that_reads_it(run, tmp_path, capsys, how):
    _damage(run, how)
    before = snapshot(run)
    commands = [
        ["summary", str(run)],
        ["report", str(run), "--out", str(tmp_path / "rep")],
        ["evaluate", "--run", str(run)],
        _predict(run, tmp_path / "p.jsonl"),
        ["sweep", "--run", str(run), "--out", str(tmp_path / "sw")],
        [*SEARCH, "--resume", "--out", str(run)],
    ]
    for args in commands:
        error_line(capsys, args)
    assert snapshot(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R"]  # nothing written anywhere


def test_an_inflight_file_is_one_line(run, capsys):
    (run / "inflight").write_text("not a directory")
    line = error_line(capsys, [*SEARCH, "--resume", "--out", str(run)])
    assert f"{run / 'inflight'} is not a directory" in line


# ---------------------------------------------------------------- the one writer
def test_atomic_write_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    import os

    target = tmp_path / "f.txt"
    atomic_write(target, "old")
    atomic_write(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic_write(target, "lost")
    assert target.read_bytes() == b"new bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # no temp file left
