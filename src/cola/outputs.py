"""Writing an output directory or file without clobbering what is there.

An export into a directory that already holds files used to overwrite some of them and
keep the rest: exporting Gemma over a SmolLM export left SmolLM's chat template beside
Gemma's weights, and the checkpoint loaded with a template it never had. So:

* :func:`check_target` refuses a non-empty target unless ``force``, and even with
  ``force`` only replaces something that looks like an earlier export (it holds one of
  :data:`EXPORT_MARKERS`): ``--force`` must never wipe a directory of other files.
* :func:`staged_dir` writes the whole output into a fresh staging directory beside the
  target and renames it into place only when complete: the target is either untouched
  or entirely the new output, never a merge. (Replacing a non-empty directory takes two
  renames: the old one aside, the new one in; a crash between them leaves the old one
  under ``.<name>.old-*`` next to it.)
* :func:`write_file_atomic` does the same for a single file (temp file + ``os.replace``).

Any ``OSError`` (read-only directory, a file where a directory should be) becomes one
:class:`~cola.errors.ExportError` line.

May import: cola.errors
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cola.errors import ExportError

EXPORT_MARKERS = ("config.json", "adapter_config.json", "mergekit.yaml")


def check_target(target: str | Path, force: bool = False, is_dir: bool = True) -> None:
    """Refuse to write ``target`` if it exists and is not empty, unless ``force`` and it is an export."""
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return
    if is_dir and not target.is_dir():
        raise ExportError(f"{target} exists and is not a directory; remove it or choose another --out")
    if not is_dir:
        if target.is_dir():
            raise ExportError(f"{target} is a directory; give a file name ending in .yaml or another --out")
        if not force:
            raise ExportError(f"{target} already exists; pass --force to replace it, or choose another --out")
        return
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return
    if not force:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise ExportError(
            f"{target} is not empty ({shown}); pass --force to replace it, or choose another --out"
        )
    if not any(marker in entries for marker in EXPORT_MARKERS):
        raise ExportError(
            f"{target} is not empty and does not look like an export (no {', '.join(EXPORT_MARKERS)}); "
            "--force only replaces an earlier export, so remove it yourself or choose another --out"
        )


@contextmanager
def os_errors(target: Path) -> Iterator[None]:
    """An OS refusal (permissions, a file in the way, disk full) as one ExportError line."""
    try:
        yield
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None


@contextmanager
def staged_dir(target: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory; on success it becomes ``target`` (replacing it if ``force``)."""
    target = Path(target)
    check_target(target, force)
    with os_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
        os.chmod(staging, 0o777 & ~_umask())  # as a plain mkdir would (mkdtemp makes it private)
    try:
        yield staging
        check_target(target, force)  # nothing appeared there while we wrote
        with os_errors(target):
            _move_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, target: Path) -> None:
    if not target.exists() or not any(target.iterdir()):
        os.replace(staging, target)  # onto nothing or an empty directory: one atomic rename
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, old)  # the old export aside, then the new one in
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def write_file_atomic(target: str | Path, text: str, force: bool = False) -> Path:
    """Write ``text`` to ``target`` (temp file + ``os.replace``); refuse an existing file unless ``force``."""
    target = Path(target)
    check_target(target, force, is_dir=False)
    with os_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o666 & ~_umask())  # as a plain open() would (mkstemp makes it private)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
