"""A sample's journal: every chain evaluated for a sample still in flight, so a stopped run loses none.

A record is written only when all of a sample's arms are done. On long generative tasks
(GSM8K, MATH: up to 512 generated tokens per chain) one sample costs an hour or more of
CPU, so a run stopped mid-sample would otherwise compute it all again. The runner hands
each new evaluation to the sample's journal (``<run>/inflight/<hash of sample id>.jsonl``,
one JSON line per evaluation, flushed and fsynced); a resumed run preloads them into the
sample's evaluator, and since every search is seeded and deterministic given its rewards,
it replays the same chains without a model pass until it reaches the first chain not
evaluated yet. The record is then the one an unstopped run would have written (only its
``seconds`` are shorter). The journal is deleted once the record is appended, and a
resumed run removes the journals of samples that already have a record (a run killed
between the two steps leaves one behind).

A replayed line becomes part of a record without a model pass, so a journal is replayed
only when every line is beyond doubt: the first line names the sample, the run's settings
and the journal format; each later line is one evaluation of the right shape and types,
carrying a checksum of its content keyed by the sample and the run's settings
(:func:`_line_key`), so a line edited by hand (a reward changed from 0 to 1) no longer
matches. Anything else (bytes that are not UTF-8, a line that is not JSON, JSON of
another shape, a header of another sample or other settings) is reported in one
:class:`~cola.errors.ColaWarning` line and the whole journal is discarded: the sample is
recomputed, never replayed from a doubtful line. Only a torn last line (the process died
while writing it: no newline after it) is dropped silently. A journal that is not a file
(a directory in its place), or an ``inflight`` that is not a directory, is a damaged run
directory, not a doubtful journal: the resume is refused in one
:class:`~cola.errors.RunConfigError` line naming the path.

Ray actors journal too, when they see the run directory (same machine or a shared
filesystem; :meth:`SampleJournal.reachable`), so a sample an actor was searching when it
died, or when the run was stopped, resumes from its journal, locally or on Ray.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cola.errors import ColaWarning, RunConfigError
from cola.evaluation.result import Evaluation
from cola.outputs import atomic_write
from cola.runs.saved import INFLIGHT_DIR
from cola.runs.store import RESUME_MUTABLE_KEYS, RunStore, _normalise, config_differences

FORMAT = 2  # journal lines carry a checksum (journals of other formats are recomputed)
CHECK_KEY = "check"
_REQUIRED = {"chain", "answer", "reward", "text", CHECK_KEY}
_OPTIONAL = {"decoy_reward", "grading_timed_out"}
_JOURNAL_NAME = re.compile(r"\.?([0-9a-f]{20})\.jsonl(\..*\.tmp)?")  # a journal, or one being staged
_JOURNAL_FILE = re.compile(r"[0-9a-f]{20}\.jsonl")  # a journal itself


def journal_name(sample_id: str) -> str:
    """The file name of a sample's journal (a hash: sample ids may hold any character)."""
    return hashlib.sha256(sample_id.encode("utf-8")).hexdigest()[:20] + ".jsonl"


class DoubtfulJournal(Exception):
    """A journal line that cannot be replayed with certainty (the message says which and why)."""


class SampleJournal:
    """The journal of one sample of one run directory."""

    def __init__(self, run_dir: str | Path, sample_id: str, config: dict[str, Any]):
        self.sample_id = sample_id
        self.config = _normalise(config)  # as JSON gives it back, so comparisons are fair
        self.path = Path(run_dir) / INFLIGHT_DIR / journal_name(sample_id)
        self.key = _line_key(sample_id, self.config)
        self.problem: str | None = None  # why the last replay discarded the journal, if it did

    @staticmethod
    def reachable(run_dir: str | Path, config: dict[str, Any]) -> bool:
        """Whether this process sees ``run_dir`` as the directory of the run with ``config``.

        A Ray actor on another machine without the run's filesystem does not (it then
        searches without a journal, losing only the replay), and must not create a stray directory there.
        """
        try:
            saved = RunStore(run_dir).load_config()
        except (OSError, RunConfigError):  # unreadable from here: not reachable
            return False
        return saved is not None and not config_differences(saved, _normalise(config))

    def replay(self) -> list[Evaluation]:
        """The evaluations a stopped run made for this sample under the same settings, if beyond doubt.

        A torn last line is dropped; any other doubt discards the whole journal, with one
        warning line (also kept as :attr:`problem`), and nothing is replayed.
        """
        self.problem = None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except IsADirectoryError:  # the layout is wrong, not the content: refuse, as remove_stale does
            raise RunConfigError(_not_a_file(self.path)) from None
        except OSError as exc:
            return self._discard_because(f"it cannot be read ({exc.strerror or exc})")
        lines = data.split(b"\n")
        lines.pop()  # after the last newline: nothing, or a line torn by a crash mid-write
        if not lines:
            return []
        try:
            self._check_header(_parse(lines[0], 1))
            return [
                self._evaluation(_parse(line, number), number) for number, line in enumerate(lines[1:], 2)
            ]
        except DoubtfulJournal as exc:
            return self._discard_because(str(exc))

    def _discard_because(self, reason: str) -> list[Evaluation]:
        self.problem = (
            f"{self.path}: {reason}; discarded this journal: sample {self.sample_id!r} is recomputed, "
            "never replayed from a doubtful line"
        )
        warnings.warn(self.problem, ColaWarning, stacklevel=3)
        return []

    def _check_header(self, header: Any) -> None:
        if not isinstance(header, dict) or "sample_id" not in header:
            raise DoubtfulJournal("line 1 is not a journal header")
        if header.get("sample_id") != self.sample_id:
            raise DoubtfulJournal(f"its header names another sample ({header.get('sample_id')!r})")
        if header.get("format") != FORMAT:
            raise DoubtfulJournal(f"its header has format {header.get('format')!r}, not {FORMAT}")
        diffs = config_differences(header.get("config"), self.config)
        if diffs:
            keys = ", ".join(key or "config" for key, _, _ in diffs[:3])
            raise DoubtfulJournal(f"it was written under other settings ({keys})")

    def _evaluation(self, row: Any, number: int) -> Evaluation:
        problem = _shape_problem(row)
        if problem:
            raise DoubtfulJournal(f"line {number} is not a chain evaluation ({problem})")
        evaluation = Evaluation.from_json(row)
        if not hmac.compare_digest(str(row[CHECK_KEY]), self._check(evaluation)):
            raise DoubtfulJournal(f"line {number} does not match its checksum (edited after it was written?)")
        return evaluation

    def _check(self, evaluation: Evaluation) -> str:
        content = json.dumps(evaluation.to_json(), sort_keys=True, separators=(",", ":"))
        return hmac.new(self.key, content.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def _line(self, evaluation: Evaluation) -> str:
        return json.dumps({**evaluation.to_json(), CHECK_KEY: self._check(evaluation)}) + "\n"

    def start(self, replayed: list[Evaluation]) -> None:
        """Rewrite the journal as its header plus ``replayed`` (dropping a torn line or a discarded journal)."""
        header = {"sample_id": self.sample_id, "config": self.config, "format": FORMAT}
        text = json.dumps(header) + "\n" + "".join(self._line(e) for e in replayed)
        for attempt in range(5):  # another sample's discard() may remove the (then empty) folder in between
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                atomic_write(self.path, text)
                return
            except FileNotFoundError:
                if attempt == 4:
                    raise
            except OSError as exc:  # e.g. a directory where the journal goes, or a full disk
                raise RunConfigError(f"cannot write the journal {self.path}: {exc.strerror or exc}") from None

    def append(self, evaluations: list[Evaluation]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(self._line(e) for e in evaluations)
            handle.flush()
            os.fsync(handle.fileno())

    def attach(self, evaluator) -> int:
        """Preload ``evaluator`` with what a stopped run evaluated, and journal every new evaluation.

        Returns how many evaluations were replayed.
        """
        replayed = self.replay()
        self.start(replayed)
        evaluator.preload(replayed)
        evaluator.on_evaluated = self.append
        return len(replayed)

    @staticmethod
    def say_replayed(sample_id: str, count: int) -> None:
        """One line on stderr when a sample resumes from its journal, so a user sees the work kept."""
        if count:
            print(f"cola: sample {sample_id}: {count} chains replayed from its journal", file=sys.stderr)

    def discard(self) -> None:
        """The sample's record is written: its journal is no longer needed."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        try:
            self.path.parent.rmdir()  # only if no other sample is in flight
        except OSError:
            pass


def remove_stale(run_dir: str | Path, in_flight: Iterable[str]) -> int:
    """Remove the journals (and staged journal files) of every sample not in ``in_flight``.

    The caller holds the run's lock and passes the samples still to search: a journal of
    a sample that has its record (the run was killed between writing the record and
    deleting the journal) or of no sample of this run is never replayed, so it goes. Only
    files named as journals are touched. Returns how many files were removed.

    A journal's name held by something that is not a file (a directory) would fail, or
    hang, when a sample is journaled; it is refused in one line naming it, before anything
    is removed and before a model loads.
    """
    folder = Path(run_dir) / INFLIGHT_DIR
    if not folder.is_dir():
        if folder.exists() or folder.is_symlink():
            raise RunConfigError(f"cannot use run dir {run_dir}: {folder} is not a directory; remove it")
        return 0
    entries = _entries(folder)
    for path in entries:  # refuse before removing anything, so a refused resume writes nothing
        if _JOURNAL_FILE.fullmatch(path.name) and path.exists() and not path.is_file():
            raise RunConfigError(f"cannot use run dir {run_dir}: {_not_a_file(path)}")
    keep = {journal_name(sample_id) for sample_id in in_flight}
    removed = 0
    for path in entries:
        match = _JOURNAL_NAME.fullmatch(path.name)
        staged = match is not None and match.group(2) is not None
        if match is None or not path.is_file() or (path.name in keep and not staged):
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    try:
        folder.rmdir()  # only if empty
    except OSError:
        pass
    return removed


def _entries(folder: Path) -> list[Path]:
    """What ``folder`` holds, or a one-line error naming it (a run directory may be unreadable)."""
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        raise RunConfigError(f"cannot read {folder}: {exc.strerror or exc}") from None


def _not_a_file(path: Path) -> str:
    """Why a journal path that is a directory (or a FIFO, ...) cannot be read or replaced."""
    return f"{path} is not a file, as a sample's journal must be; move it away"


def _line_key(sample_id: str, config: dict[str, Any]) -> bytes:
    """The checksum key of a journal: the sample and the run's settings (those a resume may not change)."""
    identity = json.dumps({"sample_id": sample_id, "config": _identity(config)}, sort_keys=True)
    return hashlib.sha256(identity.encode("utf-8")).digest()


def _identity(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``config`` without the keys a resume may change (:data:`RESUME_MUTABLE_KEYS`)."""
    out = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if path in RESUME_MUTABLE_KEYS:
            continue
        out[key] = _identity(value, path + ".") if isinstance(value, dict) else value
    return out


def _parse(line: bytes, number: int) -> Any:
    try:
        return json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise DoubtfulJournal(f"line {number} is not UTF-8") from None
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise DoubtfulJournal(f"line {number} is not JSON") from None


def _shape_problem(row: Any) -> str | None:
    """Why ``row`` is not a journaled evaluation, or None."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    missing = sorted(_REQUIRED - set(row))
    if missing:
        return f"no {', '.join(missing)}"
    unknown = sorted(set(row) - _REQUIRED - _OPTIONAL)
    if unknown:
        return f"unknown key {unknown[0]!r}"
    chain = row["chain"]
    if not isinstance(chain, list) or not all(_integer(i) and i >= 0 for i in chain):
        return "chain is not a list of layer indices"
    if row["answer"] is not None and not isinstance(row["answer"], str):
        return "answer is neither text nor null"
    if not _finite(row["reward"]):
        return f"reward {row['reward']!r} is not a number"
    if not isinstance(row["text"], str):
        return "text is not text"
    if row.get("decoy_reward") is not None and not _finite(row["decoy_reward"]):
        return f"decoy_reward {row['decoy_reward']!r} is not a number"
    if not isinstance(row.get("grading_timed_out", False), bool):
        return "grading_timed_out is not true or false"
    if not isinstance(row[CHECK_KEY], str):
        return "its checksum is not text"
    return None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
