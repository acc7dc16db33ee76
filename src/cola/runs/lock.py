"""One writer per run directory: an OS file lock held for the run's life.

Two ``cola search --resume`` processes on the same directory would each search the
samples they think are missing and append duplicate records. So a writer takes an
exclusive ``flock`` on ``<run>/.lock`` and keeps it until it is done; a second process
is refused at once with one line naming the holder's pid (written into the lock file).

Why ``flock`` and not a pid file: the kernel drops the lock when its holder dies, even
by ``kill -9``, so a crashed run never leaves a stale lock behind and nothing has to
guess whether a pid is still alive. The lock file itself stays in the directory (it is
empty of meaning once unlocked); removing it while another process might be opening it
would let two processes lock two different files, so it is removed only together with
a directory this process created and left empty, and a locker re-checks after locking
that the file it locked is still the one at that path.

RunStore objects of one process share the process's lock on a directory (counted), so a
library caller that keeps an old store alive (e.g. through a traceback) is not locked
out of its own run. Where ``fcntl`` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cola.errors import RunConfigError, RunInUseError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


@dataclass
class _Held:
    fd: int | None
    path: Path
    count: int = 1


_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


class RunLock:
    """This process's share of the exclusive lock on one run directory; ``release`` once."""

    def __init__(self, directory: str | Path):
        self._released = True  # until the lock is ours
        self.path = Path(directory) / LOCK_FILE
        self._key = str(self.path.resolve())
        with _GUARD:
            held = _HELD.get(self._key)
            if held is not None:
                held.count += 1
            else:
                _HELD[self._key] = _Held(_lock(self.path), self.path)
        self._released = False

    def release(self, remove: bool = False) -> None:
        """Give back this share; the last share unlocks (and, with ``remove``, deletes the file first)."""
        if self._released:
            return
        self._released = True
        with _GUARD:
            held = _HELD[self._key]
            held.count -= 1
            if held.count > 0:
                return
            del _HELD[self._key]
            if remove:
                try:
                    os.unlink(held.path)
                except OSError:
                    pass
            if held.fd is not None:
                os.close(held.fd)  # closing the descriptor drops the flock

    def __del__(self) -> None:  # a store dropped without close() still gives its share back
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _lock(path: Path) -> int | None:
    """Open and exclusively lock ``path``; RunInUseError (naming the holder) if another process has it."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    for _ in range(5):  # a finishing owner may unlink the file between our open and our lock
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise RunInUseError(
                f"run dir {path.parent} is in use by another cola process ({holder}); "
                "wait for it to finish or choose another --out"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)
    raise RunConfigError(f"could not lock {path}: it keeps being replaced")


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "pid unknown"
