"""Artifacts: reproducible tarballs, their storage, and safe extraction.

A source's output is an *artifact*: a `.tar.gz` of the checked-out tree
(minus ignored paths) stored at `<root>/<kind>/<namespace>/<name>/<file>`,
published as `status.artifact` with a `sha256:` digest and served over HTTP
(`artifact_server.py`) to the appliers.

**Determinism.** Consumers compare digests to decide whether anything
changed, so the bytes must depend on content only, as in Flux: entries are
written depth-first in byte order of names; owner, group and timestamps are
zeroed; modes are normalised to 0755 (directories and executables) or 0644;
the gzip header has no name and no time. Two checkouts of the same commit
therefore give the same digest, whoever made them and whenever.

**Safety.** Building leaves out symlinks that are absolute or climb out of
the root (they would point into the controller's disk once extracted; Flux
leaves every symlink out and carries on, so one such link must not fail the
source). Extraction (`extract`, also used by the kustomization side) refuses
entries with absolute paths, `..` components, symlinks leaving the
destination, hard links, devices and FIFOs, and writes nothing through a
symlink: it raises `UnsafeArchiveEntry` (reason `ArchiveOperationFailed`).

**Storage.** `Storage` names artifacts, writes them atomically (temporary
file in the same directory, then `os.replace`), keeps the newest few per
object (`garbage_collect`) and deletes an object's files (`remove_all`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from sluice.controllers.source.errors import (
    ArchiveOperationFailed,
    StorageOperationFailed,
    UnsafeArchiveEntry,
)
from sluice.core import tarballs
from sluice.core.sourceignore import IgnoreRules, walk

__all__ = [
    "ArchiveSummary",
    "Artifact",
    "Storage",
    "build_archive",
    "extract",
]

_CHUNK = 1 << 16
_BATCH = 1 << 20  # bytes gathered before each gzip write; bigger files stream
_TEMP_PREFIX = ".tmp-"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")  # "+": chart versions with metadata


@dataclass(frozen=True)
class ArchiveSummary:
    digest: str  # "sha256:<hex>"
    size: int
    entries: int


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


def _symlink_target(root: Path, rel: str) -> str | None:
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


# The fields every entry shares (uid, gid, mtime 0; no uname, gname or device),
# as tarfile writes them in GNU format on this Python.
_GNU_MAGIC = b"ustar  \0"
_ZERO8 = b"0000000\0"
_ZERO12 = b"00000000000\0"
_AFTER_LINK = _GNU_MAGIC + tarfile.NUL * (32 + 32 + 8 + 8 + 155 + 12)
_MAX_SIZE = 8**11 - 1  # larger sizes need tarfile's base-256 number field


def _tar_header(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> bytes:
    """``TarInfo.tobuf(GNU_FORMAT)`` of one entry, byte for byte.

    tarfile builds each header through a TarInfo, a dict and a dozen helper
    calls: on a tree of 10,000 small files that was over half of the
    archive's time (issue 14's artifact ratio). Entries here have
    uid/gid/mtime 0 and no owner names, so only name, type, mode, size and
    link target vary; the rare entry with a name or link over 100 bytes (a
    ``././@LongLink`` record first) or a size past 8 GiB goes through tarfile.
    """
    raw_name = name.encode("utf-8", "surrogateescape")
    raw_link = link.encode("utf-8", "surrogateescape")
    if len(raw_name) > tarfile.LENGTH_NAME or len(raw_link) > tarfile.LENGTH_LINK or \
            size > _MAX_SIZE:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.linkname = kind, mode, size, link
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    head = b"".join((raw_name.ljust(100, tarfile.NUL), b"%07o\0" % mode, _ZERO8, _ZERO8,
                     b"%011o\0" % size, _ZERO12, b"        ", kind,
                     raw_link.ljust(100, tarfile.NUL), _AFTER_LINK))
    # The checksum is the byte sum with its own field counted as spaces, written
    # as six octal digits, a NUL and the field's last space (tarfile's layout).
    return head[:148] + b"%06o\0" % sum(head) + head[155:]


def _copy_exactly(path: str, out: gzip.GzipFile, size: int, rel: str) -> None:
    """Copy exactly `size` bytes (what the tar header promised) of `path`."""
    with open(path, "rb") as handle:
        remaining = size
        while remaining:
            chunk = handle.read(min(_BATCH, remaining))
            if not chunk:
                raise ArchiveOperationFailed(f"'{rel}' changed while archiving")
            out.write(chunk)
            remaining -= len(chunk)


def build_archive(source: Path, out: IO[bytes], rules: IgnoreRules | None = None) -> ArchiveSummary:
    """Write a reproducible tar.gz of `source` (minus `rules`) to `out`."""
    rules = rules if rules is not None else IgnoreRules.defaults()
    if not source.is_dir():
        raise ArchiveOperationFailed(f"source '{source}' is not a directory")
    writer = _HashingWriter(out)
    entries = 0
    batch = bytearray()
    try:
        with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
            for rel, entry in walk(source, rules):
                content, stream, size = b"", None, 0
                if entry.is_symlink():
                    link = _symlink_target(source, rel)
                    if link is None:
                        continue  # out of the source root: left out, as Flux does
                    header = _tar_header(rel, tarfile.SYMTYPE, 0o777, link=link)
                elif entry.is_dir(follow_symlinks=False):
                    header = _tar_header(rel + "/", tarfile.DIRTYPE, 0o755)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    size = st.st_size
                    header = _tar_header(rel, tarfile.REGTYPE,
                                         0o755 if st.st_mode & 0o111 else 0o644, size)
                    if size <= _BATCH:
                        with open(entry.path, "rb") as handle:
                            content = handle.read(size + 1)
                        if len(content) != size:
                            raise ArchiveOperationFailed(f"'{rel}' changed while archiving")
                    else:
                        stream = entry.path
                else:
                    continue  # sockets, FIFOs and devices never belong in an artifact
                # GNU headers (long names via ././@LongLink), batched into
                # large writes: per-entry TarFile.addfile and gzip calls
                # dominate on trees of many small files.
                batch += header
                if stream is not None:
                    # A big file goes straight through, never whole in memory.
                    gz.write(batch)
                    batch.clear()
                    _copy_exactly(stream, gz, size, rel)
                else:
                    batch += content
                batch += tarfile.NUL * (-size % tarfile.BLOCKSIZE)
                if len(batch) >= _BATCH:
                    gz.write(batch)
                    batch.clear()
                entries += 1
            # End-of-archive marker, padded to a full record as tar(1) does.
            written = gz.tell() + len(batch) + 2 * tarfile.BLOCKSIZE
            batch += tarfile.NUL * (2 * tarfile.BLOCKSIZE + (-written % tarfile.RECORDSIZE))
            gz.write(batch)
    except ArchiveOperationFailed:
        raise
    except (OSError, tarfile.TarError) as err:
        raise ArchiveOperationFailed(f"failed to archive '{source}': {err}") from None
    return ArchiveSummary(f"sha256:{writer.sha256.hexdigest()}", writer.size, entries)


# ----------------------------------------------------------------- extraction


def extract(tarball: Path | BinaryIO, dest: Path, *, max_size: int | None = None) -> int:
    """Safely extract a tarball (see :mod:`sluice.core.tarballs`), with the source errors."""
    try:
        return tarballs.extract(tarball, dest, max_size=max_size)
    except tarballs.UnsafeArchiveEntry as err:
        raise UnsafeArchiveEntry(str(err)) from None
    except tarballs.ArchiveError as err:
        raise ArchiveOperationFailed(str(err)) from None


# -------------------------------------------------------------------- storage


@dataclass(frozen=True)
class Artifact:
    """A stored artifact, shaped like Flux's `status.artifact`."""

    path: str
    url: str
    revision: str
    digest: str
    size: int
    last_update_time: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "path": self.path,
            "url": self.url,
            "revision": self.revision,
            "digest": self.digest,
            "lastUpdateTime": self.last_update_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "size": self.size,
        }
        if self.metadata:
            status["metadata"] = dict(self.metadata)
        return status


class Storage:
    """Artifact files under `root`, published at `http://<address>/<path>`."""

    def __init__(self, root: Path, advertised_address: str = "localhost:9090") -> None:
        self.root = root
        self.advertised_address = advertised_address.rstrip("/")

    def artifact_path(self, kind: str, namespace: str, name: str, filename: str) -> str:
        """`<kind-lower>/<namespace>/<name>/<filename>`, each part validated."""
        parts = (kind.lower(), namespace, name, filename)
        for part in parts:
            if not _SEGMENT.match(part) or part in (".", ".."):
                raise StorageOperationFailed(f"invalid artifact path segment '{part}'")
        return "/".join(parts)

    def local_path(self, path: str) -> Path:
        """The file behind a stored artifact path, refusing anything outside root."""
        parts = path.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise StorageOperationFailed(f"invalid artifact path '{path}'")
        return self.root.joinpath(*parts)

    def url_for(self, path: str) -> str:
        address = self.advertised_address
        if "://" not in address:
            address = f"http://{address}"
        return f"{address}/{path}"

    def exists(self, path: str) -> bool:
        return self.local_path(path).is_file()

    def _temp_in(self, directory: Path) -> tempfile._TemporaryFileWrapper[bytes]:
        directory.mkdir(parents=True, exist_ok=True)
        return tempfile.NamedTemporaryFile(dir=directory, prefix=_TEMP_PREFIX, delete=False)

    def write_atomic(self, path: str, data: bytes) -> None:
        """Write `data` at `path`; readers see the old file or the new one."""
        target = self.local_path(path)
        try:
            handle = self._temp_in(target.parent)
        except OSError as err:
            raise StorageOperationFailed(f"failed to create '{target.parent}': {err}") from None
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(handle.name, 0o600)  # Flux writes artifacts 0600
            os.replace(handle.name, target)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(handle.name)
            raise StorageOperationFailed(f"failed to write artifact '{path}': {err}") from None

    def archive_sync(
        self,
        kind: str,
        namespace: str,
        name: str,
        filename: str,
        source: Path,
        revision: str,
        rules: IgnoreRules | None = None,
    ) -> Artifact:
        """Archive `source` as the artifact `filename` of one object."""
        path = self.artifact_path(kind, namespace, name, filename)
        target = self.local_path(path)
        try:
            handle = self._temp_in(target.parent)
        except OSError as err:
            raise StorageOperationFailed(f"failed to create '{target.parent}': {err}") from None
        try:
            with handle:
                summary = build_archive(source, handle, rules)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(handle.name, 0o600)  # Flux writes artifacts 0600
            os.replace(handle.name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(handle.name)
            raise
        return Artifact(
            path=path,
            url=self.url_for(path),
            revision=revision,
            digest=summary.digest,
            size=summary.size,
            last_update_time=datetime.now(UTC).replace(microsecond=0),
        )

    async def archive(
        self,
        kind: str,
        namespace: str,
        name: str,
        filename: str,
        source: Path,
        revision: str,
        rules: IgnoreRules | None = None,
    ) -> Artifact:
        """`archive_sync` on a worker thread."""
        return await asyncio.to_thread(
            self.archive_sync, kind, namespace, name, filename, source, revision, rules
        )

    def _object_dir(self, kind: str, namespace: str, name: str) -> tuple[Path, str]:
        """The directory holding one object's artifacts, and its path prefix."""
        prefix = self.artifact_path(kind, namespace, name, "x").removesuffix("x")
        return self.local_path(prefix.rstrip("/")), prefix

    def garbage_collect(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        keep: int = 2,
        current: str | None = None,
        stale_temp_seconds: float = 600.0,
    ) -> list[str]:
        """Delete all but the `keep` newest artifacts of one object.

        `current` (the path in `status.artifact`) is always kept and counts
        towards `keep`. Abandoned temporary files older than
        `stale_temp_seconds` go too. Returns the deleted artifact paths.
        """
        directory, prefix = self._object_dir(kind, namespace, name)
        if not directory.is_dir():
            return []
        files: list[tuple[float, str, Path]] = []
        now = time.time()
        try:
            for entry in os.scandir(directory):
                if not entry.is_file(follow_symlinks=False):
                    continue
                mtime = entry.stat(follow_symlinks=False).st_mtime
                if entry.name.startswith(_TEMP_PREFIX):
                    if now - mtime > stale_temp_seconds:
                        os.unlink(entry.path)
                    continue
                files.append((mtime, entry.name, Path(entry.path)))
            files.sort(key=lambda f: (f[0], f[1]), reverse=True)
            current_name = current.rsplit("/", 1)[-1] if current else None
            ordered = [f for f in files if f[1] == current_name] + [
                f for f in files if f[1] != current_name
            ]
            removed: list[str] = []
            for _, filename, path in ordered[max(keep, 1 if current_name else 0) :]:
                path.unlink()
                removed.append(prefix + filename)
        except OSError as err:
            raise StorageOperationFailed(
                f"garbage collection of '{directory}' failed: {err}"
            ) from None
        return removed

    def remove_all(self, kind: str, namespace: str, name: str) -> list[str]:
        """Delete every stored file of one object (on object deletion)."""
        directory, prefix = self._object_dir(kind, namespace, name)
        if not directory.exists():
            return []
        removed = sorted(
            prefix + entry.name
            for entry in os.scandir(directory)
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith(_TEMP_PREFIX)
        )
        try:
            shutil.rmtree(directory)
        except OSError as err:
            raise StorageOperationFailed(f"failed to remove '{directory}': {err}") from None
        return removed
