"""Storing a ready-made file (an index, a chart archive, an OCI layer) as an artifact.

`Storage.archive_sync` tars a directory; the Helm and OCI kinds already hold
the artifact's bytes (the index JSON, the chart ``.tgz``, the layer blob), so
`store_file` writes them atomically at ``<kind>/<ns>/<name>/<filename>``
and returns the `Artifact` with its ``sha256:`` digest and size. `link`
points a fixed name (``index.yaml``, ``latest.tar.gz``) at the current file,
as source-controller's `Storage.Symlink` does for ``status.url``; the artifact
server refuses only links that leave the storage root, and garbage
collection skips links.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime

from sluice.controllers.source.artifacts import Artifact, Storage
from sluice.controllers.source.errors import StorageOperationFailed

__all__ = ["link", "store_file"]


def _store_sync(storage: Storage, kind: str, namespace: str, name: str, filename: str,
                data: bytes, revision: str, metadata: Mapping[str, str] | None) -> Artifact:
    path = storage.artifact_path(kind, namespace, name, filename)
    storage.write_atomic(path, data)
    return Artifact(path=path, url=storage.url_for(path), revision=revision,
                    digest=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data),
                    last_update_time=datetime.now(UTC).replace(microsecond=0),
                    metadata=dict(metadata or {}))


async def store_file(storage: Storage, kind: str, namespace: str, name: str, filename: str,
                     data: bytes, revision: str,
                     metadata: Mapping[str, str] | None = None) -> Artifact:
    """Write ``data`` as the artifact ``filename`` of one object (on a worker thread)."""
    return await asyncio.to_thread(_store_sync, storage, kind, namespace, name, filename, data,
                                   revision, metadata)


def _link_sync(storage: Storage, path: str, link_name: str) -> str:
    target = storage.local_path(path)
    link_path = target.parent / link_name
    temp = target.parent / f".tmp-link-{link_name}-{os.getpid()}"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        os.symlink(target.name, temp)
        os.replace(temp, link_path)
    except OSError as err:
        raise StorageOperationFailed(f"failed to update symlink '{link_name}': {err}") from None
    return storage.url_for(path.rsplit("/", 1)[0] + "/" + link_name)


async def link(storage: Storage, path: str, link_name: str) -> str:
    """Point ``link_name`` beside ``path`` at it; the link's URL."""
    return await asyncio.to_thread(_link_sync, storage, path, link_name)
