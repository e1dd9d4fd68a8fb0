"""Leader election on a Lease: one replica reconciles, a standby takes over."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sluice.kube.config import connect
from sluice.runtime.controller import Controller
from sluice.runtime.leader import LeadershipLost
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.runtime.reconciler import Request, Result
from sluice.testing.polling import async_wait_for

API = "source.toolkit.fluxcd.io/v1"


async def until(fn: Any, within: float = 20.0, what: str = "condition") -> Any:
    async def check() -> Any:
        return fn()

    return await async_wait_for(check, timeout=within, what=what)


class Counting:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def reconcile(self, request: Request) -> Result:
        self.calls.append(request.name)
        return Result()


async def _replica(kubeconfig: Path, namespace: str) -> tuple[Manager, Counting]:
    conn = connect(kubeconfig)
    options = ManagerOptions(watch_namespace=namespace, metrics_addr=None,
                             leader_election=True, leader_election_namespace=namespace,
                             leader_election_id="pytest-lock", lease_duration=2.0,
                             renew_deadline=1.0, retry_period=0.1)
    manager = Manager(conn, options)
    counting = Counting()
    informer = await manager.informer(API, "GitRepository")
    manager.add_controller(Controller("GitRepository", informer, counting))
    return manager, counting


def _repo(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"url": "https://example.invalid/x.git", "interval": "1m"}}


async def test_only_the_leader_reconciles_and_a_standby_takes_over(kubeconfig: Path,
                                                                  namespace: str) -> None:
    first, first_calls = await _replica(kubeconfig, namespace)
    second, second_calls = await _replica(kubeconfig, namespace)
    try:
        await first.start()
        await until(lambda: first.leading, what="the first replica to lead")
        await second.start()
        objects = first.objects
        repos = await objects.mapping(API, "GitRepository")
        await objects.create(repos, _repo("one", namespace))
        await until(lambda: first_calls.calls == ["one"], what="the leader to reconcile")
        # The standby is ready (to take over) but neither watches nor reconciles.
        assert second.ready and not second.leading
        assert second_calls.calls == []
        assert all(not i.synced for i in second._informers.values())
        leases = await objects.mapping("coordination.k8s.io/v1", "Lease")
        lease = await objects.get(leases, "pytest-lock", namespace)
        assert first.elector is not None and second.elector is not None
        assert lease["spec"]["holderIdentity"] == first.elector.identity

        # A clean shutdown releases the Lease: the standby need not wait it out.
        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        await first.shutdown()
        await until(lambda: second.leading, within=10, what="the standby to take over")
        assert loop.time() - stopped_at < 2.0  # faster than the lease duration
        await until(lambda: second_calls.calls == ["one"], what="the new leader to reconcile")
        lease = await second.objects.get(leases, "pytest-lock", namespace)
        assert lease["spec"]["holderIdentity"] == second.elector.identity
        assert lease["spec"]["leaseTransitions"] == 1
    finally:
        await first.shutdown()
        await second.shutdown()
        await first.connection.aclose()
        await second.connection.aclose()


async def test_losing_the_lease_stops_the_manager(kubeconfig: Path, namespace: str) -> None:
    manager, _ = await _replica(kubeconfig, namespace)
    try:
        await manager.start()
        await until(lambda: manager.leading, what="leadership")
        leases = await manager.objects.mapping("coordination.k8s.io/v1", "Lease")
        lease = await manager.objects.get(leases, "pytest-lock", namespace)
        # Another process takes the Lease over (e.g. after a network partition).
        lease["spec"]["holderIdentity"] = "someone-else"
        await manager.objects.replace(leases, lease, namespace)
        with pytest.raises(LeadershipLost):
            await asyncio.wait_for(manager.wait(), 10)
    finally:
        await manager.shutdown()
        await manager.connection.aclose()
