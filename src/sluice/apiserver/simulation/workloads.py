"""A kubelet-less workload simulator, like kwok: workloads run without running anything.

Flux and kubectl judge a cluster by what its controllers write: a Deployment
is healthy when its status says its ReplicaSet's pods are available, a Job
when it is Complete, a claim when it is Bound. ``WorkloadSimulator`` plays
the parts of kube-controller-manager, the scheduler and one kubelet that
write those things (see :mod:`sluice.apiserver.simulation`), so the same
manifests reach the same states, through the same intermediate steps, as on
a real cluster: Deployments roll out ReplicaSets whose pods go Pending,
ContainerCreating, then Running and Ready ``ready_delay`` seconds later;
StatefulSets, DaemonSets and Jobs do their own kind of that; Services get
Endpoints and EndpointSlices; claims get volumes.

It is event-driven. The cluster calls :meth:`_on_event` synchronously on
every write; that updates the indexes and queues the keys the change
concerns (a pod's kubelet, its owner, the Services selecting it), each at
most once until it is handled. :meth:`run` takes everything queued as one
batch, lower levels first (pods, then their controllers, then Deployments),
so that a burst of pod changes costs one ReplicaSet pass and one Deployment
pass. Delays (``ready_delay``, ``minReadySeconds``, TTLs) are
``loop.call_later`` timers that queue a key again. On start, a full pass
over every workload picks up whatever changed while it was not running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from sluice.apiserver.rest.registry import Cluster
from sluice.apiserver.simulation.components import LEASES
from sluice.apiserver.simulation.context import (
    DAEMONSETS,
    DEPLOYMENTS,
    ENDPOINT_SLICES,
    ENDPOINTS,
    JOBS,
    NODE_IP,
    NODE_NAME,
    NODES,
    PODS,
    PVCS,
    PVS,
    REPLICASETS,
    SERVICES,
    STATEFULSETS,
    Sim,
    Work,
)
from sluice.apiserver.simulation.daemonsets import DaemonSets
from sluice.apiserver.simulation.deployments import Deployments
from sluice.apiserver.simulation.endpoints import SERVICE_NAME, Endpoints
from sluice.apiserver.simulation.jobs import Jobs
from sluice.apiserver.simulation.kubelet import Kubelet
from sluice.apiserver.simulation.replicasets import ReplicaSets
from sluice.apiserver.simulation.shapes import controller_ref, labels_of, meta, pod_ready
from sluice.apiserver.simulation.statefulsets import StatefulSets
from sluice.apiserver.simulation.volumes import Volumes
from sluice.apiserver.store.watch import Event

log = logging.getLogger("sluice.apiserver.simulator")

Obj = dict[str, Any]

# Which controller a pod's controller reference points at.
_OWNER_WORK = {"ReplicaSet": "rs", "StatefulSet": "sts", "DaemonSet": "ds", "Job": "job"}
# Order inside a batch: the node, then pods, their controllers, Deployments, storage, Services.
_ORDER = {"node": 0, "pod": 1, "rs": 2, "sts": 2, "ds": 2, "job": 2, "deploy": 3, "pvc": 4,
          "pv": 5, "svc": 6}
# Handlers run between yields to the event loop, so API requests are not starved.
_SLICE = 100


def _endpoint_view(pod: Obj | None) -> tuple[Any, ...] | None:
    """What Services' endpoints depend on in a pod."""
    if pod is None:
        return None
    status = pod.get("status") or {}
    return (labels_of(pod), status.get("podIP"), pod_ready(pod),
            bool(meta(pod).get("deletionTimestamp")), (pod.get("spec") or {}).get("nodeName"))


class WorkloadSimulator:
    """Makes workloads progress as if a node ran them (see the module docstring)."""

    def __init__(self, cluster: Cluster, ready_delay: float = 0.5) -> None:
        self.cluster = cluster
        self._queue: asyncio.Queue[Work] = asyncio.Queue()
        self._pending: set[Work] = set()
        self._active = False
        self._listening = False
        self.sim = Sim(cluster, ready_delay, self._enqueue)
        self.kubelet = Kubelet(self.sim)
        self.endpoints = Endpoints(self.sim)
        volumes = Volumes(self.sim)
        self._handlers: dict[str, Callable[[str, str], None]] = {
            "node": lambda ns, name: self.kubelet.ensure_node(),
            "pod": self.kubelet.sync,
            "rs": ReplicaSets(self.sim).sync,
            "sts": StatefulSets(self.sim).sync,
            "ds": DaemonSets(self.sim).sync,
            "job": Jobs(self.sim).sync,
            "deploy": Deployments(self.sim).sync,
            "pvc": volumes.sync_claim,
            "pv": lambda ns, name: volumes.sync_volume(name),
            "svc": self.endpoints.sync,
        }

    async def run(self) -> None:
        storage = self.cluster.storage
        self.sim.index.rebuild(storage)
        self.kubelet.reserve_addresses()
        self.endpoints.reserve_addresses()
        if not self._listening:
            self.cluster.events.add_listener(self._on_event)
            self._listening = True
        self._active = True
        try:
            self.kubelet.ensure_node()
            for key, work in ((PODS, "pod"), (REPLICASETS, "rs"), (STATEFULSETS, "sts"),
                              (DAEMONSETS, "ds"), (JOBS, "job"), (DEPLOYMENTS, "deploy"),
                              (PVCS, "pvc"), (PVS, "pv"), (SERVICES, "svc")):
                for obj in storage.list(key):
                    m = meta(obj)
                    self._enqueue((work, str(m.get("namespace") or ""), str(m.get("name"))))
            while True:
                batch = [await self._queue.get()]
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                self._pending.difference_update(batch)
                batch.sort(key=lambda w: _ORDER[w[0]])
                for i, item in enumerate(batch):
                    self._handle(item)
                    if i % _SLICE == _SLICE - 1:
                        await asyncio.sleep(0)
        finally:
            self._active = False
            self.sim.cancel_timers()

    def _handle(self, work: Work) -> None:
        kind, ns, name = work
        try:
            self._handlers[kind](ns, name)
        except Exception:
            # One broken object must not stop every other workload from progressing.
            log.exception("workload simulator failed on %s %s/%s", kind, ns, name)

    def _enqueue(self, work: Work) -> None:
        if work not in self._pending:
            self._pending.add(work)
            self._queue.put_nowait(work)

    # ------------------------------------------------------------- events
    def _on_event(self, ev: Event) -> None:
        """Called by the cluster on every write; only bookkeeping and queueing happen here."""
        if not self._active:
            return
        self.sim.index.observe(ev)
        self.kubelet.observe(ev)
        self.endpoints.observe(ev)
        for work in self._route(ev):
            self._enqueue(work)

    def _route(self, ev: Event) -> Iterator[Work]:
        key, ns, obj = ev.key, ev.namespace, ev.obj
        name = str(meta(obj).get("name"))
        if key == PODS:
            yield ("pod", ns, name)
            yield from self._owners_of_pod(ev)
            before, after = _endpoint_view(ev.old), _endpoint_view(
                None if ev.type == "DELETED" else obj)
            if before != after:
                index = self.sim.index
                for svc in index.services_selecting(ns, labels_of(obj)) | \
                        index.services_selecting(ns, labels_of(ev.old or {})):
                    yield ("svc", ns, svc)
        elif key == REPLICASETS:
            yield ("rs", ns, name)
            for o in (obj, ev.old):
                ref = controller_ref(o) if o is not None else None
                if ref is not None and ref.get("kind") == "Deployment":
                    yield ("deploy", ns, str(ref.get("name")))
        elif key == DEPLOYMENTS:
            yield ("deploy", ns, name)
        elif key == STATEFULSETS:
            yield ("sts", ns, name)
        elif key == DAEMONSETS:
            yield ("ds", ns, name)
        elif key == JOBS:
            yield ("job", ns, name)
        elif key == SERVICES:
            yield ("svc", ns, name)
        elif key == ENDPOINTS and ev.type == "DELETED":
            yield ("svc", ns, name)
        elif key == ENDPOINT_SLICES and ev.type == "DELETED":
            service = labels_of(obj).get(SERVICE_NAME)
            if service:
                yield ("svc", ns, str(service))
        elif key == PVCS:
            yield ("pvc", ns, name)
            volume = (obj.get("spec") or {}).get("volumeName")
            if ev.type == "DELETED" and volume:
                yield ("pv", "", str(volume))
        elif key == PVS:
            yield ("pv", "", name)
        elif key == LEASES:
            # A component's heartbeat came, was renewed or went: its pods follow.
            yield from self.kubelet.components.pods_for_lease(ns, name)
        elif key == NODES and name == NODE_NAME:
            if ev.type == "DELETED":
                yield ("node", "", name)
            if ev.old is None or labels_of(ev.old) != labels_of(obj):
                for ds in self.cluster.storage.list(DAEMONSETS):
                    m = meta(ds)
                    yield ("ds", str(m.get("namespace") or ""), str(m.get("name")))

    def _owners_of_pod(self, ev: Event) -> Iterator[Work]:
        ns = ev.namespace
        for o in (ev.obj, ev.old):
            ref = controller_ref(o) if o is not None else None
            if ref is None:
                continue
            owner = _OWNER_WORK.get(str(ref.get("kind")))
            if owner is None:
                continue
            yield (owner, ns, str(ref.get("name")))
            # A Recreate rollout waits for the last old pod to be gone, which changes
            # nothing in its ReplicaSet's status: tell the Deployment directly.
            if owner == "rs" and ev.type == "DELETED":
                rs = self.cluster.storage.get(REPLICASETS, ns, str(ref.get("name")))
                dref = controller_ref(rs) if rs is not None else None
                if dref is not None and dref.get("kind") == "Deployment":
                    yield ("deploy", ns, str(dref.get("name")))


__all__ = ["NODE_IP", "NODE_NAME", "WorkloadSimulator"]
