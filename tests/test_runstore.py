"""Run directories: atomic config, append-only records, resume after a crash (incl. real kill -9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cola.errors import ColaError, RunConfigError
from cola.runs.records import Evaluation, SampleRecord, SearchOutcome
from cola.runs.store import RESUME_MUTABLE_KEYS, RunStore, config_differences


def make_record(sample_id: str, text: str = "") -> SampleRecord:
    original = Evaluation((0, 1, 2), "A", 1.0, text)
    return SampleRecord(
        sample_id=sample_id,
        task="toy",
        gold="A",
        num_layers=3,
        original=original,
        search=SearchOutcome("mcts", [original, Evaluation((0, 2), "B", 0.0)], 5, (0, 1, 2)),
        num_choices=4,
        meta={"level": 1},
    )


CONFIG = {"model": "m", "task": "toy", "seed": 0, "search": {"simulations": 8, "block_sizes": (1, 2)}}


def test_create_writes_config_atomically(tmp_path):
    store = RunStore(tmp_path / "run")
    store.create(CONFIG)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved == {
        "model": "m",
        "task": "toy",
        "seed": 0,
        "search": {"simulations": 8, "block_sizes": [1, 2]},
    }
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["config.json"]  # no temp file left behind


def test_existing_run_needs_resume(tmp_path):
    RunStore(tmp_path).create(CONFIG)
    with pytest.raises(RunConfigError, match="already exists; pass --resume or choose another --out"):
        RunStore(tmp_path).create(CONFIG, resume=False)
    RunStore(tmp_path).create(CONFIG, resume=True)  # same config (tuples vs lists don't matter)


def test_resume_with_changed_config_names_keys_and_values(tmp_path):
    RunStore(tmp_path).create(CONFIG)
    changed = {**CONFIG, "seed": 1, "search": {"simulations": 9, "block_sizes": (1, 2)}, "extra": True}
    with pytest.raises(RunConfigError) as info:
        RunStore(tmp_path).create(changed, resume=True)
    message = str(info.value)
    assert "seed: saved 0, now 1" in message
    assert "search.simulations: saved 8, now 9" in message
    assert "extra: saved '<absent>', now True" in message
    assert "model" not in message


def test_resume_allows_mutable_keys():
    assert "progress" in RESUME_MUTABLE_KEYS
    assert config_differences({"a": 1, "progress": True}, {"a": 1, "progress": False}) == []
    assert config_differences({"a": 1}, {"a": 2}) == [("a", 1, 2)]


def test_append_load_and_duplicates(tmp_path):
    store = RunStore(tmp_path)
    store.create(CONFIG)
    assert store.load_records() == [] and store.done_ids() == set()
    assert store.append(make_record("a")) and store.append(make_record("b"))
    assert not store.append(make_record("a"))  # never written twice
    fresh = RunStore(tmp_path)
    assert not fresh.append(make_record("b"))  # also across store objects (read from disk)
    records = fresh.load_records()
    assert [r.sample_id for r in records] == ["a", "b"]
    assert records[0].to_json() == make_record("a").to_json()
    assert fresh.done_ids() == {"a", "b"}
    assert (tmp_path / "records.jsonl").read_text().count("\n") == 2


def test_torn_tail_is_ignored_then_truncated(tmp_path):
    store = RunStore(tmp_path)
    store.create(CONFIG)
    store.append(make_record("a"))
    line = json.dumps(make_record("b").to_json())
    with open(tmp_path / "records.jsonl", "a") as handle:
        handle.write(line[: len(line) // 2])  # what kill -9 mid-write leaves
    resumed = RunStore(tmp_path)
    assert [r.sample_id for r in resumed.load_records()] == ["a"]
    assert resumed.done_ids() == {"a"}
    assert resumed.append(make_record("b"))
    assert resumed.append(make_record("c"))
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(x)["sample_id"] for x in lines] == ["a", "b", "c"]


def test_complete_last_record_missing_newline_is_kept(tmp_path):
    (tmp_path / "records.jsonl").write_text(json.dumps(make_record("a").to_json()))
    store = RunStore(tmp_path)
    assert [r.sample_id for r in store.load_records()] == ["a"]
    store.append(make_record("b"))
    assert [r.sample_id for r in RunStore(tmp_path).load_records()] == ["a", "b"]


def test_corrupt_middle_line_is_an_error(tmp_path):
    good = json.dumps(make_record("a").to_json())
    (tmp_path / "records.jsonl").write_text(f"{good}\nnot json\n{good}\n")
    with pytest.raises(ColaError, match=r"records.jsonl:2: corrupt record"):
        RunStore(tmp_path).load_records()


WRITER = textwrap.dedent(
    """
    import sys
    from cola.runs.records import Evaluation, SampleRecord, SearchOutcome
    from cola.runs.store import RunStore

    path, total = sys.argv[1], int(sys.argv[2])
    store = RunStore(path)
    store.create({"task": "toy"}, resume=True)
    text = "x" * 200_000  # big lines: a kill is likely to land inside a write
    done = store.done_ids()
    for i in range(total):
        sid = f"s{i:04d}"
        if sid in done:
            continue
        ev = Evaluation((0, 1), "A", 1.0, text)
        store.append(SampleRecord(sid, "toy", "A", 2, ev, SearchOutcome("mcts", [ev], 1, (0, 1))))
    """
)


@pytest.mark.slow
def test_real_kill_9_then_resume(tmp_path):
    total = 150
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(run), str(total)], env=env)
    records = run / "records.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if records.exists() and records.read_bytes().count(b"\n") >= 5:
            break
        if proc.poll() is not None:
            pytest.fail("writer exited before it could be killed")
        time.sleep(0.005)
    else:
        proc.kill()
        pytest.fail("writer made no progress")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = len(RunStore(run).load_records())
    assert 5 <= killed_at < total  # it really died mid-run
    # resume to completion in a fresh process, as `cola search --resume` would
    done = subprocess.run([sys.executable, "-c", WRITER, str(run), str(total)], env=env, timeout=120)
    assert done.returncode == 0
    ids = [r.sample_id for r in RunStore(run).load_records()]
    assert ids == [f"s{i:04d}" for i in range(total)]  # every sample exactly once, in order
    raw = records.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == total  # no torn or duplicate line left
