"""Kubernetes Events the way Flux controllers record them, plus hooks for notifications.

Users see what a controller did with ``kubectl describe`` / ``kubectl get
events`` and through alerts. Flux's controllers write core/v1 Events with
``source.component`` and ``reportingController`` set to the controller name
(``source-controller``), the Flux reason (``NewArtifact``,
``GitOperationFailed``) and type ``Normal`` or ``Warning``, and annotate them
with metadata such as ``source.toolkit.fluxcd.io/revision``. They also
forward every event to the notification controller. `EventRecorder` does
both:

* it writes (or, for a repeat of the same object/type/reason/message,
  increments ``count`` and ``lastTimestamp`` of) a core/v1 Event, as
  client-go's event correlator does, so a failing reconcile retried every
  few seconds produces one Event with a growing count, not thousands;
* it hands a `RecordedEvent` (shaped like Flux's event payload) to every
  registered hook; the notification controller subscribes later.

``Trace`` events (Flux's internal progress events) are written as Normal
Kubernetes events and passed to hooks with severity ``trace``, which
notification hooks are expected to drop, as Flux does.

Recording never fails a reconcile: API or hook errors are logged and
swallowed. Messages are written as given, so callers must keep secrets out
of them (the source controller's messages are scrubbed at their origin).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2

from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects

__all__ = [
    "NORMAL",
    "TRACE",
    "WARNING",
    "EventHook",
    "EventRecorder",
    "ObjectReference",
    "RecordedEvent",
]

log = logging.getLogger("sluice.kube.events")

NORMAL = "Normal"
WARNING = "Warning"
TRACE = "Trace"

_SEVERITY = {NORMAL: "info", WARNING: "error", TRACE: "trace"}
# Kubernetes caps event messages (events.k8s.io note is 1 kB); core/v1 is
# laxer, Flux truncates long messages too. Keep the head, which names the step.
MAX_MESSAGE = 4096


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ObjectReference:
    """The object an event is about (core/v1 ``involvedObject``)."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = ""
    resource_version: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectReference:
        meta = obj.get("metadata") or {}
        return cls(kind=str(obj.get("kind", "")), namespace=str(meta.get("namespace") or ""),
                   name=str(meta.get("name", "")), uid=str(meta.get("uid") or ""),
                   api_version=str(obj.get("apiVersion", "")),
                   resource_version=str(meta.get("resourceVersion") or ""))

    def to_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "namespace": self.namespace, "name": self.name,
               "uid": self.uid, "apiVersion": self.api_version,
               "resourceVersion": self.resource_version}
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class RecordedEvent:
    """What hooks receive: Flux's event payload, as a Python value."""

    involved_object: ObjectReference
    type: str  # Normal | Warning | Trace
    reason: str
    message: str
    reporting_controller: str
    reporting_instance: str
    timestamp: str
    metadata: dict[str, str] = field(default_factory=dict)
    # Annotations of the involved object (for event.toolkit.fluxcd.io/* keys).
    object_annotations: dict[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        """``info``, ``error`` or ``trace``, as Flux maps Kubernetes event types."""
        return _SEVERITY.get(self.type, "info")

    def to_payload(self) -> dict[str, Any]:
        """The JSON body Flux controllers POST to the notification controller."""
        return {
            "involvedObject": self.involved_object.to_dict(),
            "severity": self.severity,
            "timestamp": self.timestamp,
            "message": self.message,
            "reason": self.reason,
            "metadata": dict(self.metadata),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
        }


EventHook = Callable[[RecordedEvent], Awaitable[None]]


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    first: str
    at: float


class EventRecorder:
    """Writes core/v1 Events for one controller and notifies hooks."""

    def __init__(self, objects: Objects, controller: str, instance: str | None = None, *,
                 dedup_window: float = 600.0, cache_size: int = 4096) -> None:
        self.objects = objects
        self.controller = controller
        self.instance = instance or socket.gethostname()
        self.hooks: list[EventHook] = []
        self._dedup_window = dedup_window
        self._cache_size = cache_size
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._mapping: ResourceMapping | None = None

    def add_hook(self, hook: EventHook) -> None:
        """Call ``hook`` with every recorded event (after the Event is written)."""
        self.hooks.append(hook)

    async def normal(self, obj: Mapping[str, Any], reason: str, message: str,
                     metadata: Mapping[str, str] | None = None) -> None:
        await self.record(obj, NORMAL, reason, message, metadata)

    async def warning(self, obj: Mapping[str, Any], reason: str, message: str,
                      metadata: Mapping[str, str] | None = None) -> None:
        await self.record(obj, WARNING, reason, message, metadata)

    async def trace(self, obj: Mapping[str, Any], reason: str, message: str,
                    metadata: Mapping[str, str] | None = None) -> None:
        await self.record(obj, TRACE, reason, message, metadata)

    async def record(self, obj: Mapping[str, Any], type_: str, reason: str, message: str,
                     metadata: Mapping[str, str] | None = None) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        ref = ObjectReference.of(obj)
        meta = dict(metadata or {})
        timestamp = _now()
        k8s_type = WARNING if type_ == WARNING else NORMAL
        try:
            await self._write(ref, k8s_type, reason, message, meta, timestamp)
        except (KubeError, httpx2.HTTPError) as exc:
            log.warning("cannot record event %s for %s/%s/%s: %s", reason, ref.kind,
                        ref.namespace, ref.name, exc)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        event = RecordedEvent(ref, type_, reason, message, self.controller, self.instance,
                              timestamp, meta, dict(annotations))
        for hook in list(self.hooks):
            try:
                await hook(event)
            except Exception:  # a broken subscriber must not break reconciles
                log.exception("event hook %r failed", hook)

    async def _events(self) -> ResourceMapping:
        if self._mapping is None:
            self._mapping = await self.objects.mapping("v1", "Event")
        return self._mapping

    def _remember(self, key: tuple[str, ...], seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)

    async def _write(self, ref: ObjectReference, type_: str, reason: str, message: str,
                     metadata: dict[str, str], timestamp: str) -> None:
        if not ref.namespace:
            # Cluster-scoped objects: Kubernetes records their events in "default".
            namespace = "default"
        else:
            namespace = ref.namespace
        m = await self._events()
        key = (ref.kind, ref.namespace, ref.name, ref.uid, type_, reason, message)
        seen = self._seen.get(key)
        now = time.monotonic()
        if seen is not None and now - seen.at < self._dedup_window:
            patch: Obj = {"count": seen.count + 1, "lastTimestamp": timestamp}
            try:
                await self.objects.merge_patch(m, seen.name, patch, seen.namespace)
            except KubeError as exc:
                if not is_not_found(exc):
                    raise
                # The event expired (or was deleted): start a new one.
            else:
                self._remember(key, _Seen(seen.name, seen.namespace, seen.count + 1,
                                          seen.first, now))
                return
        name = f"{ref.name}.{time.time_ns():x}"
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref.to_dict(),
            "reason": reason,
            "message": message,
            "source": {"component": self.controller},
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
            "type": type_,
            "reportingComponent": self.controller,
            "reportingInstance": self.instance,
        }
        if metadata:
            body["metadata"]["annotations"] = metadata
        await self.objects.create(m, body, namespace)
        self._remember(key, _Seen(name, namespace, 1, timestamp, now))
