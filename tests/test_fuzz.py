"""Fuzzing bad input: chain specs and JSONL rows either work or fail in one line, writing nothing.

Hypothesis draws chain specs (digits, ranges, brackets, huge numbers, junk) and JSONL
rows (fields of random JSON types, missing fields, unicode, undecodable bytes). Every
draw must end in success or in a one-line :class:`~cola.errors.ColaError` (never another
exception, which the CLI would show as a traceback), and a failed command must leave no
output behind: no recipe file, no run directory.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cola.cli import main
from cola.engine.chain import MAX_LENGTH_FACTOR, parse_chain
from cola.errors import ChainSpecError, ColaError
from cola.evaluation.scorer import EvalConfig
from cola.export import chain_from_mergekit_yaml
from cola.runs import RunConfig, run_search
from cola.search import SearchConfig
from cola.tasks import get_task

LAYERS = 30  # SmolLM2-135M

# ---------------------------------------------------------------- chain specs
_number = st.one_of(st.integers(0, 40), st.integers(0, 10**12), st.just(2_000_000_000)).map(str)
_item = st.one_of(_number, st.tuples(_number, _number).map("-".join), st.text("0123456789-, x[]", max_size=6))
_text_spec = st.lists(_item, min_size=0, max_size=8).map(",".join)
_json_spec = st.lists(
    st.one_of(st.integers(-3, 40), st.integers(), st.floats(), st.text(max_size=3)), max_size=8
).map(json.dumps)
_repeated = st.tuples(st.integers(1, 2000), st.integers(0, 29)).map(lambda r: ",".join([f"0-{r[1]}"] * r[0]))
SPECS = st.one_of(_text_spec, _json_spec, _repeated, st.text(max_size=30))


@settings(max_examples=300, deadline=None)
@given(SPECS)
def test_chain_specs_parse_or_fail_in_one_line(spec):
    try:
        chain = parse_chain(spec, LAYERS)
    except ChainSpecError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    assert 1 <= len(chain) <= MAX_LENGTH_FACTOR * LAYERS
    assert all(isinstance(layer, int) and 0 <= layer < LAYERS for layer in chain)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SPECS)
def test_export_of_any_chain_spec_writes_all_or_nothing(capsys, spec):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "recipe.yaml"
        code = main(["export", "--chain=" + spec, "--format", "mergekit", "--out", str(out)])
        err = capsys.readouterr().err
        if code == 0:
            assert chain_from_mergekit_yaml(out.read_text(), LAYERS) == parse_chain(spec, LAYERS)
        else:
            assert code == 2 and err.count("\n") == 1 and err.startswith("cola: error: "), err
            assert list(Path(tmp).iterdir()) == []


# ------------------------------------------------------------------ JSONL rows
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=12))
_json = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_DROP = object()
_words = st.text(min_size=1, max_size=30).filter(str.strip)


def _field(plausible: st.SearchStrategy) -> st.SearchStrategy:
    """Usually a plausible value (so some rows load), else any JSON value or a missing field."""
    return st.integers(0, 9).flatmap(lambda i: plausible if i < 7 else _json if i < 9 else st.just(_DROP))


def _choices(count: int) -> st.SearchStrategy:
    labels = "ABCDE"[:count]
    return st.fixed_dictionaries(
        {
            "text": st.lists(st.text(max_size=12), min_size=count, max_size=count),
            "label": st.just(list(labels)),
        }
    )


ROWS = {
    "arc_easy": {
        "id": st.one_of(_words, st.integers(0, 10**6)),
        "question": _words,
        "choices": st.integers(2, 5).flatmap(_choices),
        "answerKey": st.sampled_from("ABCDE"),
    },
    "gsm8k": {
        "question": _words,
        "answer": st.tuples(st.text(max_size=20), st.integers(-999, 999)).map(
            lambda t: f"{t[0]}\n#### {t[1]}"
        ),
        "id": st.one_of(_words, st.integers(0, 10**6)),
    },
    "math": {
        "problem": _words,
        "answer": st.one_of(_words, st.integers(-99, 99)),
        "level": st.one_of(st.integers(1, 5), st.sampled_from(["Level 1", "Level 5", "Level ?"])),
        "unique_id": _words,
    },
}


def _row(task: str) -> st.SearchStrategy:
    fields = st.fixed_dictionaries({name: _field(value) for name, value in ROWS[task].items()})
    return fields.map(lambda row: {k: v for k, v in row.items() if v is not _DROP})


def _lines(task: str) -> st.SearchStrategy:
    line = st.integers(0, 19).flatmap(
        lambda i: (
            _row(task).map(lambda r: json.dumps(r, ensure_ascii=False).encode())
            if i < 17
            else st.sampled_from([b"\xff\xfe not utf-8", b"[1, 2]", b'{"question": "cut', b""])
        )
    )
    return st.lists(line, min_size=1, max_size=3)


def _same_as_rows(task: str, samples, rows: list[dict]) -> None:
    """What loaded is exactly what the rows said: no text converted, split or dropped."""
    assert len(samples) == len(rows)
    for sample, row in zip(samples, rows):
        question = row["problem"] if task == "math" else row["question"]
        assert sample.question == question
        if task == "arc_easy":
            assert list(sample.choices) == row["choices"]["text"]


@settings(max_examples=25, deadline=None)  # a loaded row costs a real forward pass of SmolLM2
@given(st.sampled_from(sorted(ROWS)).flatmap(lambda task: st.tuples(st.just(task), _lines(task))))
def test_jsonl_rows_load_and_run_or_fail_in_one_line_writing_nothing(smollm, drawn):
    task, lines = drawn
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.jsonl"
        data.write_bytes(b"\n".join(lines) + b"\n")
        out = Path(tmp) / "run"
        config = RunConfig(
            task=task,
            data=str(data),
            samples=None,
            baseline=False,
            length_null=False,
            sampling=False,
            search=SearchConfig(simulations=0),
            eval=EvalConfig(max_new_tokens=1),
        )
        try:
            records = run_search(config, out, model=smollm, progress=False)
        except ColaError as exc:
            event("refused")
            assert "\n" not in str(exc)
            assert not out.exists()  # never a partially written run
            return
        event(f"searched {len(records)} samples")
        rows = [json.loads(line) for line in lines if line.strip()]
        samples = get_task(task).load(str(data))
        _same_as_rows(task, samples, rows)
        assert sorted(r.sample_id for r in records) == sorted(s.id for s in samples)
        assert len((out / "records.jsonl").read_text(encoding="utf-8").splitlines()) == len(samples)


@pytest.mark.parametrize("task", sorted(ROWS))
def test_the_row_fuzzer_reaches_both_outcomes(task):
    """Guard against a vacuous fuzzer: its rows sometimes load and sometimes do not."""
    outcomes = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(_lines(task))
    def probe(lines):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "rows.jsonl"
            data.write_bytes(b"\n".join(lines) + b"\n")
            try:
                get_task(task).load(str(data))
                outcomes.add("loaded")
            except ColaError:
                outcomes.add("refused")

    probe()
    assert outcomes == {"loaded", "refused"}


# ------------------------------------------------------------- run directories
# A finished run damaged at random: every command that reads it, and a resumed search, must
# succeed or refuse in one line, and never change or lose a record that was whole. A journal
# damage first puts the run's last sample back in flight with a valid journal (as a stopped
# run leaves it), then damages the journal: the resume must discard a doubtful journal and
# recompute the sample to the very record the uninterrupted run wrote.
_JUNK = st.sampled_from(
    [b"null\n", b"[1,2,3]\n", b'"abc"\n', b"{", b"}\n", b"\xff\xfe", b"\n", b'{"foo": 1}\n']
)
_RUN_DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.sampled_from(["config.json", "records.jsonl"]), st.floats(0, 1)),
    st.tuples(
        st.just("insert"),
        st.sampled_from(["config.json", "records.jsonl"]),
        st.floats(0, 1),
        _JUNK | st.binary(),
    ),
    st.tuples(st.just("set"), st.sampled_from(["", "search", "eval"]), st.text(max_size=8), _json),
    st.tuples(
        st.just("line"), st.integers(0, 2), _JUNK | _json.map(lambda v: json.dumps(v).encode() + b"\n")
    ),
    st.tuples(st.just("dir"), st.sampled_from(["config.json", "records.jsonl", "inflight"])),
)
_JOURNAL_DAMAGE = st.one_of(
    st.tuples(st.just("journal-truncate"), st.floats(0, 1)),
    st.tuples(st.just("journal-insert"), st.floats(0, 1), _JUNK | st.binary(min_size=1, max_size=8)),
    st.tuples(
        st.just("journal-line"),
        st.integers(0, 4),
        _JUNK | _json.map(lambda v: json.dumps(v).encode() + b"\n"),
    ),
    st.tuples(st.just("journal-reward"), st.integers(1, 3)),  # a hand edit: the checksum no longer matches
    st.tuples(st.just("journal-dir")),
)
RUN_CONFIG = RunConfig(
    task="arith",
    data="generated",
    samples=2,
    decoy=False,
    length_null=False,
    sampling=False,
    search=SearchConfig(simulations=4),
)


@pytest.fixture(scope="module")
def finished_run(smollm, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz-run") / "R"
    run_search(RUN_CONFIG, out, model=smollm, progress=False)
    return out


def _put_in_flight(run: Path) -> Path:
    """Drop the run's last record and journal its sample as a stopped run would; returns the journal."""
    from cola.runs.journal import SampleJournal
    from cola.runs.records import SampleRecord

    lines = (run / "records.jsonl").read_bytes().splitlines(keepends=True)
    (run / "records.jsonl").write_bytes(b"".join(lines[:-1]))
    record = SampleRecord.from_json(json.loads(lines[-1]))
    journal = SampleJournal(run, record.sample_id, RUN_CONFIG.to_json())
    journal.start([])
    journal.append([record.original, *record.search.evaluations[1:4]])  # [0] is the root: the original
    return journal.path


def _damage_journal(path: Path, damage: tuple) -> None:
    """Damage the journal of the sample in flight (skipped once it is no longer a file)."""
    if not path.is_file():
        return
    kind, data = damage[0], path.read_bytes()
    if kind in ("journal-truncate", "journal-insert"):
        cut = int(damage[1] * len(data))
        data = data[:cut] if kind == "journal-truncate" else data[:cut] + damage[2] + data[cut:]
    elif kind == "journal-line":
        lines = data.splitlines(keepends=True)
        lines.insert(min(damage[1], len(lines)), damage[2])
        data = b"".join(lines)
    elif kind == "journal-reward":
        lines = data.splitlines(keepends=True)
        index = min(damage[1], len(lines) - 1)
        row = json.loads(lines[index])
        if isinstance(row, dict) and "reward" in row:
            row["reward"] = 1.0 - row["reward"]
            lines[index] = json.dumps(row).encode() + b"\n"
        data = b"".join(lines)
    else:
        path.unlink()
        path.mkdir()
        return
    path.write_bytes(data)


def _damage_run(run: Path, damage: tuple) -> None:
    """Apply one damage; one a previous damage made impossible (editing a directory) is skipped."""
    import shutil

    kind = damage[0]
    if damage == ("dir", "inflight") and (run / "inflight").is_dir():
        shutil.rmtree(run / "inflight")  # a sample in flight: its journals' folder becomes a file
    target = {"set": "config.json", "line": "records.jsonl"}.get(kind, damage[1])
    if (run / target).is_dir() or (kind != "dir" and not (run / target).is_file()):
        return
    if kind == "set":
        try:
            config = json.loads((run / "config.json").read_text())
        except ValueError:
            return
        section = config.get(damage[1], {}) if damage[1] and isinstance(config, dict) else config
        if not isinstance(section, dict):
            return
    if kind in ("truncate", "insert"):
        path = run / damage[1]
        data = path.read_bytes()
        cut = int(damage[2] * len(data))
        path.write_bytes(data[:cut] if kind == "truncate" else data[:cut] + damage[3] + data[cut:])
    elif kind == "set":
        section[damage[2]] = damage[3]
        (run / "config.json").write_text(json.dumps(config))
    elif kind == "line":
        lines = (run / "records.jsonl").read_bytes().splitlines(keepends=True)
        lines.insert(min(damage[1], len(lines)), damage[2])
        (run / "records.jsonl").write_bytes(b"".join(lines))
    else:
        path = run / damage[1]
        if path.exists():
            path.unlink()
        path.mkdir() if damage[1] != "inflight" else path.write_text("not a directory")


def _whole_records(run: Path) -> list[bytes]:
    """The record lines of ``run`` that are complete and valid (what must never change or be lost)."""
    from cola.runs.records import SampleRecord

    path = run / "records.jsonl"
    if not path.is_file():
        return []
    whole = []
    for line in path.read_bytes().splitlines(keepends=True):
        try:
            if line.endswith(b"\n") and isinstance(json.loads(line), dict):
                SampleRecord.from_json(json.loads(line))
                whole.append(line)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return whole


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _without_seconds(line: bytes) -> dict:
    """A record line as JSON without its arms' timings (the one thing a recomputed record may change)."""
    data = json.loads(line)
    for value in data.values():
        if isinstance(value, dict):
            value.pop("seconds", None)
    return data


def _record_line(text: bytes, sample_id: str) -> bytes | None:
    """The record line of ``sample_id`` in a records.jsonl, if one is there whole."""
    for line in text.splitlines(keepends=True):
        try:
            if line.endswith(b"\n") and json.loads(line).get("sample_id") == sample_id:
                return line
        except (ValueError, AttributeError):
            continue
    return None


def _one_line_or_success(capsys, args: list[str]) -> None:
    code = main(args)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("cola: error: ")]
    assert code == 0 or (code == 2 and len(errors) == 1), err


# About one draw in ten damages a journal (each such resume recomputes a sample with SmolLM2);
# the explicit examples below damage one in each way every time.
_DAMAGE = st.integers(0, 9).flatmap(lambda i: _JOURNAL_DAMAGE if i == 1 else _RUN_DAMAGE)
_DAMAGES = st.lists(_DAMAGE, min_size=1, max_size=2)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_DAMAGES)
@example([("journal-reward", 2)])  # a reward edited by hand
@example([("journal-insert", 0.5, b"\xff\xfe")])  # bytes that are not UTF-8, mid-line
@example([("journal-line", 2, b'{"chain": [0], "reward": 1.0}\n')])  # JSON of the wrong shape
@example([("journal-truncate", 0.7)])  # a torn last line: the lines before it are replayed
def test_a_damaged_run_directory_is_read_or_refused_in_one_line(smollm, finished_run, capsys, damages):
    import shutil
    import warnings

    from cola.errors import ColaWarning
    from cola.predict.base import load_training_run
    from cola.runs.preflight import check_search

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "R"
        shutil.copytree(finished_run, run)
        journal = None
        if any(damage[0].startswith("journal") for damage in damages):
            journal = _put_in_flight(run)
            event("journal damaged")
        for damage in damages:
            _damage_journal(journal, damage) if damage[0].startswith("journal") else _damage_run(run, damage)
        before, whole = _files(run), _whole_records(run)
        _one_line_or_success(capsys, ["summary", str(run)])
        _one_line_or_success(capsys, ["report", str(run), "--out", str(Path(tmp) / "report")])
        try:
            load_training_run(run)  # what predict, evaluate, sweep and the lm-eval predictor read
        except ColaError as exc:
            assert "\n" not in str(exc)
        assert _files(run) == before  # readers never write into a run
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                check_search(RUN_CONFIG, run, resume=True)
                run_search(RUN_CONFIG, run, resume=True, model=smollm, progress=False)
            event("resumed")
            said = [str(w.message) for w in caught if issubclass(w.category, ColaWarning)]
            assert all("\n" not in line for line in said), said  # a discarded journal: one warning line
        except ColaError as exc:
            event("refused")
            assert "\n" not in str(exc)
            assert _files(run) == before  # a refused resume writes nothing
            return
        after = (run / "records.jsonl").read_bytes() if (run / "records.jsonl").is_file() else b""
        assert all(line in after.splitlines(keepends=True) for line in whole)  # none changed or lost
        config_kept = (run / "config.json").read_bytes() == (finished_run / "config.json").read_bytes()
        if journal is not None and config_kept:  # the sample in flight: recomputed, never a doubtful line
            expected = (finished_run / "records.jsonl").read_bytes().splitlines(keepends=True)[-1]
            sample_id = json.loads(expected)["sample_id"]
            recomputed = _record_line(after, sample_id)
            assert recomputed is not None and _without_seconds(recomputed) == _without_seconds(expected)
            assert not journal.exists()  # the record is written: its journal is gone
            event("journal: sample recomputed to the same record")
