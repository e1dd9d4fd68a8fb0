"""Extracted artifacts shared by every Kustomization building from the same source revision.

A fleet repository is typically one GitRepository feeding many
Kustomizations, each building its own folder. kustomize-controller downloads
and extracts the whole artifact once per Kustomization per reconcile; with
N Kustomizations on an N-folder repository that is N² files written and
deleted on every round. Sluice extracts each artifact (keyed by its digest)
once, lets every Kustomization build from the same read-only tree, and
keeps a few recently used ones for the next interval:

* concurrent reconciles asking for the same digest share one download
  (the first starts it, the others wait for it); a failed download is
  forgotten, so the next reconcile tries again;
* an entry in use is never removed; unused ones beyond ``retained`` go,
  least recently used first;
* each entry carries a small memo (`CachedArtifact.memo`) for what is
  derived from the tree alone, such as its ignore rules, computed once.

Builds must not write into the tree; the build engine takes the merged
kustomization in memory for exactly this reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from sluice.controllers.kustomization.fetch import fetch_artifact

__all__ = ["ArtifactCache", "CachedArtifact"]

T = TypeVar("T")


@dataclass
class CachedArtifact:
    """One extracted artifact; ``path`` is the root of its tree."""

    key: str
    path: Path
    users: int = 0
    last_used: float = 0.0
    ready: asyncio.Future[None] | None = None
    _memo: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def memo(self, name: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per artifact (safe to call from worker threads)."""
        with self._lock:
            if name in self._memo:
                value: T = self._memo[name]
                return value
        value = compute()
        with self._lock:
            self._memo.setdefault(name, value)
            stored: T = self._memo[name]
        return stored


class ArtifactCache:
    """Download-once, extract-once artifacts; see the module docs."""

    def __init__(self, directory: Path | None = None, *, retained: int = 8, retries: int = 9,
                 retry_wait: float = 0.5) -> None:
        self._directory = directory
        self._owned_dir: Path | None = None
        self.retained = retained
        self.retries = retries
        self.retry_wait = retry_wait
        self._entries: dict[str, CachedArtifact] = {}
        self._http: httpx.AsyncClient | None = None

    def _root(self) -> Path:
        if self._directory is None:
            self._owned_dir = Path(tempfile.mkdtemp(prefix="sluice-artifacts-"))
            self._directory = self._owned_dir
        else:
            self._directory.mkdir(parents=True, exist_ok=True)
        return self._directory

    def _new_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="artifact-", dir=self._root()))

    def __len__(self) -> int:
        return len(self._entries)

    def has(self, url: str, digest: str | None) -> bool:
        """Is this artifact extracted (or being extracted) already?"""
        return (digest or url) in self._entries

    @contextlib.asynccontextmanager
    async def use(self, url: str, digest: str | None) -> AsyncIterator[CachedArtifact]:
        """The extracted artifact at ``url`` for the duration of the block.

        Raises the `fetch` errors (`ArtifactNotFound`, `ArtifactFetchError`).
        """
        key = digest or url
        entry = self._entries.get(key)
        if entry is None:
            # Registered before the first await, so concurrent users find it.
            entry = CachedArtifact(key, Path())
            entry.ready = asyncio.ensure_future(self._download(entry, url, digest))
            self._entries[key] = entry
        entry.users += 1
        try:
            assert entry.ready is not None
            await asyncio.shield(entry.ready)
            yield entry
        finally:
            entry.users -= 1
            entry.last_used = time.monotonic()
            await self._evict()

    async def _download(self, entry: CachedArtifact, url: str, digest: str | None) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=60.0, follow_redirects=True)
        try:
            entry.path = await asyncio.to_thread(self._new_dir)
            await fetch_artifact(url, digest, entry.path, retries=self.retries,
                                 retry_wait=self.retry_wait, client=self._http)
        except BaseException:
            # Forget the failure: the next reconcile downloads again.
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]
            if entry.path != Path():
                await asyncio.to_thread(shutil.rmtree, entry.path, True)
            raise

    async def _evict(self) -> None:
        idle = sorted((e for e in self._entries.values()
                       if e.users == 0 and e.ready is not None and e.ready.done()),
                      key=lambda e: e.last_used)
        excess = len(idle) - self.retained
        for entry in idle[:max(0, excess)]:
            del self._entries[entry.key]
            if entry.path != Path():
                await asyncio.to_thread(shutil.rmtree, entry.path, True)

    async def close(self) -> None:
        """Remove every extracted tree and release the HTTP client."""
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            if entry.ready is not None and not entry.ready.done():
                entry.ready.cancel()
            elif entry.path != Path():
                await asyncio.to_thread(shutil.rmtree, entry.path, True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._owned_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._owned_dir, True)
            self._owned_dir = None
            self._directory = None
