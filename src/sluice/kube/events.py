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
  registered hook;
* it forwards the event to the notification controller through an
  `EventForwarder` (``--events-addr``), as fluxcd/pkg's recorder does: Flux's
  event JSON POSTed to the address, or handed to an in-process receiver
  under ``sluice up``.

``Trace`` events (Flux's internal progress events) are written as Normal
Kubernetes events and passed to hooks with severity ``trace``, but never
forwarded, as Flux does.

Forwarding happens in the background: `EventForwarder.submit` only queues
(a bounded queue; when full, the event is dropped and counted), and one
worker POSTs with a short timeout and a few retries with backoff. A
notification controller that is down or slow therefore never slows or fails
a reconcile; its absence costs at most a log line per outage. A 429 (the
notification controller's rate limit) and other 4xx answers are final, as
with Flux's retryablehttp policy.

Recording never fails a reconcile: API or hook errors are logged and
swallowed. Messages are written as given, so callers must keep secrets out
of them (the source controller's messages are scrubbed at their origin).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import httpx2

from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects

__all__ = [
    "NORMAL",
    "TRACE",
    "WARNING",
    "EventForwarder",
    "EventHook",
    "EventRecorder",
    "LocalReceiver",
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
# Annotations of the involved object copied into every event's metadata.
EVENT_ANNOTATION_PREFIX = "event.toolkit.fluxcd.io/"


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
        """The JSON body Flux controllers POST to the notification controller.

        Keys in ``eventv1.Event``'s order; ``metadata`` and
        ``reportingInstance`` omitted when empty (Go's omitempty). The
        metadata is the caller's plus the object's ``event.toolkit.fluxcd.io/*``
        annotations (the caller's keys win, as in fluxcd/pkg).
        """
        metadata = {k: v for k, v in self.object_annotations.items()
                    if k.startswith(EVENT_ANNOTATION_PREFIX)}
        metadata.update(self.metadata)
        out: dict[str, Any] = {
            "involvedObject": self.involved_object.to_dict(),
            "severity": self.severity,
            "timestamp": self.timestamp,
            "message": self.message,
            "reason": self.reason,
        }
        if metadata:
            out["metadata"] = metadata
        out["reportingController"] = self.reporting_controller
        if self.reporting_instance:
            out["reportingInstance"] = self.reporting_instance
        return out


EventHook = Callable[[RecordedEvent], Awaitable[None]]
# An in-process notification controller: takes Flux's event JSON (decoded).
LocalReceiver = Callable[[dict[str, Any]], Awaitable[None]]


class EventForwarder:
    """Sends Flux's event JSON to the notification controller, in the background.

    ``address`` is ``--events-addr`` (e.g.
    ``http://notification-controller.flux-system.svc.cluster.local./``);
    empty means events stay Kubernetes Events only. `local`, when set (the
    notification controller runs in this process), receives the payload
    directly; the HTTP address is then not used.
    """

    def __init__(self, address: str | None = None, *, timeout: float = 5.0, retries: int = 4,
                 backoff: float = 0.5, max_backoff: float = 4.0, queue_size: int = 1024,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.address = (address or "").strip()
        self.local: LocalReceiver | None = None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.dropped = 0
        self.sent = 0
        self._queue_size = queue_size
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._transport = transport
        self._failing = False

    @property
    def enabled(self) -> bool:
        return bool(self.address) or self.local is not None

    def submit(self, event: RecordedEvent) -> None:
        """Queue ``event`` for delivery; never blocks, never raises."""
        if not self.enabled or event.type == TRACE:
            return
        ref = event.involved_object
        if not (ref.kind and ref.name and ref.namespace):
            return  # Flux drops events it could not route to an object
        if self._queue is None:
            self._queue = asyncio.Queue(self._queue_size)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._run(), name="event-forwarder")
        try:
            self._queue.put_nowait(event.to_payload())
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("event queue full, %d event(s) not forwarded", self.dropped)

    async def flush(self, limit: float = 5.0) -> None:
        """Wait (bounded) until every queued event was handled."""
        if self._queue is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), limit)

    async def aclose(self, drain: float = 1.0) -> None:
        """Deliver what is queued (for at most ``drain`` seconds), then stop."""
        await self.flush(drain)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
            self._worker = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            payload = await self._queue.get()
            try:
                await self._deliver(payload)
            except Exception:  # never let one event stop forwarding
                log.exception("cannot forward event")
            finally:
                self._queue.task_done()

    async def _deliver(self, payload: dict[str, Any]) -> None:
        if self.local is not None:
            await self.local(payload)
            self.sent += 1
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, transport=self._transport)
        body = json.dumps(payload, separators=(",", ":")).encode()
        delay = self.backoff
        for attempt in range(self.retries + 1):
            error = ""
            try:
                response = await self._client.post(
                    self.address, content=body, headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            else:
                if response.status_code < 500:
                    # 2xx delivered; 429 is the receiver's rate limit and other 4xx
                    # are final: Flux's client does not retry them either.
                    self.sent += response.status_code < 300
                    self._recovered()
                    return
                error = f"status {response.status_code}"
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        if not self._failing:
            # Once per outage; the address is configuration, not a secret, but
            # user info in it would be: log only the scheme and host.
            url = httpx.URL(self.address)
            log.warning("cannot forward events to %s://%s (%s); will keep trying per event",
                        url.scheme, url.host, error)
            self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.info("forwarding events again")
            self._failing = False


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
                 dedup_window: float = 600.0, cache_size: int = 4096,
                 forwarder: EventForwarder | None = None) -> None:
        self.objects = objects
        self.forwarder = forwarder
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
        if self.forwarder is not None:
            self.forwarder.submit(event)

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
