"""Counting the requests the embedded cluster serves: how tests prove "no write, no dry run".

A no-change reconcile must not write or dry-run anything. That is a claim
about what reaches the API server, so it is checked there: `RequestCounter`
registers an observer on the embedded cluster's handlers (before auth and
routing, so nothing is missed) and records one `SeenRequest` per request::

    with RequestCounter(sluice_cluster, namespace="demo") as seen:
        ...                                     # what should cost nothing
    assert seen.writes() == [] and seen.dry_runs() == []

``namespace`` keeps only requests addressed inside that namespace, so other
work of the shared session cluster does not count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from sluice.apiserver.server import EmbeddedCluster
from sluice.testing.background import BackgroundCluster

__all__ = ["RequestCounter", "SeenRequest"]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    dry_run: bool
    field_manager: str
    watch: bool
    # Impersonate-User, when the client acted as someone else (a ServiceAccount).
    user: str = ""

    @property
    def write(self) -> bool:
        """A real change (not a read, not a dry run)."""
        return self.method not in _READS and not self.dry_run

    def __str__(self) -> str:
        extra = " (dry run)" if self.dry_run else ""
        return f"{self.method} {self.path}{extra} [{self.field_manager or '-'}]"


class RequestCounter:
    """Records the requests of an embedded cluster while in use (a context manager)."""

    def __init__(self, cluster: EmbeddedCluster | BackgroundCluster, *,
                 namespace: str | None = None) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._undo: Any = None

    def _observe(self, request: web.Request) -> None:
        path = request.path
        if self.namespace is not None and f"/namespaces/{self.namespace}/" not in path \
                and not path.endswith(f"/namespaces/{self.namespace}"):
            return
        query = request.query
        seen = SeenRequest(request.method, path, "dryRun" in query,
                           query.get("fieldManager", ""),
                           query.get("watch", "").lower() in ("true", "1"),
                           request.headers.get("Impersonate-User", ""))
        with self._lock:
            self.requests.append(seen)

    def start(self) -> RequestCounter:
        if isinstance(self.cluster, BackgroundCluster):
            embedded = self.cluster.embedded
            self._undo = self.cluster.call(lambda _c: embedded.observe_requests(self._observe))
        else:
            self._undo = self.cluster.observe_requests(self._observe)
        return self

    def stop(self) -> None:
        if self._undo is not None:
            undo, self._undo = self._undo, None
            if isinstance(self.cluster, BackgroundCluster):
                self.cluster.call(lambda _c: undo())
            else:
                undo()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def snapshot(self) -> list[SeenRequest]:
        with self._lock:
            return list(self.requests)

    def writes(self) -> list[SeenRequest]:
        return [r for r in self.snapshot() if r.write]

    def dry_runs(self) -> list[SeenRequest]:
        return [r for r in self.snapshot() if r.dry_run]

    def __enter__(self) -> RequestCounter:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
