"""The embedded cluster's data directory: private from creation, and one server at a time.

The data directory holds everything a local attacker would want: the bearer
token, the CA and serving keys, the kubeconfig, and ``cluster.db`` (with its
``-wal`` and ``-shm`` files), where every Secret lives in clear. So every one
of them is created owner-only (``0700`` directories, ``0600`` files) by the
call that creates it (``os.open``/``mkdir`` modes), never chmodded after the
bytes are on disk: there is no window in which another user can open them.
Directories and files left looser by older versions are tightened on start.

Two servers on one directory would each keep their own revision counter over
the same SQLite file, hand out the same resourceVersion twice and lose
acknowledged writes, so :class:`DataDirLock` takes an exclusive ``flock`` on
``<data-dir>/lock`` for the life of the server. A second ``sluice up`` or
``sluice cluster up`` fails at once with :class:`DataDirInUse`, naming the pid
written in the lock file by the holder. The kernel drops the lock when the
holder exits, even on ``kill -9``, so a stale file never blocks a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path

from sluice.apiserver.errors import DataDirInUse

DIR_MODE = 0o700
FILE_MODE = 0o600
LOCK_FILE = "lock"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) with the directory itself ``0700``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Make an existing file owner-only (files written by older versions were ``0644``)."""
    with contextlib.suppress(FileNotFoundError):
        _tighten(path, FILE_MODE)


def create_private(path: Path) -> int:
    """Open ``path`` for writing, created ``0600`` if missing; returns the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    # An existing file keeps its mode through open(): tighten it before writing.
    if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        os.fchmod(fd, FILE_MODE)
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, the file ``0600`` from its first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        path.chmod(current & mode)


class DataDirLock:
    """An exclusive, non-blocking ``flock`` on ``<data-dir>/lock``, held until :meth:`release`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = create_private(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(self.path.parent, _holder(self.path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # The file stays: removing it would let a third server lock a fresh inode while a
        # second one still waits on the old. Closing the descriptor drops the lock.
        os.close(self._fd)
        self._fd = None


def _holder(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "x")
    except (OSError, ValueError):
        return None
