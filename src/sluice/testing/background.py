"""Run an embedded cluster in a background thread with its own event loop.

Tests (and users' tests) talk to the cluster the way real clients do, over
HTTPS, from synchronous code (kubectl, the official client) or from their own
event loop (lightkube's async client). Keeping the server in a thread of its
own means neither kind of test can starve it, and one cluster can serve a
whole test session.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sluice.apiserver.rest.registry import Cluster
from sluice.apiserver.server import EmbeddedCluster

T = TypeVar("T")


class BackgroundCluster:
    """An :class:`EmbeddedCluster` served from a daemon thread."""

    def __init__(self, data_dir: Path | None = None, **options: Any) -> None:
        self.embedded = EmbeddedCluster(data_dir, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sluice-cluster",
                                        daemon=True)

    def start(self) -> BackgroundCluster:
        self._thread.start()
        self.run(self.embedded.start())
        return self

    def stop(self) -> None:
        try:
            self.run(self.embedded.stop(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the cluster's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[Cluster], T], timeout: float = 60) -> T:
        """Call ``fn(cluster)`` on the cluster's loop, where registry calls are safe."""
        async def wrapper() -> T:
            assert self.embedded.cluster is not None
            return fn(self.embedded.cluster)

        return self.run(wrapper(), timeout)

    @property
    def kubeconfig(self) -> Path:
        return self.embedded.kubeconfig

    @property
    def url(self) -> str:
        return self.embedded.url

    @property
    def token(self) -> str:
        return self.embedded.token

    @property
    def ca_file(self) -> Path:
        return self.embedded.ca_file

    def __enter__(self) -> BackgroundCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
