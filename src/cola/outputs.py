"""The one output rule of every command that writes (search, export, predict, evaluate, sweep, report).

What a user wrote is never destroyed by a command that writes beside it:

* **A target that exists and is not this command's own output is refused**, with or
  without ``--force``. A directory is recognised by its contents, never by one file name:
  a cola run directory (:func:`is_run_dir`: ``records.jsonl``, its ``.lock`` or
  ``inflight/``) is never replaced; an output directory is the command's own when it
  holds cola's manifest (:data:`MANIFEST`) of that kind; a single output file is the
  command's own when its first bytes have the shape that command writes
  (:attr:`OutputKind.sniff`).
* **``--force`` replaces only its own kind, and deletes nothing it did not write**: an
  output directory holding any entry its manifest does not list is refused, naming it.
* **Validate, stage, rename.** Commands call :func:`check_target` before loading a model or
  reading data, so a refused command writes nothing; the output is then written whole to
  a staging file or directory beside the target and renamed into place
  (:func:`staged_dir`, :func:`write_output`), so the target is either untouched or
  entirely the new output, never a merge. (Replacing a non-empty directory takes two
  renames, the old one aside and the new one in; a crash between them leaves the old one
  under ``.<name>.old-*`` beside it.)
* **Every OS refusal is one line naming the path** (:func:`os_errors`): read-only, a file
  where a directory should be, a name too long, a full disk.

:func:`atomic_write` is cola's single whole-file writer (temp file, fsync, ``os.replace``,
fsync of the directory); the run store, journals and every output use it.

May import: cola.errors
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cola.errors import ColaError, ExportError, OutputError

MANIFEST = ".cola-output.json"  # in every output directory cola writes: its kind and its entries
# What only a cola run directory holds (cola.runs.store and cola.runs.lock write them); a
# directory holding one of these is a run, whatever else it holds.
RUN_SIGNS = ("records.jsonl", ".lock", "inflight")
NAME_MAX = 255  # bytes per path component on the common file systems (ext4, xfs, btrfs, APFS)
_SNIFF_BYTES = 64 * 1024


def _json_lines_with(*keys: str) -> Callable[[bytes], bool]:
    """A sniffer: the first non-blank line is a JSON object holding ``keys``."""

    def sniff(head: bytes) -> bool:
        for line in head.splitlines():
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError:
                    return False
                return isinstance(row, dict) and all(key in row for key in keys)
        return True  # blank lines only: nothing to lose

    return sniff


def _starts_with(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda head: not head.strip() or head.lstrip().startswith(prefixes)


@dataclass(frozen=True)
class OutputKind:
    """One kind of output a command writes: how messages name it and how an earlier one is recognised."""

    name: str  # recorded in a directory's manifest
    what: str  # "an export": as messages name it
    sniff: Callable[[bytes], bool] | None = None  # single files: do these first bytes look like ours?
    file_hint: str = "a file name"  # what to give instead of a directory


EXPORT = OutputKind("export", "an export")
REPORT = OutputKind("report", "a report")
SWEEP = OutputKind("sweep", "a sweep")
MERGEKIT_RECIPE = OutputKind(
    "mergekit recipe", "a mergekit recipe", _starts_with(b"# cola chain "), "a file name ending in .yaml"
)
PREDICTIONS = OutputKind(
    "predictions", "a predictions file", _json_lines_with("sample_id", "predictor", "specs")
)
EVALUATION = OutputKind(
    "evaluation", "an evaluation report", _starts_with(b'{\n  "predictor": ', b'[\n  {\n    "predictor": ')
)
DETAILS = OutputKind(
    "evaluation details",
    "an evaluation details file",
    _json_lines_with("predictor", "sample_id", "vote_correct"),
)


# ----------------------------------------------------------------------- checks
def output_path(target: str | Path) -> Path:
    """``target`` as a Path, refusing an empty one (``Path("")`` would mean the current directory)."""
    if not str(target).strip():
        raise OutputError("the output path is empty; name a file or directory")
    path = Path(target).expanduser()
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise OutputError(
                f"cannot write {path}: a path component is over {NAME_MAX} bytes (File name too long)"
            )
    return path


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a cola run directory (a record, its lock or a journal is there)."""
    path = Path(path)
    return path.is_dir() and any(os.path.lexists(path / sign) for sign in RUN_SIGNS)


def check_target(
    target: str | Path, force: bool = False, is_dir: bool = True, kind: OutputKind = EXPORT
) -> None:
    """Refuse to write ``target`` unless it is absent, an empty directory, or (``force``) this kind's own output."""
    target = output_path(target)
    error = ExportError if kind in (EXPORT, MERGEKIT_RECIPE) else OutputError
    if not os.path.lexists(target):
        _check_creatable(target, error)
        return
    with os_errors(target, error):
        if is_dir:
            _check_dir(target, force, kind, error)
        else:
            _check_file(target, force, kind, error)


def _check_creatable(target: Path, error: type[ColaError]) -> None:
    """A target that does not exist yet: its nearest existing ancestor must be a directory we may write."""
    ancestor = target.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise error(f"cannot write {target}: {ancestor} exists and is not a directory")
    try:  # a probe, not os.access: root passes access() where the file system still refuses (/sys)
        fd, probe = tempfile.mkstemp(prefix=".cola-probe-", dir=ancestor)
    except OSError as exc:
        raise error(f"cannot write {target}: {ancestor} is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def _check_dir(target: Path, force: bool, kind: OutputKind, error: type[ColaError]) -> None:
    if not target.is_dir():
        raise error(f"{target} exists and is not a directory; remove it or choose another --out")
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return
    if is_run_dir(target):
        raise error(
            f"{target} is a cola run directory ({_shown(entries)}); no command but `cola search --resume` "
            "writes there and --force never replaces a run: choose another --out"
        )
    if not force:
        mine = [name for name in entries if name != MANIFEST] or entries  # the manifest is cola's bookkeeping
        raise error(
            f"{target} is not empty ({_shown(mine)}); pass --force to replace it, or choose another --out"
        )
    manifest = read_manifest(target)
    if manifest is None:
        raise error(
            f"{target} is not empty and does not look like {kind.what} written by cola (no {MANIFEST}); "
            f"--force only replaces cola's own {kind.name} output, so remove it yourself or choose another --out"
        )
    if manifest["kind"] != kind.name:
        raise error(
            f"{target} holds a cola {manifest['kind']} output, not {kind.what}; --force replaces only "
            f"{kind.what}: choose another --out"
        )
    foreign = [name for name in entries if name != MANIFEST and name not in manifest["files"]]
    if foreign:
        raise error(
            f"{target} holds files the earlier {kind.name} did not write ({_shown(foreign)}); --force never "
            "deletes them: move them or choose another --out"
        )


def _check_file(target: Path, force: bool, kind: OutputKind, error: type[ColaError]) -> None:
    if target.is_dir():
        raise error(f"{target} is a directory; give {kind.file_hint} or another --out")
    if not force:
        raise error(f"{target} already exists; pass --force to replace it, or choose another --out")
    with target.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if kind.sniff is not None and not kind.sniff(head):
        raise error(
            f"{target} exists and is not {kind.what} written by cola; --force replaces only that, "
            "so remove it yourself or choose another path"
        )


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def read_manifest(folder: Path) -> dict | None:
    """``{"kind": str, "files": [names]}`` of an output directory cola wrote, or None."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(data.get("kind") if isinstance(data, dict) else None, str) or not isinstance(
        files, list
    ):
        return None
    return {"kind": data["kind"], "files": [str(name) for name in files]}


@contextmanager
def os_errors(target: str | Path, error: type[ColaError] = OutputError, what: str = "") -> Iterator[None]:
    """An OS refusal (permissions, a file in the way, a name too long, disk full) as one line naming the path.

    The one wrapper of its kind: ``what`` says what the path is (``"run dir "``), ``error``
    which :class:`~cola.errors.ColaError` it raises.
    """
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "it (or a parent) exists and is not a directory"
        raise error(f"cannot write {what}{target}: {reason}") from None


# ---------------------------------------------------------------------- writing
@contextmanager
def staged_dir(target: str | Path, force: bool = False, kind: OutputKind = EXPORT) -> Iterator[Path]:
    """Yield an empty staging directory; on success it becomes ``target`` (replacing it if ``force``).

    The manifest listing every entry written is added last, so a later ``--force`` knows
    exactly what it may replace.
    """
    target = output_path(target)
    error = ExportError if kind is EXPORT else OutputError
    check_target(target, force, kind=kind)
    with os_errors(target, error):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name[:64]}.staging-", dir=target.parent))
        os.chmod(staging, 0o777 & ~_umask())  # as a plain mkdir would (mkdtemp makes it private)
    try:
        yield staging
        with os_errors(target, error):
            files = sorted(p.name for p in staging.iterdir())
            manifest = {"kind": kind.name, "files": files, "written_by": "cola"}
            atomic_write(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
            _fsync_tree(staging)
        check_target(target, force, kind=kind)  # nothing appeared there while we wrote
        with os_errors(target, error):
            _move_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, target: Path) -> None:
    if not target.exists() or not any(target.iterdir()):
        os.replace(staging, target)  # onto nothing or an empty directory: one atomic rename
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{target.name[:64]}.old-", dir=target.parent))
        os.replace(target, old)  # the old output aside, then the new one in
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(target.parent)


def _fsync_tree(folder: Path) -> None:
    """Flush every file a library wrote into the staging directory before it is renamed into place."""
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_dir(folder)


def write_output(
    target: str | Path, data: str | bytes, force: bool = False, kind: OutputKind = EXPORT
) -> Path:
    """Write one output file under the output rule: checked again, then :func:`atomic_write`."""
    target = output_path(target)
    error = ExportError if kind in (EXPORT, MERGEKIT_RECIPE) else OutputError
    check_target(target, force, is_dir=False, kind=kind)
    with os_errors(target, error):
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data)
    return target


def write_file_atomic(target: str | Path, text: str, force: bool = False) -> Path:
    """A mergekit recipe file (:func:`write_output` of :data:`MERGEKIT_RECIPE`)."""
    return write_output(target, text, force, MERGEKIT_RECIPE)


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` all or nothing, durably: cola's one whole-file writer.

    A temp file in the same directory (so the rename never crosses file systems) is
    written and fsynced, then ``os.replace``d onto ``path`` and the directory fsynced, so
    after a crash ``path`` holds its old content or all of ``data``, never part. Text is
    written as UTF-8. OS errors propagate; wrap the call in :func:`os_errors` for one line.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # as a plain open() would (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: str | Path) -> None:
    """Make a rename or creation inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
