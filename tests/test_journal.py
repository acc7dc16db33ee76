"""Sample journals on real SmolLM2 arith runs: a doubtful journal is reported in one line and recomputed.

A replayed journal line becomes part of a record without a model pass, so every line
must be beyond doubt: bytes that are not UTF-8, a line that is not JSON, JSON of another
shape or types, a header of another sample or other settings, and a line edited by hand
each discard the whole journal with one ``cola: warning:`` line, and the sample's record
is the one an uninterrupted run writes. Journals of samples that have a record are removed.
"""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from cola.cli import main
from cola.errors import ColaWarning
from cola.runs import RunConfig, run_search
from cola.runs.journal import SampleJournal, journal_name
from cola.search import SearchConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = RunConfig(  # one arm, so the chains a resumed run computes are the search's alone
    task="arith",
    samples=1,
    baseline=False,
    decoy=False,
    length_null=False,
    sampling=False,
    search=SearchConfig(simulations=4, batch_size=2),
)


def _without_seconds(record) -> dict:
    """The record without its arms' timings (every arm that has one: searches and nulls alike)."""
    data = record.to_json()
    for value in data.values():
        if isinstance(value, dict):
            value.pop("seconds", None)
    return data


@pytest.fixture(scope="module")
def reference(smollm, tmp_path_factory):
    """An uninterrupted run: its directory and its one record."""
    out = tmp_path_factory.mktemp("journal") / "reference"
    [record] = run_search(CONFIG, out, model=smollm, progress=False)
    return out, record


def _journal(out, record) -> SampleJournal:
    """A valid journal of the reference sample: its header, the original and the search's first new chain."""
    journal = SampleJournal(out, record.sample_id, CONFIG.to_json())
    journal.start([])
    journal.append([record.original, record.search.evaluations[1]])  # [0] is the root: the original
    return journal


def _resume(smollm, out, monkeypatch) -> tuple:
    """Run the sample again: its record, the cola warnings, and how many chains the model evaluated."""
    append, computed = SampleJournal.append, []
    monkeypatch.setattr(
        SampleJournal,
        "append",
        lambda self, evaluations: (append(self, evaluations), computed.extend(evaluations)),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [record] = run_search(CONFIG, out, resume=True, model=smollm, progress=False)
    said = [str(w.message) for w in caught if issubclass(w.category, ColaWarning)]
    return record, said, len(computed)


def _distinct(record) -> int:
    return len({e.chain for e in [record.original, *record.search.evaluations]})


def test_a_valid_journal_is_replayed(smollm, reference, tmp_path, monkeypatch):
    """The control: the same journal without a bad line replays its two chains and warns nothing."""
    _, expected = reference
    out = tmp_path / "run"
    _journal(out, expected)
    record, said, computed = _resume(smollm, out, monkeypatch)
    assert said == []
    assert _without_seconds(record) == _without_seconds(expected)
    assert computed == _distinct(expected) - 2
    assert not (out / "inflight").exists()


def _edit_reward(line: bytes) -> bytes:
    row = json.loads(line)
    row["reward"] = 1.0 - row["reward"]  # a hand edit: the answer stays, the reward flips
    return json.dumps(row).encode()


def _reward_x(line: bytes) -> bytes:
    return json.dumps({**json.loads(line), "reward": "x"}).encode()


def _other_sample(header: bytes) -> bytes:
    return json.dumps({**json.loads(header), "sample_id": "someone-else"}).encode()


def _other_settings(header: bytes) -> bytes:
    row = json.loads(header)
    row["config"]["search"]["simulations"] = 99
    return json.dumps(row).encode()


# (what the bad line does, where it goes: "insert" a middle line or "replace" line N, the new bytes)
BAD_LINES = {
    "not-utf8": ("insert", lambda _: b"\xff\xfe", "not UTF-8"),
    "not-json": ("insert", lambda _: b'{"chain": [0, 1', "not JSON"),
    "a-list": ("insert", lambda _: b"[1,2,3]", "not an object"),
    "other-keys": ("insert", lambda _: b'{"foo":1}', "no answer, chain"),
    "null": ("insert", lambda _: b"null", "not an object"),
    "reward-x": ("replace2", _reward_x, "reward 'x' is not a number"),
    "edited-reward": ("replace2", _edit_reward, "checksum"),
    "header-of-another-sample": ("replace1", _other_sample, "another sample"),
    "header-of-other-settings": ("replace1", _other_settings, "other settings (search.simulations)"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_doubtful_journal_is_said_in_one_line_and_recomputed(
    smollm, reference, tmp_path, monkeypatch, case
):
    _, expected = reference
    out = tmp_path / "run"
    journal = _journal(out, expected)
    where, make, reason = BAD_LINES[case]
    lines = journal.path.read_bytes().split(b"\n")[:-1]  # header, original, first search chain
    if where == "insert":
        lines.insert(2, make(None))  # a middle line: the valid line after it must not be replayed either
    else:
        index = int(where[-1]) - 1
        lines[index] = make(lines[index])
    journal.path.write_bytes(b"\n".join(lines) + b"\n")

    record, said, computed = _resume(smollm, out, monkeypatch)
    assert len(said) == 1 and "\n" not in said[0], said
    assert str(journal.path) in said[0] and reason in said[0] and "recomputed" in said[0]
    assert _without_seconds(record) == _without_seconds(expected)  # never the doubtful line's content
    assert computed == _distinct(expected)  # nothing replayed: every chain evaluated again
    assert not (out / "inflight").exists()


def test_journals_of_samples_with_a_record_are_removed_on_resume(reference, tmp_path):
    """A run killed between appending a record and deleting its journal leaves the journal behind."""
    source, record = reference
    out = tmp_path / "run"
    shutil.copytree(source, out)
    stale = _journal(out, record).path
    other = stale.parent / "notes.txt"  # not a journal: not cola's to remove
    other.write_text("mine")
    [again] = run_search(CONFIG, out, resume=True, progress=False)  # nothing to search: no model is loaded
    assert _without_seconds(again) == _without_seconds(record)
    assert not stale.exists() and other.read_text() == "mine"


def test_the_cli_says_a_discarded_journal_in_one_warning_line(smollm, tmp_path, monkeypatch, capsys):
    from cola.engine import ChainModel

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(lambda cls, *a, **k: smollm))
    out = tmp_path / "run"
    args = ["search", "--task", "arith", "--samples", "1", "--simulations", "4", "--batch-size", "2"]
    args += ["--no-decoy", "--no-baseline", "--out", str(out), "--quiet"]
    append = SampleJournal.append

    def stop_on_second_pass(self, evaluations):
        append(self, evaluations)
        if len(self.path.read_bytes().splitlines()) > 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(SampleJournal, "append", stop_on_second_pass)
    assert main(args) == 130
    monkeypatch.setattr(SampleJournal, "append", append)
    [path] = (out / "inflight").iterdir()
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], b"\xff\xfe", *lines[1:]]))
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    warned = [line for line in err if line.startswith("cola: warning: ")]
    assert len(warned) == 1 and "line 2 is not UTF-8" in warned[0], err
    assert not any("chains replayed" in line for line in err), err


def _journal_path_is_a_directory(out, sample_id) -> object:
    path = out / "inflight" / journal_name(sample_id)
    path.mkdir(parents=True)
    return path


def _inflight_is_a_file(out, sample_id) -> object:
    path = out / "inflight"
    path.write_text("not a directory")
    return path


def _snapshot(out, leave_out: tuple[str, ...] = ()) -> dict:
    return {
        str(p.relative_to(out)): p.is_dir() or p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.name not in leave_out
    }


@pytest.mark.parametrize("damage", [_journal_path_is_a_directory, _inflight_is_a_file])
@pytest.mark.parametrize("in_flight", [True, False], ids=["sample-in-flight", "run-finished"])
def test_a_journal_or_inflight_of_the_wrong_type_is_one_line_before_a_model_loads(
    reference, tmp_path, monkeypatch, capsys, damage, in_flight
):
    """``--resume`` with a directory where a sample's journal goes, or a file named ``inflight``:
    one ``cola: error:`` line naming the path, no traceback, no model loaded, nothing written."""
    from cola.engine import ChainModel

    source, record = reference
    out = tmp_path / "run"
    shutil.copytree(source, out)
    if in_flight:
        (out / "records.jsonl").write_text("")  # the sample is to search again: its journal is needed
    path = damage(out, record.sample_id)

    def no_model(cls, *args, **kwargs):
        raise AssertionError("a refused resume must not load a model")

    monkeypatch.setattr(ChainModel, "from_pretrained", classmethod(no_model))
    # A run without records is started afresh, its config.json written first (as before any journal).
    leave_out = ("config.json",) if in_flight else ()
    before = _snapshot(out, leave_out)
    args = ["search", "--task", "arith", "--data", CONFIG.data, "--samples", "1", "--simulations", "4"]
    args += ["--batch-size", "2", "--no-decoy", "--no-baseline", "--out", str(out), "--quiet", "--resume"]
    capsys.readouterr()
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("cola: error: ") and str(path) in err[0], err
    assert "is not a file" in err[0] or "is not a directory" in err[0], err
    assert _snapshot(out, leave_out) == before
