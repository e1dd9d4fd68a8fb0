"""Artifacts: reproducible tarballs, their storage, and safe extraction.

A source's output is an *artifact*: a `.tar.gz` of the checked-out tree
(minus ignored paths) stored at `<root>/<kind>/<namespace>/<name>/<file>`,
published as `status.artifact` with a `sha256:` digest and served over HTTP
(`artifact_server.py`) to the appliers.

**Determinism.** Consumers compare digests to decide whether anything
changed, so the bytes depend on content only, as in Flux (the stream itself
is `sluice.core.tarwriter`'s): two checkouts of the same commit give the
same digest, whoever made them and whenever. A GitRepository's artifact is
normally built from the commit's objects inside a Git worker
(`Storage.archive_checkout`, `sluice.git.archiving`), with the same bytes.

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
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from sluice import git
from sluice.controllers.source.errors import (
    ArchiveOperationFailed,
    StorageOperationFailed,
    UnsafeArchiveEntry,
)
from sluice.core import tarballs, tarwriter
from sluice.core.sourceignore import IgnoreRules
from sluice.core.tarwriter import ArchiveSummary

__all__ = [
    "ArchiveSummary",
    "Artifact",
    "Storage",
    "build_archive",
    "extract",
]

_TEMP_PREFIX = ".tmp-"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")  # "+": chart versions with metadata


def build_archive(source: Path, out: IO[bytes], rules: IgnoreRules | None = None) -> ArchiveSummary:
    """Write a reproducible tar.gz of `source` (minus `rules`) to `out` (`sluice.core.tarwriter`)."""
    try:
        return tarwriter.archive_directory(source, out, rules)
    except tarballs.ArchiveError as err:
        raise ArchiveOperationFailed(str(err)) from None


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


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


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
        path, handle = self._open_temp(kind, namespace, name, filename)
        try:
            with handle:
                summary = build_archive(source, handle, rules)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(handle.name)
            raise
        return self._publish(path, handle.name, revision, summary)

    def _open_temp(self, kind: str, namespace: str, name: str,
                   filename: str) -> tuple[str, tempfile._TemporaryFileWrapper[bytes]]:
        """The artifact's path and a new temporary file next to where it goes."""
        path = self.artifact_path(kind, namespace, name, filename)
        target = self.local_path(path)
        try:
            return path, self._temp_in(target.parent)
        except OSError as err:
            raise StorageOperationFailed(f"failed to create '{target.parent}': {err}") from None

    def _publish(self, path: str, temp: str, revision: str, summary: ArchiveSummary) -> Artifact:
        """Move a written temporary file to `path`; readers see the old file or the new one."""
        try:
            os.chmod(temp, 0o600)  # Flux writes artifacts 0600
            os.replace(temp, self.local_path(path))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return Artifact(
            path=path,
            url=self.url_for(path),
            revision=revision,
            digest=summary.digest,
            size=summary.size,
            last_update_time=datetime.now(UTC).replace(microsecond=0),
        )

    async def archive_checkout(
        self,
        kind: str,
        namespace: str,
        name: str,
        filename: str,
        checkout: Path,
        revision: str,
        spec_ignore: str | None = None,
        *,
        from_disk: bool = False,
        timeout: float = 300.0,  # noqa: ASYNC109 - the Git worker's deadline
        key: str = "",
    ) -> Artifact:
        """Archive a Git checkout (`sluice.git.checkout`) in a Git worker process.

        The tar.gz is written by the worker straight into the temporary file,
        from the commit's objects (the checkout may have no work tree), so
        neither the files nor the compression cost this process anything;
        with `from_disk` the work tree is archived as the caller left it
        (includes copied in). Same bytes as `archive_sync` on the files.
        """
        path, handle = await asyncio.to_thread(self._open_temp, kind, namespace, name, filename)
        handle.close()
        try:
            summary = await git.archive(checkout, handle.name, spec_ignore=spec_ignore,
                                        from_disk=from_disk, timeout=timeout, key=key)
        except BaseException as err:
            await asyncio.to_thread(_unlink_quietly, handle.name)
            if isinstance(err, git.GitError):
                raise ArchiveOperationFailed(err.message) from None
            raise
        return await asyncio.to_thread(self._publish, path, handle.name, revision, summary)

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
