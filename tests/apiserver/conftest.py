"""In-process clusters for the controller tests: a fresh ``Cluster`` and its control loops.

The garbage collector, namespace lifecycle and workload simulator run as
tasks of the test's event loop, as ``sluice up`` runs them beside the API
server. `controllers` starts the ones a test needs (before or after it has
written the objects they act on) and stops them before the cluster's storage
closes; `eventually` polls what they bring about.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import pytest

from sluice.apiserver.rest.registry import Cluster
from sluice.apiserver.simulation.collector import GarbageCollector
from sluice.apiserver.simulation.workloads import WorkloadSimulator
from sluice.apiserver.store.storage import Storage

T = TypeVar("T")


async def eventually(check: Callable[[], T], within: float = 10.0, what: str = "") -> T:
    """The first truthy result of ``check``, polled every 10ms; fails after ``within``s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {within}s: {what or check}")
        await asyncio.sleep(0.01)


class Controllers:
    """The control loops running on one cluster, cancelled together at teardown."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.tasks: list[asyncio.Task[None]] = []

    def start_gc(self, ca_pem: str = "") -> None:
        """Garbage collector and namespace lifecycle (``kube-root-ca.crt`` gets ``ca_pem``)."""
        self.tasks.append(asyncio.create_task(GarbageCollector(self.cluster, ca_pem).run()))

    def start_workloads(self, delay: float = 0.05) -> None:
        """The workload simulator, each step taking ``delay`` seconds."""
        self.tasks.append(asyncio.create_task(WorkloadSimulator(self.cluster, delay).run()))

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """An empty in-memory cluster, its storage closed after the test."""
    c = Cluster(Storage())
    yield c
    c.storage.close()


@pytest.fixture
async def controllers(cluster: Cluster) -> AsyncIterator[Controllers]:
    """Nothing running yet; the test starts what it needs. Stopped before ``cluster`` closes."""
    running = Controllers(cluster)
    yield running
    await running.stop()
