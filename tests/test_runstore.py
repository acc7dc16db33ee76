"""Run directories: atomic config, append-only records, resume after a crash (incl. real kill -9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cola.errors import ColaError, ColaWarning, RunConfigError, RunInUseError
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
    # no temp file left behind; the lock file stays (see cola.runs.lock)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock", "config.json"]


def _started(path, config=CONFIG) -> None:
    """A run with one record: it holds results, so it must not be overwritten."""
    store = RunStore(path)
    store.create(config)
    store.append(make_record("a"))
    store.close()


def test_existing_run_needs_resume(tmp_path):
    _started(tmp_path)
    with pytest.raises(RunConfigError, match="already exists; pass --resume or choose another --out"):
        RunStore(tmp_path).create(CONFIG, resume=False)
    RunStore(tmp_path).create(CONFIG, resume=True)  # same config (tuples vs lists don't matter)


def test_a_run_without_records_may_be_started_again(tmp_path):
    """A config with no records holds no results (e.g. a run killed while loading its model)."""
    RunStore(tmp_path).create(CONFIG)
    changed = {**CONFIG, "seed": 1}
    RunStore(tmp_path).create(changed)  # neither "already exists" nor "config changed"
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 1


def test_resume_with_changed_config_names_keys_and_values(tmp_path):
    _started(tmp_path)
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


def test_resume_may_change_the_prefix_cache_budget(tmp_path):
    """It only bounds memory: after running out of memory, resuming with less must work."""
    config = {**CONFIG, "eval": {"prefix_cache_mb": 1024.0, "mode": "fast"}}
    _started(tmp_path, config)
    RunStore(tmp_path).create({**config, "eval": {"prefix_cache_mb": 256.0, "mode": "fast"}}, resume=True)
    with pytest.raises(RunConfigError, match="eval.mode: saved 'fast', now 'naive'"):
        RunStore(tmp_path).create(
            {**config, "eval": {"prefix_cache_mb": 1024.0, "mode": "naive"}}, resume=True
        )


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
    with pytest.warns(ColaWarning, match=r"records.jsonl:2: ignoring a torn last line \(\d+ bytes"):
        assert [r.sample_id for r in resumed.load_records()] == ["a"]
    assert resumed.done_ids() == {"a"}
    assert resumed.append(make_record("b"))
    assert resumed.append(make_record("c"))
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(x)["sample_id"] for x in lines] == ["a", "b", "c"]


def test_duplicate_records_are_reported(tmp_path):
    good = json.dumps(make_record("a").to_json())
    (tmp_path / "records.jsonl").write_text(f"{good}\n{good}\n")
    with pytest.warns(ColaWarning, match=r"records.jsonl:2: a second record of sample 'a'"):
        assert len(RunStore(tmp_path).load_records()) == 1


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


# ------------------------------------------------------------------ one writer
HOLDER = textwrap.dedent(
    """
    import json
    import sys
    from cola.runs.store import RunStore

    store = RunStore(sys.argv[1])
    store.create({"task": "toy"} if len(sys.argv) < 3 else json.loads(sys.argv[2]), resume=True)
    print("locked", flush=True)
    sys.stdin.readline()  # hold the lock until the test closes our stdin
    """
)


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            RunInUseError, match=rf"run dir .*run is in use by another cola process \(pid {holder.pid}\)"
        ):
            RunStore(run).create({"task": "toy"}, resume=True)
        with pytest.raises(RunInUseError):
            RunStore(run).append(make_record("a"))  # appending needs the lock too
        assert not (run / "records.jsonl").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    store = RunStore(run)  # the holder exited: the kernel released its lock
    store.create({"task": "toy"}, resume=True)
    assert store.append(make_record("a"))
    store.close()


def test_stores_of_one_process_share_its_lock(tmp_path):
    first = RunStore(tmp_path)
    first.create(CONFIG)
    second = RunStore(tmp_path)  # e.g. a caller that still holds an old store through a traceback
    second.create(CONFIG, resume=True)
    assert second.append(make_record("a"))
    first.close()
    assert second.append(make_record("b"))
    second.close()
    del first, second
    # and once every share is gone, another process may lock it
    out = subprocess.run(
        [sys.executable, "-c", HOLDER, str(tmp_path), json.dumps(CONFIG)],
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


def test_a_run_that_fails_before_its_first_record_leaves_nothing(tmp_path):
    run = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError, match="model did not load"):
        with RunStore(run).open(CONFIG):
            assert (run / "config.json").exists()
            raise RuntimeError("model did not load")
    assert not run.exists()
    # an existing run keeps its config and records when a resumed attempt fails
    _started(tmp_path / "old")
    with pytest.raises(RuntimeError):
        with RunStore(tmp_path / "old").open(CONFIG, resume=True):
            raise RuntimeError("boom")
    assert len(RunStore(tmp_path / "old").load_records()) == 1
    assert (tmp_path / "old" / "config.json").exists()


def test_a_file_in_the_way_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "run"):
        with pytest.raises(RunConfigError, match="cannot write run dir .*exists and is not a directory"):
            RunStore(out).create(CONFIG)
    assert (tmp_path / "file").read_text() == "x"


def _cola(*args: str) -> list[str]:
    """The installed ``cola`` console script (what a user runs), else the same entry point via -c."""
    script = Path(sys.executable).with_name("cola")
    if script.exists():
        return [sys.executable, str(script), *args]
    return [sys.executable, "-c", "import sys; from cola.cli import main; sys.exit(main())", *args]


@pytest.mark.slow
def test_two_cola_search_processes_never_write_a_sample_twice(tmp_path):
    """``cola search --resume`` twice on one run dir used to exit 0 twice with duplicate records.

    The first process is frozen (SIGSTOP) while it holds the run, so the second one is
    certain to meet it: it must refuse in one line naming the first one's pid.
    """
    run = tmp_path / "r"
    search = [
        "search",
        "--task",
        "arith",
        "--samples",
        "2",
        "--simulations",
        "1",
        "--no-baseline",
        "--concurrent-samples",
        "1",
        "--seed",
        "0",
        "--quiet",
        "--out",
        str(run),
        "--resume",
    ]
    first = subprocess.Popen(_cola(*search), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "config.json").exists():  # written once the run is under way (and locked)
            assert first.poll() is None, f"the first search ended before it started: {first.communicate()}"
            assert time.monotonic() < deadline, "the first search never started its run"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = subprocess.run(_cola(*search), capture_output=True, text=True, timeout=300)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip() == (
        f"cola: error: run dir {run} is in use by another cola process (pid {first.pid}); "
        "wait for it to finish or choose another --out"
    )
    assert first.returncode == 0, err
    ids = [json.loads(line)["sample_id"] for line in (run / "records.jsonl").read_text().splitlines()]
    assert sorted(ids) == ["arith-0-0000", "arith-0-0001"]  # each sample exactly once


def test_a_worker_journals_only_in_the_run_directory_it_sees(tmp_path):
    """A Ray actor journals only where it finds this very run (same machine or shared
    filesystem); elsewhere it must neither journal nor create a stray directory."""
    from cola.runs import RunConfig
    from cola.runs.journal import SampleJournal
    from cola.runs.store import RunStore

    config = RunConfig(task="arith", samples=2).to_json()
    run = tmp_path / "run"
    assert not SampleJournal.reachable(run, config)  # another machine: no such directory ...
    assert not run.exists()  # ... and none made
    with RunStore(run).open(config):
        pass
    assert SampleJournal.reachable(run, config)
    assert SampleJournal.reachable(run, {**config, "progress": False})  # a key --resume may change
    assert not SampleJournal.reachable(run, RunConfig(task="arith", samples=3).to_json())  # another run
