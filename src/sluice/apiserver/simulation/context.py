"""What the simulated controllers share: reads, writes, indexes, timers and addresses.

Every controller of :mod:`sluice.apiserver.simulation` is a function of one
object key that reads current state and writes the difference. They read
stored objects directly (never modifying them) and write through
:class:`~sluice.apiserver.rest.registry.Cluster` with the field manager the real
component uses (``kube-controller-manager``, ``kubelet``, ``kube-scheduler``),
so ``managedFields``, watch events and validation are those of any client.

Writes that fail because the world moved on (the object is gone, its namespace
is terminating, a name is taken) are expected in a control loop: they are
logged at debug level and the next event brings the controller back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest.registry import Cluster, DeleteOptions, WriteOptions
from sluice.apiserver.rest.selectors import LabelSelector
from sluice.apiserver.schemas.resources import ResourceType
from sluice.apiserver.simulation.index import Index, StorageKey
from sluice.apiserver.simulation.recorder import EventRecorder
from sluice.apiserver.simulation.shapes import (
    controller_ref,
    meta,
    name_of,
    owner_reference,
    uid_of,
)
from sluice.core.jsoncopy import json_copy

log = logging.getLogger("sluice.apiserver.simulator")

Obj = dict[str, Any]
# A unit of work: (controller, namespace, name).
Work = tuple[str, str, str]

KCM = "kube-controller-manager"
KUBELET = "kubelet"
SCHEDULER = "kube-scheduler"

NODE_NAME = "sluice-node"
NODE_IP = "172.18.0.2"
POD_CIDR = "10.244.0.0/16"
LOAD_BALANCER_CIDR = "172.18.255.0/24"

# Holds a deleted pod in Terminating while the simulated kubelet "stops" it, so
# that watchers see what a real node shows; the kubelet removes it.
TERMINATION_FINALIZER = "sluice.dev/pod-termination"

DEPLOYMENTS: StorageKey = ("apps", "deployments")
REPLICASETS: StorageKey = ("apps", "replicasets")
STATEFULSETS: StorageKey = ("apps", "statefulsets")
DAEMONSETS: StorageKey = ("apps", "daemonsets")
CONTROLLER_REVISIONS: StorageKey = ("apps", "controllerrevisions")
JOBS: StorageKey = ("batch", "jobs")
PODS: StorageKey = ("", "pods")
SERVICES: StorageKey = ("", "services")
ENDPOINTS: StorageKey = ("", "endpoints")
ENDPOINT_SLICES: StorageKey = ("discovery.k8s.io", "endpointslices")
PVCS: StorageKey = ("", "persistentvolumeclaims")
PVS: StorageKey = ("", "persistentvolumes")
NODES: StorageKey = ("", "nodes")
STORAGE_CLASSES: StorageKey = ("storage.k8s.io", "storageclasses")

_EXPECTED = {403, 404, 409, 410}


class IPPool:
    """Addresses handed out in order from a network, skipping the ones in use."""

    def __init__(self, cidr: str, first: int = 2) -> None:
        self._net = ipaddress.ip_network(cidr)
        self._first = first
        self._next = first
        self._used: set[str] = set()

    def reserve(self, ip: str) -> None:
        if ip:
            self._used.add(ip)

    def release(self, ip: str) -> None:
        self._used.discard(ip)

    def allocate(self) -> str:
        size = self._net.num_addresses
        for _ in range(size):
            offset = self._next
            self._next = self._next + 1 if self._next + 1 < size - 1 else self._first
            ip = str(self._net.network_address + offset)
            # x.y.z.0 and x.y.z.255 are valid in a /16 but look wrong in `kubectl get pods -o wide`.
            if ip.endswith((".0", ".255")) or ip in self._used:
                continue
            self._used.add(ip)
            return ip
        raise RuntimeError(f"no free address left in {self._net}")


class Sim:
    """Shared state and helpers of the simulated controllers."""

    def __init__(self, cluster: Cluster, ready_delay: float,
                 enqueue: Callable[[Work], None]) -> None:
        self.cluster = cluster
        self.ready_delay = max(0.0, float(ready_delay))
        self.enqueue = enqueue
        self.index = Index()
        self.pod_ips = IPPool(POD_CIDR)
        self.lb_ips = IPPool(LOAD_BALANCER_CIDR, first=200)
        self._timers: dict[Work, asyncio.TimerHandle] = {}
        self.events = EventRecorder(cluster, NODE_NAME)

    # -------------------------------------------------------------- reads
    def rt(self, key: StorageKey) -> ResourceType | None:
        types = self.cluster.catalogue.for_storage_key(*key)
        for rt in types:
            if not rt.storage_version or rt.storage_version == rt.version:
                return rt
        return types[0] if types else None

    def get(self, key: StorageKey, namespace: str, name: str) -> Obj | None:
        """The stored object (read-only: copy before changing anything)."""
        return self.cluster.storage.get(key, namespace, name)

    def owned(self, owner: Obj, key: StorageKey) -> list[Obj]:
        """Objects of ``key`` whose controller is ``owner`` (stored, read-only)."""
        uid = uid_of(owner)
        out: list[Obj] = []
        for k, ns, name in self.index.controlled(uid, key):
            obj = self.cluster.storage.get(k, ns, name)
            ref = controller_ref(obj) if obj is not None else None
            if obj is not None and ref is not None and ref.get("uid") == uid:
                out.append(obj)
        return out

    def adopt(self, owner: Obj, key: StorageKey, api_version: str, kind: str,
              member: Callable[[Obj], bool] | None = None) -> None:
        """Take over objects without a controller that ``owner``'s selector matches.

        Kubernetes controllers claim such orphans (left by an orphaning delete) instead
        of creating duplicates; ``member`` narrows the claim (a StatefulSet only takes
        pods named after it).
        """
        m = meta(owner)
        ns = str(m.get("namespace") or "")
        names = self.index.orphans(key, ns)
        if not names or m.get("deletionTimestamp"):
            return
        selector = LabelSelector.from_dict((owner.get("spec") or {}).get("selector"))
        if selector.empty:
            return  # an empty selector would claim everything; Kubernetes claims nothing
        ref = owner_reference(owner, api_version, kind)
        for name in names:
            obj = self.get(key, ns, name)
            if obj is None or meta(obj).get("deletionTimestamp") or \
                    controller_ref(obj) is not None or not selector.matches(obj) or \
                    (member is not None and not member(obj)):
                continue
            body = json_copy(obj)
            refs = [r for r in meta(obj).get("ownerReferences") or [] if r.get("uid") != ref["uid"]]
            body["metadata"]["ownerReferences"] = [*refs, ref]
            self.update(key, body, KCM)

    def clock(self) -> float:
        return asyncio.get_running_loop().time()

    # ------------------------------------------------------------- writes
    def create(self, key: StorageKey, namespace: str, body: Obj, manager: str) -> Obj | None:
        rt = self.rt(key)
        if rt is None:
            return None
        try:
            # Results are read only here (copies are taken before any change): they
            # may be the stored objects themselves.
            return self.cluster.create(rt, namespace, body, WriteOptions(manager=manager,
                                                                         shared_result=True))
        except ApiError as exc:
            self._failed("create", key, namespace, name_of(body) or
                         str(meta(body).get("generateName", "")), exc)
            return None

    def update(self, key: StorageKey, obj: Obj, manager: str, subresource: str = "") -> Obj | None:
        """Write ``obj`` (a modified copy of a stored object) back."""
        rt = self.rt(key)
        if rt is None:
            return None
        m = meta(obj)
        ns = str(m.get("namespace") or "")
        try:
            return self.cluster.update(rt, ns, str(m.get("name")), obj,
                                       WriteOptions(manager=manager, shared_result=True),
                                       subresource=subresource)
        except ApiError as exc:
            self._failed("update", key, ns, str(m.get("name")), exc)
            return None

    def write_status(self, key: StorageKey, stored: Obj, status: Obj, manager: str) -> Obj:
        """Replace the status of ``stored`` through the status subresource, when it differs."""
        if stored.get("status") == status:
            return stored
        body = dict(stored)
        body["status"] = status
        return self.update(key, body, manager, "status") or stored

    def write_spec(self, key: StorageKey, stored: Obj, manager: str,
                   change: Callable[[Obj], None]) -> Obj:
        """Apply ``change`` to a copy of ``stored`` and write it when anything moved."""
        body = json_copy(stored)
        change(body)
        if body == stored:
            return stored
        return self.update(key, body, manager) or stored

    def delete(self, key: StorageKey, namespace: str, name: str, *, uid: str = "",
               propagation: str = "", grace: int | None = None) -> bool:
        rt = self.rt(key)
        if rt is None:
            return False
        try:
            self.cluster.delete(rt, namespace, name, DeleteOptions(
                propagation=propagation, precondition_uid=uid, grace_period=grace))
        except ApiError as exc:
            self._failed("delete", key, namespace, name, exc)
            return False
        return True

    def terminate_pod(self, pod: Obj, manager: str = KCM) -> bool:
        """Delete a pod as a controller does; a started one stays Terminating for a moment.

        True when this call deleted it (False when it already was, or the write failed).
        """
        m = meta(pod)
        if m.get("deletionTimestamp"):
            return False
        ns, name = str(m.get("namespace") or ""), str(m.get("name"))
        started = bool((pod.get("spec") or {}).get("nodeName")) and bool(
            (pod.get("status") or {}).get("containerStatuses")) and \
            (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        if started and self.ready_delay > 0 and TERMINATION_FINALIZER not in (
                m.get("finalizers") or []):
            body = json_copy(pod)
            body["metadata"]["finalizers"] = [*(m.get("finalizers") or []),
                                              TERMINATION_FINALIZER]
            if self.update(PODS, body, KUBELET) is None:
                return False
        return self.delete(PODS, ns, name, uid=uid_of(pod))

    def _failed(self, verb: str, key: StorageKey, namespace: str, name: str,
                exc: ApiError) -> None:
        level = logging.DEBUG if exc.code in _EXPECTED else logging.WARNING
        log.log(level, "simulator: %s %s %s/%s: %s", verb, key[1], namespace, name, exc)

    # ------------------------------------------------------------- timers
    def after(self, delay: float, work: Work) -> None:
        """Bring ``work`` back after ``delay`` seconds (one pending timer per work item)."""
        if delay <= 0:
            self.enqueue(work)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        handle = self._timers.get(work)
        if handle is not None and not handle.cancelled():
            if handle.when() <= when + 0.001:
                return
            handle.cancel()
        self._timers[work] = loop.call_at(when, self._fire, work)

    def _fire(self, work: Work) -> None:
        self._timers.pop(work, None)
        self.enqueue(work)

    def cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
