"""Reproducible tar.gz streams: the bytes of every source artifact.

Consumers compare artifact digests to decide whether anything changed, so
the bytes must depend on content only, as in Flux: entries depth-first in
byte order of names, a directory before its contents; owner, group and
timestamps zeroed; modes normalised to 0755 (directories and executables)
or 0644; GNU headers (long names through ``././@LongLink``); the gzip
header with no name and no time (level 6, Go's and gzip(1)'s default).

Two producers write the same stream through `TarGzWriter`:

* `archive_directory` walks a directory on disk (the source controller's
  `build_archive`: OCI and Helm contents, trees with includes);
* `sluice.git.archiving` walks a commit's tree objects inside a Git worker,
  so a checkout need not write 10,000 files only to read them back.

Both must give byte-identical output for the same content (tests in
``tests/source/test_artifacts.py`` and ``tests/git/test_archiving.py``).
The module sits in ``core`` so that the Git layer and the controllers share
it; failures are `sluice.core.tarballs.ArchiveError`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import queue
import stat
import tarfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sluice.core.sourceignore import IgnoreRules, walk
from sluice.core.tarballs import ArchiveError

__all__ = ["BATCH", "ArchiveSummary", "TarGzWriter", "archive_directory", "symlink_target"]

BATCH = 1 << 20  # bytes gathered before each gzip write; bigger files stream
COMPRESSLEVEL = 6

# The fields every entry shares (uid, gid, mtime 0; no uname, gname or device),
# as tarfile writes them in GNU format.
_GNU_MAGIC = b"ustar  \0"
_ZERO8 = b"0000000\0"
_ZERO12 = b"00000000000\0"
_AFTER_LINK = _GNU_MAGIC + tarfile.NUL * (32 + 32 + 8 + 8 + 155 + 12)
_MAX_SIZE = 8**11 - 1  # larger sizes need tarfile's base-256 number field
# Byte sum of the fixed fields (uid, gid, mtime, the checksum field counted as
# spaces, magic): the checksum is this plus the sum of the varying fields.
_FIXED_SUM = sum(_ZERO8 * 2 + _ZERO12 + b"        " + _GNU_MAGIC)
_PADS = [tarfile.NUL * n for n in range(tarfile.BLOCKSIZE)]


@dataclass(frozen=True)
class ArchiveSummary:
    digest: str  # "sha256:<hex>"
    size: int
    entries: int


def _header(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> bytes:
    """``TarInfo.tobuf(GNU_FORMAT)`` of one entry, byte for byte.

    tarfile builds each header through a TarInfo, a dict and a dozen helper
    calls: on a tree of 10,000 small files that was over half of the
    archive's time (issue 14's artifact ratio). Entries here have
    uid/gid/mtime 0 and no owner names, so only name, type, mode, size and
    link target vary; the rare entry with a name or link over 100 bytes (a
    ``././@LongLink`` record first) or a size past 8 GiB goes through tarfile.
    """
    raw_name = name.encode("utf-8", "surrogateescape")
    raw_link = link.encode("utf-8", "surrogateescape") if link else b""
    if len(raw_name) > tarfile.LENGTH_NAME or len(raw_link) > tarfile.LENGTH_LINK or \
            size > _MAX_SIZE:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.linkname = kind, mode, size, link
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    raw_mode = b"%07o\0" % mode
    raw_size = b"%011o\0" % size
    # The checksum is the byte sum with its own field counted as spaces, written
    # as six octal digits, a NUL and the field's last space (tarfile's layout).
    # NUL padding adds nothing, so only the varying fields need summing.
    check = _FIXED_SUM + sum(raw_name) + sum(raw_mode) + sum(raw_size) + kind[0] + sum(raw_link)
    return b"".join((raw_name.ljust(100, tarfile.NUL), raw_mode, _ZERO8, _ZERO8, raw_size,
                     _ZERO12, b"%06o\0 " % check, kind, raw_link.ljust(100, tarfile.NUL),
                     _AFTER_LINK))


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()


class TarGzWriter:
    """Entries in, the reproducible tar.gz out; the caller supplies the order.

    Headers and small contents are gathered into `BATCH`-sized writes:
    per-entry gzip calls dominate on trees of many small files. Compression
    and hashing run on a thread of their own (zlib, crc32 and sha256 release
    the GIL on large buffers), so they overlap with reading and framing the
    next entries; at most a few batches wait in between. `close` returns the
    summary; `abort` (or leaving a ``with`` block on an error) stops the
    thread and leaves `out` unfinished.
    """

    def __init__(self, out: IO[bytes], *, threaded: bool = True) -> None:
        self._hashing = _HashingWriter(out)
        self._gz = gzip.GzipFile(fileobj=self._hashing, mode="wb",
                                 compresslevel=COMPRESSLEVEL, mtime=0, filename="")
        self._batch = bytearray()
        self._offset = 0  # uncompressed bytes handed to gzip
        self.entries = 0
        self._failure: BaseException | None = None
        self._queue: queue.Queue[bytes | memoryview | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._compress, name="sluice-targz",
                                            daemon=True)
            self._thread.start()

    def __enter__(self) -> TarGzWriter:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is not None:
            self.abort()

    def _compress(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            if self._failure is None:
                try:
                    self._gz.write(chunk)
                except BaseException as err:  # raised in the caller's thread
                    self._failure = err

    def _write(self, data: bytes | memoryview) -> None:
        if self._failure is not None:
            raise self._failure
        self._offset += len(data)
        if self._queue is None:
            self._gz.write(data)
        else:
            self._queue.put(data)

    def _flush(self) -> None:
        if self._batch:
            self._write(bytes(self._batch))
            self._batch.clear()

    def _spill(self) -> None:
        if len(self._batch) >= BATCH:
            self._flush()

    def directory(self, rel: str) -> None:
        self._batch += _header(rel + "/", tarfile.DIRTYPE, 0o755)
        self.entries += 1
        self._spill()

    def symlink(self, rel: str, target: str) -> None:
        self._batch += _header(rel, tarfile.SYMTYPE, 0o777, link=target)
        self.entries += 1
        self._spill()

    def file(self, rel: str, data: bytes | memoryview, executable: bool) -> None:
        """A regular file whose content is at hand (at most `BATCH` bytes, or a view)."""
        size = len(data)
        batch = self._batch
        batch += _header(rel, tarfile.REGTYPE, 0o755 if executable else 0o644, size)
        if size > BATCH:
            self._flush()
            view = memoryview(data)
            for start in range(0, size, BATCH):
                self._write(view[start:start + BATCH])
        else:
            batch += data
        batch += _PADS[-size % tarfile.BLOCKSIZE]
        self.entries += 1
        self._spill()

    def stream(self, rel: str, size: int, executable: bool, chunks: Iterable[bytes]) -> None:
        """A regular file of `size` bytes read in `chunks`, never whole in memory."""
        self._batch += _header(rel, tarfile.REGTYPE, 0o755 if executable else 0o644, size)
        self._flush()
        remaining = size
        for chunk in chunks:
            if len(chunk) > remaining:
                raise ArchiveError(f"'{rel}' changed while archiving")
            self._write(chunk)
            remaining -= len(chunk)
        if remaining:
            raise ArchiveError(f"'{rel}' changed while archiving")
        self._batch += _PADS[-size % tarfile.BLOCKSIZE]
        self.entries += 1

    def _stop(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def abort(self) -> None:
        """Stop compressing; `out` holds an unfinished stream."""
        self._failure = self._failure or ArchiveError("archive aborted")
        self._stop()

    def close(self) -> ArchiveSummary:
        """End-of-archive marker, padded to a full record as tar(1) does; the summary."""
        written = self._offset + len(self._batch) + 2 * tarfile.BLOCKSIZE
        self._batch += tarfile.NUL * (2 * tarfile.BLOCKSIZE + (-written % tarfile.RECORDSIZE))
        self._flush()
        self._stop()
        if self._failure is not None:
            raise self._failure
        self._gz.close()
        return ArchiveSummary(f"sha256:{self._hashing.sha256.hexdigest()}", self._hashing.size,
                              self.entries)


def symlink_target(root: Path, rel: str) -> str | None:
    """The target of symlink `rel`, or None when it leaves the root (left out).

    Flux's archiver keeps only regular files and directories, so a symlink
    out of the repository never fails a source there: it is left out of the
    artifact. Sluice keeps the links that stay inside the tree (overlays
    sharing a file work) and leaves out, like Flux, every one that is
    absolute or climbs out, judged both by its text and by where it really
    resolves (``a -> b/..`` with ``b -> .`` is inside on paper only).
    """
    target = os.readlink(root / rel)
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
        return None
    real_root = os.path.realpath(root)
    real = os.path.realpath(root / rel)
    if real != real_root and not real.startswith(real_root + os.sep):
        return None
    return target


def _read(fd: int, size: int) -> bytes:
    """Up to `size` bytes of `fd`, fewer only at its end."""
    data = os.read(fd, size)
    if len(data) == size or not data:
        return data
    parts = [data]
    left = size - len(data)
    while left and (more := os.read(fd, left)):
        parts.append(more)
        left -= len(more)
    return b"".join(parts)


def _chunks(fd: int, size: int) -> Iterable[bytes]:
    remaining = size + 1  # one byte more: a file that grew is noticed
    while remaining and (chunk := _read(fd, min(BATCH, remaining))):
        yield chunk
        remaining -= len(chunk)


def archive_directory(source: Path, out: IO[bytes],
                      rules: IgnoreRules | None = None) -> ArchiveSummary:
    """Write the reproducible tar.gz of `source` (minus `rules`) to `out`."""
    rules = rules if rules is not None else IgnoreRules.defaults()
    if not source.is_dir():
        raise ArchiveError(f"source '{source}' is not a directory")
    try:
        with TarGzWriter(out) as writer:
            return _walk_into(writer, source, rules)
    except ArchiveError:
        raise
    except (OSError, tarfile.TarError) as err:
        raise ArchiveError(f"failed to archive '{source}': {err}") from None


def _walk_into(writer: TarGzWriter, source: Path, rules: IgnoreRules) -> ArchiveSummary:
    """Every kept entry of `source`, in `walk` order, into `writer`; the summary."""
    for rel, entry in walk(source, rules):
        if entry.is_symlink():
            link = symlink_target(source, rel)
            if link is not None:  # out of the source root: left out, as Flux does
                writer.symlink(rel, link)
        elif entry.is_dir(follow_symlinks=False):
            writer.directory(rel)
        elif entry.is_file(follow_symlinks=False):
            # Plain descriptors: `open()`'s buffered file objects cost twice the
            # time on trees of many small files. O_NONBLOCK: a FIFO swapped in
            # meanwhile must not hang the archive.
            fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise ArchiveError(f"'{rel}' changed while archiving")
                executable = bool(st.st_mode & 0o111)
                if st.st_size <= BATCH:
                    content = _read(fd, st.st_size + 1)
                    if len(content) != st.st_size:
                        raise ArchiveError(f"'{rel}' changed while archiving")
                    writer.file(rel, content, executable)
                else:
                    writer.stream(rel, st.st_size, executable, _chunks(fd, st.st_size))
            finally:
                os.close(fd)
        # sockets, FIFOs and devices never belong in an artifact
    return writer.close()
