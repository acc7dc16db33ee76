"""A run directory that survives ``kill -9``: ``config.json`` + append-only ``records.jsonl``.

Durability rules, and why:

* One writer at a time: a store that writes holds the directory's OS file lock
  (:mod:`cola.runs.lock`) until it is closed, so two processes can never append the
  same samples twice; the second is refused with the holder's pid. The kernel drops the
  lock of a killed process, so a crash never leaves the directory locked.
* A run that fails before its first record (bad data found late, a model that does not
  load, ...) leaves nothing behind (:meth:`RunStore.open`), and a directory with a
  config but no records yet holds no results, so a new command may reuse it.
* ``config.json`` is written to a temp file, fsynced, then ``os.replace``d, so a crash
  leaves either the old config or the new one, never half of one.
* Each record is ONE line written with one ``write`` call on an ``O_APPEND`` descriptor,
  then fsynced, so after a crash the file is every finished record plus at most one
  torn (newline-less) tail.
* Reading ignores a torn tail (with a one-line warning); the next append first truncates
  it away, so a resumed run neither loses a finished record nor keeps a half one.
* A sample id already in the file is never written again (``append`` returns False),
  which makes re-running a sample after a crash harmless.
* Resuming with a different config is refused (naming the keys that differ), because
  mixing records made under two configs would silently corrupt every statistic. Keys that
  only bound memory or speed (:data:`RESUME_MUTABLE_KEYS`) may change.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cola.errors import ColaError, ColaWarning, RunConfigError
from cola.outputs import atomic_write, fsync_dir, os_errors, output_path
from cola.runs.lock import LOCK_FILE, RunLock
from cola.runs.records import SampleRecord
from cola.runs.saved import (
    CONFIG_FILE,
    INFLIGHT_DIR,
    RECORDS_FILE,
    check_layout,
    is_run_config,
    read_config_json,
)

__all__ = ["CONFIG_FILE", "RECORDS_FILE", "RESUME_MUTABLE_KEYS", "RunStore", "config_differences"]
RUN_MEMBERS = frozenset({CONFIG_FILE, RECORDS_FILE, LOCK_FILE, INFLIGHT_DIR})

# Dotted config keys that may change on --resume: they affect how a run executes (memory,
# speed), never what a record contains. Everything else must match exactly. (Drafting gives
# the undrafted text: tests/test_drafting.py; runs made before it existed have no such key.)
# The null arms may be switched on for a run made without them: the resumed run adds them
# to the records that lack them, and each record keeps its own sampling temperature and top-p.
RESUME_MUTABLE_KEYS: frozenset[str] = frozenset(
    {
        "progress",
        "quiet",
        "workers",
        "ray",
        "eval.prefix_cache_mb",
        "eval.draft",
        "length_null",
        "sampling",
        "sampling_temperature",
        "sampling_top_p",
        "menu_from",
        "search.match_shapes",
    }
)


def _normalise(config: dict[str, Any]) -> dict[str, Any]:
    """The config as JSON would give it back (tuples -> lists), so comparisons are fair."""
    return json.loads(json.dumps(config))


def config_differences(saved: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted_key, saved_value, new_value)`` for every leaf that differs."""
    if isinstance(saved, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in list(saved) + [k for k in new if k not in saved]:
            path = f"{prefix}{key}"
            if path in RESUME_MUTABLE_KEYS:
                continue
            missing = "<absent>"
            out.extend(config_differences(saved.get(key, missing), new.get(key, missing), path + "."))
        return out
    if saved != new:
        return [(prefix.rstrip("."), saved, new)]
    return []


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented, key-sorted JSON, written all or nothing (:func:`cola.outputs.atomic_write`)."""
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


class RunStore:
    """One run directory. One writer (it holds the directory's lock); any number of readers."""

    def __init__(self, path: str | Path):
        self._named = str(path).strip() != ""  # Path("") would silently mean the current directory
        self.path = Path(path)
        self.config_path = self.path / CONFIG_FILE
        self.records_path = self.path / RECORDS_FILE
        self._done: set[str] | None = None  # sample ids on disk, once the file was scanned
        self._repaired = False
        self._lock: RunLock | None = None
        self._warned: set[str] = set()

    # -------------------------------------------------------------------- config
    def exists(self) -> bool:
        """Whether the directory holds results: at least one (possibly torn) record."""
        return self.records_path.exists() and self.records_path.stat().st_size > 0

    def load_config(self) -> dict[str, Any] | None:
        """The saved config as a JSON object (None if there is none); a damaged one is one line."""
        return read_config_json(self.path)

    def check_target(self) -> None:
        """Refuse, before anything is written, a directory that is not (or cannot become) a run.

        A run directory is recognised by its contents: an empty directory may become one; a
        directory whose ``config.json`` is a run's config is one, whatever else it holds
        (a report written into it, say); anything else (a model or export whose
        ``config.json`` is not a run's, a folder of other files) is refused, so a search
        never writes over files it does not own.
        """
        output_path(self.path if self._named else "")
        if not self.path.is_dir():
            return  # absent (created on acquire), or a file in the way (acquire's one-line OS error)
        check_layout(self.path)
        entries = sorted(p.name for p in self.path.iterdir())
        saved = read_config_json(self.path)
        if saved is not None and not is_run_config(saved):
            raise RunConfigError(
                f"{self.path} is not a cola run directory: its {CONFIG_FILE} is not a run config "
                "(a model or an export?); choose another --out"
            )
        foreign = [name for name in entries if name not in RUN_MEMBERS]
        if saved is None and foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise RunConfigError(
                f"{self.path} exists and is not a cola run directory (it holds {shown}); choose another --out"
            )

    def create(
        self, config: dict[str, Any], resume: bool = False, sample_ids: Collection[str] | None = None
    ) -> None:
        """Lock the directory, then start a run here or (``resume``) continue one with the same config.

        Resuming also checks every record against the run: its task must be the config's
        and (given ``sample_ids``, the samples the config loads) its sample one of the run's.
        The lock is held until :meth:`close` (or until this object is dropped).
        """
        new = _normalise(config)
        self.check_target()
        self.acquire()
        if self.exists():
            if not resume:
                raise RunConfigError(
                    f"run dir {self.path} already exists; pass --resume or choose another --out"
                )
            self.check_resume(new, sample_ids)
            if self.load_config() is not None:
                return
        with os_errors(self.path, RunConfigError, "run dir "):
            write_json_atomic(self.config_path, new)

    def check_resume(self, config: dict[str, Any], sample_ids: Collection[str] | None = None) -> None:
        """Refuse to continue this run with ``config``: the saved config differs, or a record is foreign."""
        saved = self.load_config()
        if saved is not None:
            diffs = config_differences(saved, _normalise(config))
            if diffs:
                details = "; ".join(f"{key}: saved {old!r}, now {value!r}" for key, old, value in diffs)
                raise RunConfigError(
                    f"cannot resume {self.path}: the config changed ({details}); "
                    "use the original settings or choose another --out"
                )
        self.check_records(config.get("task"), sample_ids)

    def check_records(self, task: Any, sample_ids: Collection[str] | None = None) -> None:
        """Refuse records made by another run: of another task, or (given ``sample_ids``) of other samples."""
        wanted = _task_key(task) if isinstance(task, str) else None
        allowed = set(sample_ids) if sample_ids is not None else None
        for number, record in enumerate(self.load_records(), start=1):
            if wanted is not None and _task_key(record.task) != wanted:
                raise RunConfigError(
                    f"cannot resume {self.path}: record {number} ({record.sample_id!r}) in {RECORDS_FILE} is "
                    f"of task {record.task}, but the run's task is {task}; move the file away or choose "
                    "another --out"
                )
            if allowed is not None and record.sample_id not in allowed:
                raise RunConfigError(
                    f"cannot resume {self.path}: record {number} in {RECORDS_FILE} is of sample "
                    f"{record.sample_id!r}, which this run's config does not load; move the file away or "
                    "choose another --out"
                )

    @contextmanager
    def open(
        self, config: dict[str, Any], resume: bool = False, sample_ids: Collection[str] | None = None
    ) -> Iterator[RunStore]:
        """:meth:`create`, then the block; the lock is released at the end.

        If the block fails before any record was written, what this call created (the
        config, the lock file, the directory) is removed again, so a corrected retry
        starts clean instead of meeting "run dir already exists".
        """
        created_dir = not self.path.exists()
        had_config = self.config_path.exists()
        try:
            self.create(config, resume, sample_ids)
            yield self
        except BaseException:
            if self._lock is not None and not self.exists():
                self._discard(created_dir, had_config)
            raise
        finally:
            self.close()

    def _discard(self, created_dir: bool, had_config: bool) -> None:
        for path, ours in ((self.config_path, not had_config), (self.records_path, created_dir)):
            if ours:
                try:
                    path.unlink()
                except OSError:
                    pass
        if created_dir:
            self._lock.release(remove=True)
            self._lock = None
            try:
                self.path.rmdir()  # only if empty: never remove what someone else put there
            except OSError:
                pass

    def acquire(self) -> None:
        """Create the directory if needed and take its lock (RunInUseError if another process has it)."""
        if self._lock is None:
            with os_errors(self.path, RunConfigError, "run dir "):
                self.path.mkdir(parents=True, exist_ok=True)
                self._lock = RunLock(self.path)

    def close(self) -> None:
        """Release the lock (idempotent); reading stays possible."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ------------------------------------------------------------------- records
    def _scan(self) -> tuple[list[SampleRecord], int, bool]:
        """``(records, end_of_last_good_line, tail_is_complete_record_without_newline)``."""
        if not self.records_path.exists():
            return [], 0, False
        try:
            data = self.records_path.read_bytes()
        except OSError as exc:  # a directory where the records belong, no permission
            raise RunConfigError(f"cannot read {self.records_path}: {exc.strerror or exc}") from None
        records: list[SampleRecord] = []
        seen: set[str] = set()
        pos = 0
        number = 0
        while pos < len(data):
            newline = data.find(b"\n", pos)
            number += 1
            line = data[pos:] if newline < 0 else data[pos:newline]
            record = None
            if line.strip():
                try:
                    record = _record_of(json.loads(line))
                except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                    if newline < 0:  # torn tail of an interrupted append
                        self._warn(
                            f"{self.records_path}:{number}: ignoring a torn last line ({len(line)} bytes, "
                            "an interrupted write); a resumed run drops it"
                        )
                        return records, pos, False
                    raise ColaError(f"{self.records_path}:{number}: corrupt record ({exc})") from None
            if record is not None and record.sample_id in seen:
                self._warn(
                    f"{self.records_path}:{number}: a second record of sample {record.sample_id!r}; "
                    "only the first is used"
                )
            elif record is not None:
                seen.add(record.sample_id)
                records.append(record)
            if newline < 0:
                # A complete JSON object just missing its newline (e.g. a hand-edited file): keep it.
                return records, len(data), record is not None
            pos = newline + 1
        return records, pos, False

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(message, ColaWarning, stacklevel=3)

    def load_records(self) -> list[SampleRecord]:
        """Every complete record, in file order (a torn trailing line is ignored, with a warning)."""
        records, _, _ = self._scan()
        self._done = {r.sample_id for r in records}
        return records

    def done_ids(self) -> set[str]:
        if self._done is None:
            self.load_records()
        assert self._done is not None
        return set(self._done)

    def _repair(self) -> None:
        """Before the first append: drop a torn tail, or terminate a newline-less last record."""
        records, end, needs_newline = self._scan()
        self._done = {r.sample_id for r in records}
        if self.records_path.exists():
            size = self.records_path.stat().st_size
            if needs_newline:
                self._write(b"\n")
            elif end < size:
                os.truncate(self.records_path, end)
                with open(self.records_path, "rb+") as handle:
                    os.fsync(handle.fileno())
        self._repaired = True

    def _write(self, data: bytes) -> None:
        created = not self.records_path.exists()
        fd = os.open(self.records_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            while written < len(data):  # regular files write fully; this is belt and braces
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path)

    def replace(self, record: SampleRecord) -> None:
        """Durably swap the stored record of ``record``'s sample for ``record`` (a null added on resume).

        The whole file is rewritten beside itself and renamed into place, so a crash leaves
        either the old file or the new one, never a mix.
        """
        if not self._repaired:
            self.acquire()
            self._repair()
        records = self.load_records()
        if record.sample_id not in self._done:
            raise ColaError(f"{self.records_path}: no record of sample {record.sample_id!r} to replace")
        lines = [
            json.dumps((record if r.sample_id == record.sample_id else r).to_json(), separators=(",", ":"))
            for r in records
        ]
        with os_errors(self.path, RunConfigError, "run dir "):
            atomic_write(self.records_path, "".join(line + "\n" for line in lines))

    def append(self, record: SampleRecord) -> bool:
        """Durably add one record; False (and nothing written) if its sample id is already stored."""
        if not self._repaired:
            self.acquire()
            self._repair()
        assert self._done is not None
        if record.sample_id in self._done:
            return False
        line = (
            json.dumps(record.to_json(), separators=(",", ":")) + "\n"
        )  # ASCII: no line splitter can tear it
        with os_errors(self.path, RunConfigError, "run dir "):
            self._write(line.encode("utf-8"))
        self._done.add(record.sample_id)
        return True


def _record_of(data: Any) -> SampleRecord:
    """A record from one parsed line; a line of another shape (``null``, a list) is a ValueError."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return SampleRecord.from_json(data)


def _task_key(name: str) -> str:
    """Task names as the task registry compares them ("arc-easy" is "arc_easy")."""
    return name.strip().lower().replace("-", "_")
