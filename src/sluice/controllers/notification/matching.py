"""Which Alerts an event goes to, exactly as Flux's event server decides.

For every Alert of the cluster (all namespaces), in Flux's order:

1. skip when ``spec.suspend``;
2. an ``eventSources`` entry must match: its namespace (default: the
   Alert's) and kind equal the involved object's; the Alert's
   ``eventSeverity`` is ``info`` (passes info and error) or equals the
   event's; the name is ``*`` or equal; with ``matchLabels`` the object is
   read and its labels must match (a read failure is a Warning
   ``SourceFetchFailed`` on the Alert);
3. ``inclusionList``: when set, some regex must match the message;
4. ``exclusionList``: no regex may match.

A regex that does not compile is skipped with a Warning ``InvalidConfig``
``failed to compile inclusion regex: <exp>``. Go's RE2 syntax and Python's
``re`` agree on what Flux users write (anchors, classes, alternations); RE2
constructs Python lacks fail to compile and are reported the same way.

`combine_metadata` builds the metadata a Provider sees (Flux RFC 0008).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from sluice.controllers.notification.ingest import EVENT_GROUP, Event

__all__ = ["AlertMatcher", "MetadataConflict", "combine_metadata"]

log = logging.getLogger("sluice.controllers.notification")

# (alert, reason, message, annotations) -> Warning event on the Alert
Warn = Callable[[Mapping[str, Any], str, str, Mapping[str, str] | None], Awaitable[None]]
# (involvedObject) -> labels, or raise
LabelsOf = Callable[[Mapping[str, str]], Awaitable[Mapping[str, str]]]

CONFLICT_MESSAGE = ("metadata key conflicts detected (please refer to the Alert API docs "
                    "and Flux RFC 0008 for more information)")


@lru_cache(maxsize=1024)
def _compile(expression: str) -> re.Pattern[str] | None:
    try:
        return re.compile(expression)
    except re.error:
        return None


def _spec(alert: Mapping[str, Any]) -> Mapping[str, Any]:
    return alert.get("spec") or {}


class AlertMatcher:
    """Matches events against Alerts; see the module docs."""

    def __init__(self, alerts: Callable[[], Iterable[Mapping[str, Any]]], labels_of: LabelsOf,
                 warn: Warn) -> None:
        self.alerts = alerts
        self.labels_of = labels_of
        self.warn = warn

    async def alerts_for(self, event: Event) -> list[Mapping[str, Any]]:
        out = []
        for alert in self.alerts():
            spec = _spec(alert)
            if spec.get("suspend"):
                continue
            if not await self._sources_match(event, alert):
                continue
            if not await self._included(event.message, alert):
                continue
            if await self._excluded(event.message, alert):
                continue
            out.append(alert)
        return out

    async def _sources_match(self, event: Event, alert: Mapping[str, Any]) -> bool:
        alert_ns = (alert.get("metadata") or {}).get("namespace") or ""
        severity = _spec(alert).get("eventSeverity") or "info"
        for source in _spec(alert).get("eventSources") or []:
            namespace = source.get("namespace") or alert_ns
            if event.namespace != namespace or event.kind != source.get("kind"):
                continue
            if event.severity != severity and severity != "info":
                continue
            name = source.get("name")
            if name != "*" and name != event.name:
                continue
            selector = source.get("matchLabels")
            if selector is None:
                return True
            try:
                labels = await self.labels_of(event.involved_object)
            except Exception as exc:
                log.warning("error getting the involved object %s: %s", event.object_string(),
                            exc)
                await self.warn(alert, "SourceFetchFailed",
                                f"error getting source object {event.object_string()}", None)
                continue
            if all(labels.get(k) == v for k, v in selector.items()):
                return True
        return False

    async def _included(self, message: str, alert: Mapping[str, Any]) -> bool:
        expressions = _spec(alert).get("inclusionList") or []
        if not expressions:
            return True
        for expression in expressions:
            pattern = _compile(expression)
            if pattern is None:
                await self.warn(alert, "InvalidConfig",
                                f"failed to compile inclusion regex: {expression}", None)
            elif pattern.search(message):
                return True
        return False

    async def _excluded(self, message: str, alert: Mapping[str, Any]) -> bool:
        for expression in _spec(alert).get("exclusionList") or []:
            pattern = _compile(expression)
            if pattern is None:
                await self.warn(alert, "InvalidConfig",
                                f"failed to compile exclusion regex: {expression}", None)
            elif pattern.search(message):
                return True
        return False


class MetadataConflict:
    """Keys supplied by more than one source, with the sources' names (for the Warning)."""

    def __init__(self, sources: dict[str, list[str]]) -> None:
        self.sources = sources

    @property
    def annotations(self) -> dict[str, str]:
        return {k: ", ".join(v) for k, v in sorted(self.sources.items())}


def combine_metadata(event: Event, alert: Mapping[str, Any]) -> MetadataConflict | None:
    """Replace ``event.metadata`` by Flux's combination (RFC 0008), lowest precedence first.

    1. ``event.toolkit.fluxcd.io/<k>`` (the object's annotations) -> ``<k>``;
    2. the Alert's ``spec.eventMetadata``;
    3. the deprecated ``spec.summary`` -> ``summary``;
    4. ``<object group>/<k>`` (the controller's metadata) -> ``<k>``.
    """
    metadata: dict[str, str] = {}
    sources: dict[str, list[str]] = {}

    def put(key: str, value: str, source: str) -> None:
        metadata[key] = value
        sources.setdefault(key, []).append(source)

    for key, value in event.metadata.items():
        if key.startswith(EVENT_GROUP + "/"):
            put(key[len(EVENT_GROUP) + 1:], value, "involved object annotations")
    for key, value in (_spec(alert).get("eventMetadata") or {}).items():
        put(str(key), str(value), "Alert object .spec.eventMetadata")
    summary = _spec(alert).get("summary")
    if summary:
        put("summary", str(summary), "Alert object .spec.summary")
    prefix = event.group + "/"
    for key, value in event.metadata.items():
        if key.startswith(prefix):
            put(key[len(prefix):], value, "involved object controller metadata")
    if metadata:
        event.metadata = metadata
    conflicts = {k: v for k, v in sources.items() if len(v) > 1}
    return MetadataConflict(conflicts) if conflicts else None
