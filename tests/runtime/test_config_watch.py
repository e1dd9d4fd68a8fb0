"""A labelled ConfigMap or Secret that changes reconciles the objects naming it, at once.

`sluice.runtime.config_watch` against the embedded cluster: GitRepositories
stand in for any consumer (their ``spec.secretRef`` is the reference); the
reconciler only records calls. What a user would notice: editing the data of
a Secret labelled ``reconcile.fluxcd.io/watch: Enabled`` triggers its
consumer; editing only its annotations, or editing an unlabelled Secret, does
not (that waits for the interval, as in Flux).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sluice.kube.config import Connection
from sluice.kube.objects import Obj
from sluice.runtime.config_watch import WATCH_LABEL, watch_configs
from sluice.runtime.controller import Controller
from sluice.runtime.informer import Informer
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.runtime.reconciler import Request, Result
from sluice.testing.polling import async_wait_for

API = "source.toolkit.fluxcd.io/v1"


@dataclass
class Calls:
    calls: list[str] = field(default_factory=list)

    async def reconcile(self, request: Request) -> Result:
        self.calls.append(request.name)
        return Result()


def _secret_refs(obj: Obj) -> Iterable[tuple[str, str]]:
    ref = (obj.get("spec") or {}).get("secretRef") or {}
    if ref.get("name"):
        yield "Secret", str(ref["name"])


def _secret(name: str, namespace: str, value: str, watched: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if watched:
        meta["labels"] = {WATCH_LABEL: "Enabled"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta,
            "data": {"password": base64.b64encode(value.encode()).decode()}}


def _repo(name: str, namespace: str, secret: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"url": "https://example.invalid/repo.git", "interval": "1h",
                     "secretRef": {"name": secret}}}


@dataclass
class Rig:
    manager: Manager
    informer: Informer
    calls: Calls


@pytest.fixture
async def rig(conn: Connection, namespace: str) -> AsyncIterator[Rig]:
    manager = Manager(conn, ManagerOptions(watch_namespace=namespace, metrics_addr=None))
    informer = await manager.informer(API, "GitRepository")
    calls = Calls()
    # One worker: requests are served in the order they were queued.
    controller = Controller("GitRepository", informer, calls, concurrent=1,
                            metrics=manager.metrics)
    await watch_configs(manager, controller, informer, _secret_refs)
    manager.add_controller(controller)
    await manager.start()
    try:
        yield Rig(manager, informer, calls)
    finally:
        await manager.shutdown()


async def test_data_changes_of_labelled_configs_reconcile_their_consumers(
        rig: Rig, namespace: str) -> None:
    objects = rig.manager.objects
    secrets = await objects.mapping("v1", "Secret")
    repos = await objects.mapping(API, "GitRepository")
    await objects.create(secrets, _secret("watched-a", namespace, "a1", watched=True))
    await objects.create(secrets, _secret("plain", namespace, "b1", watched=False))
    await objects.create(secrets, _secret("watched-c", namespace, "c1", watched=True))
    for repo, secret in (("a", "watched-a"), ("b", "plain"), ("c", "watched-c")):
        await objects.create(repos, _repo(repo, namespace, secret))

    async def first_round() -> bool:
        return {"a", "b", "c"} <= set(rig.calls.calls)

    await async_wait_for(first_round, timeout=20, what="each repository's first reconcile")
    rig.calls.calls.clear()

    # Not triggers: an annotation on a watched Secret, data of an unlabelled one.
    await objects.merge_patch(secrets, "watched-a",
                              {"metadata": {"annotations": {"note": "rotated soon"}}}, namespace)
    await objects.merge_patch(secrets, "plain", {"stringData": {"password": "b2"}}, namespace)
    # A trigger: new data in a watched Secret.
    await objects.merge_patch(secrets, "watched-c", {"stringData": {"password": "c2"}},
                              namespace)

    async def c_again() -> bool:
        return "c" in rig.calls.calls

    await async_wait_for(c_again, timeout=10, what="repository c reconciled for its Secret")
    # Requests are served in order by the one worker: had the annotation or the unlabelled
    # Secret queued a or b, they would have been reconciled before c.
    assert rig.calls.calls == ["c"]

    await objects.delete(secrets, "watched-c", namespace)

    async def c_on_delete() -> bool:
        return rig.calls.calls.count("c") == 2

    await async_wait_for(c_on_delete, timeout=10, what="repository c reconciled on deletion")
