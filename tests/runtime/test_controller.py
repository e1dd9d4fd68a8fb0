"""Controllers and the manager against the embedded cluster, with test reconcilers.

The reconcilers here are trivial (they record calls or fail on purpose); the
informers, queue, status writes, metrics endpoint and label selector are the
real ones, talking HTTPS to the session cluster.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.api.source import GitRepository
from sluice.kube.config import Connection
from sluice.kube.objects import Objects
from sluice.runtime import conditions
from sluice.runtime.controller import Controller
from sluice.runtime.informer import Informer
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.runtime.reconciler import Request, Result
from sluice.runtime.status import StatusPatcher, record_reconcile_request
from sluice.runtime.workqueue import ExponentialBackoff
from sluice.testing.polling import async_wait_for

API = "source.toolkit.fluxcd.io/v1"


async def until(fn: Any, within: float = 20.0, what: str = "condition") -> Any:
    async def check() -> Any:
        return fn()

    return await async_wait_for(check, timeout=within, what=what)


def gitrepo(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API, "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": "https://example.invalid/repo.git", "interval": "1m"},
    }
    if labels:
        body["metadata"]["labels"] = labels
    return body


@dataclass
class Recording:
    """Records calls; optional failures, gate, and a Ready status write."""

    informer: Informer
    patcher: StatusPatcher | None = None
    fail_times: int = 0
    requeue_after: float | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=dict)
    overlap: bool = False
    gate: asyncio.Event | None = None

    async def reconcile(self, request: Request) -> Result:
        raw = self.informer.get(request.namespace, request.name)
        rv = raw["metadata"]["resourceVersion"] if raw else ""
        self.calls.append((request.name, rv))
        self.times.append(asyncio.get_running_loop().time())
        self.active[request.name] = self.active.get(request.name, 0) + 1
        if self.active[request.name] > 1:
            self.overlap = True
        try:
            if self.gate is not None and request.name == "slow":
                await self.gate.wait()
            if self.fail_times > 0:
                self.fail_times -= 1
                raise RuntimeError("simulated failure")
            if self.patcher is not None and raw is not None:
                obj = GitRepository.from_dict(raw)
                before = obj.status.to_dict()
                record_reconcile_request(obj)
                conditions.mark_true(obj.status, "Ready", "Succeeded", "all good",
                                     obj.metadata.generation)
                await self.patcher.patch_status(obj, before)
            return Result(requeue_after=self.requeue_after, message="all good",
                          revision="main@sha1:" + "0" * 40)
        finally:
            self.active[request.name] -= 1


@dataclass
class Rig:
    manager: Manager
    informer: Informer
    reconciler: Recording
    controller: Controller
    objects: Objects
    mapping: Any


@pytest.fixture
async def rig(conn: Connection, namespace: str, request: pytest.FixtureRequest
              ) -> AsyncIterator[Rig]:
    options: ManagerOptions = getattr(request, "param", None) or ManagerOptions(
        watch_namespace=namespace, metrics_addr="127.0.0.1:0")
    options.watch_namespace = namespace
    manager = Manager(conn, options)
    informer = await manager.informer(API, "GitRepository")
    recording = Recording(informer, StatusPatcher(manager.objects, informer.mapping, "pytest"))
    controller = Controller("GitRepository", informer, recording, concurrent=2,
                            metrics=manager.metrics,
                            backoff=ExponentialBackoff(min_delay=0.05, max_delay=1.0))
    manager.add_controller(controller)
    await manager.start()
    try:
        yield Rig(manager, informer, recording, controller, manager.objects, informer.mapping)
    finally:
        await manager.shutdown()


async def test_status_writes_do_not_retrigger_but_spec_and_requests_do(rig: Rig,
                                                                       namespace: str) -> None:
    await rig.objects.create(rig.mapping, gitrepo("a", namespace))
    await until(lambda: len(rig.reconciler.calls) == 1, what="the first reconcile")
    # The reconcile wrote Ready=True; its own status write must not queue it again.
    obj = await until(lambda: _ready(rig.informer.get(namespace, "a")),
                      what="the status write to reach the cache")
    assert rig.informer.get(namespace, "a") is obj
    assert not rig.controller.queue.is_queued(Request(namespace, "a"))
    assert len(rig.reconciler.calls) == 1

    await rig.objects.merge_patch(rig.mapping, "a", {"metadata": {"annotations": {
        RECONCILE_REQUEST_ANNOTATION: "2024-05-01T10:00:00Z"}}}, namespace)
    await until(lambda: len(rig.reconciler.calls) == 2, what="a reconcile for requestedAt")
    await until(lambda: (_status(rig.informer.get(namespace, "a")).get("lastHandledReconcileAt")
                         == "2024-05-01T10:00:00Z"), what="lastHandledReconcileAt")

    await rig.objects.merge_patch(rig.mapping, "a", {"spec": {"interval": "2m"}}, namespace)
    await until(lambda: len(rig.reconciler.calls) == 3, what="a reconcile for a spec change")
    # Labels alone change neither generation nor the request annotation.
    await rig.objects.merge_patch(rig.mapping, "a", {"metadata": {"labels": {"x": "y"}}},
                                  namespace)
    await until(lambda: (rig.informer.get(namespace, "a") or {})["metadata"].get("labels"),
                what="the label to reach the cache")
    assert not rig.controller.queue.is_queued(Request(namespace, "a"))
    assert len(rig.reconciler.calls) == 3


def _status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("status") or {}


def _ready(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    for cond in _status(obj).get("conditions") or []:
        if cond["type"] == "Ready" and cond["status"] == "True":
            return obj
    return None


async def test_errors_back_off_then_success_requeues_after_interval(rig: Rig,
                                                                    namespace: str) -> None:
    rig.reconciler.fail_times = 3
    rig.reconciler.requeue_after = 0.3
    await rig.objects.create(rig.mapping, gitrepo("flaky", namespace))
    await until(lambda: len(rig.reconciler.calls) >= 5, what="retries and a requeue")
    t = rig.reconciler.times
    gaps = [b - a for a, b in itertools.pairwise(t)]
    # 50 ms, 100 ms, 200 ms of backoff, then the interval (300 ms ± 5 %).
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.19
    assert gaps[1] > gaps[0] and gaps[2] > gaps[1]
    assert gaps[3] >= 0.28
    m = rig.manager.metrics
    assert m.reconcile_total.value("GitRepository", "error") == 3
    assert m.reconcile_total.value("GitRepository", "success") >= 1


async def test_one_structured_log_line_per_reconcile(rig: Rig, namespace: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    rig.reconciler.requeue_after = 3600
    with caplog.at_level("INFO", logger="sluice.runtime.controller"):
        await rig.objects.create(rig.mapping, gitrepo("logged", namespace))
        await until(lambda: any("logged" in r.getMessage() for r in caplog.records),
                    what="the outcome line")
    lines = [r for r in caplog.records if f"{namespace}/logged" in r.getMessage()]
    assert len(lines) == 1
    record = lines[0]
    assert record.getMessage().startswith(f"GitRepository {namespace}/logged reconciled in ")
    assert record.getMessage().endswith(
        f"at main@sha1:{'0' * 40}: all good, next run in 1h0m0s")
    fields = record.__dict__
    assert fields["object"] == {"kind": "GitRepository", "name": "logged",
                                "namespace": namespace}
    assert fields["result"] == "success" and fields["revision"] == "main@sha1:" + "0" * 40
    assert isinstance(fields["duration"], float)


async def test_one_object_at_a_time_while_others_proceed(rig: Rig, namespace: str) -> None:
    gate = asyncio.Event()
    rig.reconciler.gate = gate
    await rig.objects.create(rig.mapping, gitrepo("slow", namespace))
    await until(lambda: rig.reconciler.active.get("slow") == 1, what="slow to start")
    # A new request for the busy object waits; another object is served meanwhile.
    await rig.objects.merge_patch(rig.mapping, "slow", {"spec": {"interval": "5m"}}, namespace)
    await rig.objects.create(rig.mapping, gitrepo("fast", namespace))
    await until(lambda: ("fast" in [c[0] for c in rig.reconciler.calls]), what="fast to run")
    await until(lambda: rig.controller.queue.is_processing(Request(namespace, "slow")),
                what="slow still in progress")
    assert [c[0] for c in rig.reconciler.calls].count("slow") == 1
    gate.set()
    await until(lambda: [c[0] for c in rig.reconciler.calls].count("slow") == 2,
                what="the queued spec change to run after the first reconcile")
    assert not rig.reconciler.overlap


async def test_metrics_and_health_endpoints(rig: Rig, namespace: str) -> None:
    await rig.objects.create(rig.mapping, gitrepo("m", namespace))
    await until(lambda: _ready(rig.informer.get(namespace, "m")), what="Ready")
    async with httpx.AsyncClient(base_url=rig.manager.metrics_url) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        text = (await http.get("/metrics")).text
    assert 'sluice_reconcile_total{kind="GitRepository",result="success"}' in text
    assert 'sluice_reconcile_duration_seconds_bucket{kind="GitRepository",result="success",le="+Inf"}' in text
    labels = f'kind="GitRepository",name="m",namespace="{namespace}"'
    assert f'gotk_reconcile_condition{{{labels},type="Ready",status="True"}} 1' in text
    assert f'gotk_reconcile_condition{{{labels},type="Ready",status="False"}} 0' in text
    assert f"gotk_reconcile_duration_seconds_count{{{labels}}}" in text
    assert f"gotk_suspend_status{{{labels}}} 0" in text
    await rig.objects.delete(rig.mapping, "m", namespace)
    await until(lambda: rig.informer.get(namespace, "m") is None, what="deletion")
    async with httpx.AsyncClient(base_url=rig.manager.metrics_url) as http:
        text = (await http.get("/metrics")).text
    assert f'gotk_reconcile_condition{{{labels},type="Ready",status="Deleted"}} 1' in text


@pytest.mark.parametrize("rig", [ManagerOptions(
    watch_label_selector="sharding.fluxcd.io/key=shard1", metrics_addr=None)], indirect=True)
async def test_watch_label_selector_shards_objects(rig: Rig, namespace: str) -> None:
    await rig.objects.create(rig.mapping, gitrepo("other", namespace))
    await rig.objects.create(rig.mapping, gitrepo(
        "mine", namespace, labels={"sharding.fluxcd.io/key": "shard1"}))
    await until(lambda: [c[0] for c in rig.reconciler.calls] == ["mine"], what="mine only")
    assert rig.informer.get(namespace, "other") is None
    # Moving an object into the shard hands it to this controller.
    await rig.objects.merge_patch(rig.mapping, "other", {"metadata": {"labels": {
        "sharding.fluxcd.io/key": "shard1"}}}, namespace)
    await until(lambda: "other" in [c[0] for c in rig.reconciler.calls], what="other joins")


async def test_a_copy_older_than_our_last_status_write_is_read_again(
        objects: Objects, namespace: str) -> None:
    # The informer's copy can lag behind the controller's own last write; a pass
    # diffing against it would send the old conditions back over the new ones.
    mapping = await objects.mapping(API, "GitRepository")
    stale = await objects.create(mapping, gitrepo("lag", namespace))
    patcher = StatusPatcher(objects, mapping, "pytest")
    assert await patcher.current(namespace, "lag", stale) is stale  # nothing written yet: no read
    obj = GitRepository.from_dict(stale)
    before = obj.status.to_dict()
    conditions.mark_true(obj.status, "Ready", "Succeeded", "stored artifact", 1)
    await patcher.patch_status(obj, before)

    current = await patcher.current(namespace, "lag", stale)
    assert current is not None and current is not stale
    assert [(c["type"], c["status"]) for c in current["status"]["conditions"]] == [
        ("Ready", "True")]
    # A copy as new as the write is used as it is.
    before = obj.status.to_dict()
    conditions.mark_true(obj.status, "ArtifactInStorage", "Succeeded", "stored artifact", 1)
    await patcher.patch_status(obj, before)
    fresh = await objects.get(mapping, "lag", namespace)
    assert await patcher.current(namespace, "lag", fresh) is fresh
    assert patcher.remembered == 0  # seen: nothing more kept
    # An object deleted after our last write is forgotten once the informer lost it.
    before = obj.status.to_dict()
    conditions.mark_true(obj.status, "Reconciling", "Progressing", "again", 1)
    await patcher.patch_status(obj, before)
    assert patcher.remembered == 1
    await objects.delete(mapping, "lag", namespace)
    assert await patcher.current(namespace, "lag", None) is None
    assert patcher.remembered == 0
