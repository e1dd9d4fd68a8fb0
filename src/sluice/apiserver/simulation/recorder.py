"""The core/v1 Events the simulated controllers, scheduler and kubelet report.

``kubectl describe`` and ``kubectl get events`` show what the control plane
did to an object: a Deployment scaling its ReplicaSets, a ReplicaSet creating
pods, the scheduler placing a pod, the kubelet starting its containers. On a
real cluster each component writes those as core/v1 Events; here
:class:`EventRecorder` writes them through the registry like any client, in
the object's namespace, named ``<object>.<16 hex digits>`` as client-go names
them, with one occurrence each (no aggregation into ``count``).

An Event is a by-product, never part of a reconcile: a write that fails (the
namespace is terminating, the object's name is too long for a valid Event
name) is logged at debug level and forgotten.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest.registry import Cluster, WriteOptions
from sluice.apiserver.schemas.resources import ResourceType
from sluice.apiserver.simulation.shapes import meta, now

log = logging.getLogger("sluice.apiserver.simulator")

Obj = dict[str, Any]

# Source components, as the real ones sign their Events.
DEPLOYMENT_CONTROLLER = "deployment-controller"
REPLICASET_CONTROLLER = "replicaset-controller"
JOB_CONTROLLER = "job-controller"
DEFAULT_SCHEDULER = "default-scheduler"
KUBELET = "kubelet"


class EventRecorder:
    """Writes Normal Events about objects; see the module docstring."""

    def __init__(self, cluster: Cluster, host: str) -> None:
        self.cluster = cluster
        self.host = host
        self._rt: ResourceType | None = None
        self._last = 0

    def _event_type(self) -> ResourceType | None:
        if self._rt is None:
            self._rt = self.cluster.catalogue.get("", "v1", "events")
        return self._rt

    def _suffix(self) -> str:
        # client-go uses the time in nanoseconds; kept strictly increasing so that two
        # Events about one object within the clock's resolution do not share a name.
        self._last = max(time.time_ns(), self._last + 1)
        return f"{self._last:016x}"

    def normal(self, obj: Obj, reason: str, message: str, component: str, *,
               field_path: str = "", api_version: str = "", kind: str = "") -> None:
        """Record a Normal Event ``reason`` about stored object ``obj`` from ``component``."""
        rt = self._event_type()
        if rt is None:
            return
        m = meta(obj)
        ns = str(m.get("namespace") or "default")
        name = str(m.get("name") or "")
        involved: Obj = {
            "kind": kind or obj.get("kind", ""),
            "namespace": ns,
            "name": name,
            "uid": m.get("uid", ""),
            "apiVersion": api_version or obj.get("apiVersion", ""),
            "resourceVersion": m.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        source: Obj = {"component": component}
        if component == KUBELET:
            source["host"] = self.host
        at = now()
        body: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{self._suffix()}", "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": "Normal",
            "source": source,
            "reportingComponent": component,
            "reportingInstance": self.host if component == KUBELET else "",
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
        }
        try:
            self.cluster.create(rt, ns, body, WriteOptions(manager=component))
        except ApiError as exc:
            log.debug("simulator: event %s about %s/%s not recorded: %s", reason, ns, name, exc)
