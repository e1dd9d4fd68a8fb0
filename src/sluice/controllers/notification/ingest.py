"""What the event server does with a body before any Alert sees it.

Flux's event server decodes ``eventv1.Event`` (400 when it is not JSON of
that shape), keeps only the metadata keys prefixed with
``event.toolkit.fluxcd.io/`` or the involved object's API group (dropping
``<group>/checksum`` and ``<group>/digest``), rate-limits by a key made of
the object, the message and the revision/originRevision/token metadata
(429 for a repeat within ``--rate-limit-interval``), then removes
``<group>/token``. `Event` is that decoded, cleaned event.

`RateLimiter` departs from Flux on purpose (notification-controller#509,
#158): the message in the key is *normalised*, so messages that differ only
by durations or counters (``Reconciliation finished in 2.5s, next run in
10m0s`` vs ``... in 3.1s ...``) count as the same message.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sluice.controllers.notification.errors import InvalidEvent
from sluice.core.gojson import marshal

__all__ = ["EVENT_GROUP", "Event", "RateLimiter", "normalise_message", "parse_event"]

EVENT_GROUP = "event.toolkit.fluxcd.io"
_REF_KEYS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


@dataclass
class Event:
    """Flux's ``eventv1.Event``, decoded."""

    involved_object: dict[str, str]
    severity: str
    timestamp: str
    message: str
    reason: str
    metadata: dict[str, str] = field(default_factory=dict)
    reporting_controller: str = ""
    reporting_instance: str = ""

    @property
    def kind(self) -> str:
        return self.involved_object.get("kind", "")

    @property
    def name(self) -> str:
        return self.involved_object.get("name", "")

    @property
    def namespace(self) -> str:
        return self.involved_object.get("namespace", "")

    @property
    def group(self) -> str:
        """The API group of the involved object (``kustomize.toolkit.fluxcd.io``)."""
        api_version = self.involved_object.get("apiVersion", "")
        return api_version.rpartition("/")[0] if "/" in api_version else ""

    def object_string(self) -> str:
        """``Kind/namespace/name``, as Flux names the object in its messages."""
        return f"{self.kind}/{self.namespace}/{self.name}"

    def copy(self) -> Event:
        return Event(dict(self.involved_object), self.severity, self.timestamp, self.message,
                     self.reason, dict(self.metadata), self.reporting_controller,
                     self.reporting_instance)

    def to_json(self) -> dict[str, Any]:
        """The event as Go marshals ``eventv1.Event`` (omitempty fields left out)."""
        out: dict[str, Any] = {
            "involvedObject": {k: self.involved_object[k] for k in _REF_KEYS
                               if self.involved_object.get(k)},
            "severity": self.severity,
            "timestamp": self.timestamp,
            "message": self.message,
            "reason": self.reason,
        }
        if self.metadata:
            out["metadata"] = dict(sorted(self.metadata.items()))  # a Go map: sorted keys
        out["reportingController"] = self.reporting_controller
        if self.reporting_instance:
            out["reportingInstance"] = self.reporting_instance
        return out

    def body(self) -> bytes:
        return marshal(self.to_json())


def _string(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidEvent(f"json: cannot unmarshal {type(value).__name__} into Go struct "
                           f"field Event.{key} of type string")
    return value


def parse_event(payload: Any) -> Event:
    """Decode Flux's event JSON (already parsed) and clean its metadata as Flux does."""
    if not isinstance(payload, dict):
        raise InvalidEvent("json: cannot unmarshal into Go value of type v1beta1.Event")
    ref = payload.get("involvedObject") or {}
    if not isinstance(ref, dict):
        raise InvalidEvent("json: cannot unmarshal involvedObject into ObjectReference")
    involved = {}
    for key in _REF_KEYS:
        value = _string(ref, key)
        if value:
            involved[key] = value
    metadata = payload.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidEvent("json: cannot unmarshal metadata into map[string]string")
    event = Event(involved, _string(payload, "severity"), _string(payload, "timestamp"),
                  _string(payload, "message"), _string(payload, "reason"), {},
                  _string(payload, "reportingController"), _string(payload, "reportingInstance"))
    group = event.group
    drop = {f"{group}/checksum", f"{group}/digest"}
    for key, value in metadata.items():
        if key.lower() in drop:
            continue
        if key.startswith(EVENT_GROUP + "/") or key.startswith(group + "/"):
            event.metadata[str(key)] = value
    return event


# Go durations (1m30s, 2.5s, 150ms, 10m0s) and bare integers (counters: "found 33
# tags", "3 retries"); digits glued to letters or punctuation (podinfo.v4,
# sha1:abc, 6.9.2) are identity, not counters, and are kept.
_DURATION = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|h|m|s))+(?![\w.])")
_COUNTER = re.compile(r"(?<![\w.:/@-])\d+(?![\w.:/@-])")


def normalise_message(message: str) -> str:
    """The message with durations and counters replaced, for de-duplication."""
    return _COUNTER.sub("#", _DURATION.sub("<d>", message))


class RateLimiter:
    """One event per key per interval (go-limiter's memory store with one token)."""

    def __init__(self, interval: float = 300.0, max_keys: int = 65536) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._until: OrderedDict[str, float] = OrderedDict()

    @staticmethod
    def key(event: Event) -> str:
        group = event.group
        parts = ["event", f"name={event.name}", f"namespace={event.namespace}",
                 f"kind={event.kind}", f"message={normalise_message(event.message)}"]
        for meta in ("originRevision", "revision", "token"):
            value = event.metadata.get(f"{group}/{meta}")
            if value is not None:
                parts.append(f"{meta}={value}")
        return hashlib.sha256("/".join(parts).encode()).hexdigest()

    def allow(self, event: Event, now: float | None = None) -> bool:
        """True for the first event of its key in the interval."""
        if self.interval <= 0:
            return True
        now = time.monotonic() if now is None else now
        key = self.key(event)
        until = self._until.get(key)
        if until is not None and until > now:
            return False
        self._until[key] = now + self.interval
        self._until.move_to_end(key)
        while len(self._until) > self.max_keys:
            self._until.popitem(last=False)
        return True
