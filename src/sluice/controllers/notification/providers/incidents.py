"""Incident and observability providers: Opsgenie, PagerDuty, Datadog and incident.io.

Payloads as Flux's notifiers build them (notification-controller
internal/notifier, v1.9): Go maps marshal with sorted keys, structs in
field order.

* ``opsgenie``: a POST of ``{"message": "<Kind>/<name>", "alias": ...,
  "description": <message>, "details": <metadata + severity>}`` to the
  address with ``Authorization: GenieKey <token>``. The alias is the first
  64 hex digits of sha256(``<provider uid>/<Kind>/<ns>/<name>/<reason>``),
  so Opsgenie folds repeats of the same object and reason into one alert.
* ``pagerduty``: Events API v2 at ``<scheme>://<host>/v2/enqueue`` of the
  address, the routing key is ``spec.channel``. Info resolves the incident
  keyed by the object's UID and also records a change event
  (``/v2/change/enqueue``); error triggers one. ``Progressing`` is skipped.
* ``datadog``: ``POST <scheme>://<host>/api/v1/events`` with
  ``DD-API-KEY: <token>``: the title names the object, tags carry the
  controller, reason, object and metadata, all lowercased. The Go client
  never retries, so neither does this one.
* ``incident.io``: an alert event POSTed to the alert source URL with
  ``Authorization: Bearer <token>``: ``firing`` for error, ``resolved`` for
  info, de-duplicated on the object's UID; ``Progressing`` is skipped.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sluice.controllers.notification.errors import DeliveryFailed, ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers.base import ProviderConfig, Sender
from sluice.controllers.notification.providers.commitstatus import description
from sluice.core.gojson import marshal

__all__ = ["datadog", "incidentio", "opsgenie", "pagerduty"]

_GO_ZERO = datetime(1, 1, 1, tzinfo=UTC)


def _time(timestamp: str) -> datetime:
    """The event's ``metav1.Time`` (seconds precision); Go's zero time when unset."""
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return _GO_ZERO
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).replace(microsecond=0)


def rfc3339(timestamp: str) -> str:
    """Go's ``t.Format(time.RFC3339)``: ``Z`` for UTC, else ``+hh:mm``."""
    moment = _time(timestamp)
    text = moment.isoformat()
    return text[:-6] + "Z" if moment.utcoffset() == _GO_ZERO.utcoffset() else text


def _base(address: str, what: str) -> str:
    """``scheme://host`` of an absolute address (Go's url.ParseRequestURI must accept it)."""
    parts = urlsplit(address.strip())
    if not parts.scheme or not parts.netloc:
        raise ProviderError(f"invalid {what} URL")
    return f"{parts.scheme}://{parts.netloc}"


def _name_and_description(event: Event) -> tuple[str, str]:
    """Flux's formatNameAndDescription: ``kind/name`` lowercased, the reason in words."""
    return f"{event.kind}/{event.name}".lower(), description(event.reason)


async def opsgenie(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    _base(cfg.address, "Opsgenie hook")
    if not cfg.token:
        raise ProviderError("empty Opsgenie apikey/token")
    details = {**event.metadata, "severity": event.severity}
    key = f"{cfg.uid}/{event.kind}/{event.namespace}/{event.name}/{event.reason}"
    payload = {"message": f"{event.kind}/{event.name}",
               "alias": hashlib.sha256(key.encode()).hexdigest()[:64],
               "description": event.message,
               "details": dict(sorted(details.items()))}
    try:
        await sender.post_json(cfg.address.strip(), payload,
                               {"Authorization": f"GenieKey {cfg.token}"})
    except DeliveryFailed as exc:
        raise DeliveryFailed(f"postMessage failed: {exc}") from None


def _pagerduty_details(event: Event) -> dict[str, Any]:
    # map[string]interface{}{"message", "metadata"}: sorted keys, metadata nil -> null.
    return {"message": event.message,
            "metadata": dict(sorted(event.metadata.items())) if event.metadata else None}


async def pagerduty(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    base = _base(cfg.address, "PagerDuty endpoint")
    if event.reason == "Progressing":
        return
    name, desc = _name_and_description(event)
    uid = event.involved_object.get("uid", "")
    v2: dict[str, Any] = {"routing_key": cfg.channel, "event_action": "resolve"}
    if uid:
        v2["dedup_key"] = uid
    if event.severity == "error":
        v2["event_action"] = "trigger"
        payload: dict[str, Any] = {"summary": f"{desc}: {name}",
                                   "source": f"Flux {event.reporting_controller}",
                                   "severity": "error", "timestamp": rfc3339(event.timestamp)}
        if event.name:
            payload["component"] = event.name
        if event.kind:
            payload["group"] = event.kind
        payload["custom_details"] = _pagerduty_details(event)
        v2["payload"] = payload
    try:
        await sender.post_json(f"{base}/v2/enqueue", v2)
    except DeliveryFailed as exc:
        raise DeliveryFailed(f"failed sending event: {exc}") from None
    if event.severity == "info":
        change = {"routing_key": cfg.channel,
                  "payload": {"summary": f"{desc}: {name}",
                              "source": f"Flux {event.reporting_controller}",
                              "timestamp": rfc3339(event.timestamp),
                              "custom_details": _pagerduty_details(event)}}
        try:
            await sender.post_json(f"{base}/v2/change/enqueue", change)
        except DeliveryFailed as exc:
            raise DeliveryFailed(f"failed sending change event: {exc}") from None


async def datadog(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    if not cfg.token:
        raise ProviderError("token cannot be empty")
    base = _base(cfg.address, "Datadog API")
    tags = [f"flux_reporting_controller:{event.reporting_controller}",
            f"flux_reason:{event.reason}", f"kube_kind:{event.kind}",
            f"kube_name:{event.name}", f"kube_namespace:{event.namespace}",
            *(f"{k}:{v}" for k, v in event.metadata.items())]
    request = {"alert_type": "error" if event.severity == "error" else "info",
               "date_happened": int(_time(event.timestamp).timestamp()),
               "source_type_name": "fluxcd",
               "tags": [tag.lower() for tag in tags],
               "text": event.message,
               "title": f"Events from the {event.kind} {event.name}/{event.namespace}"}
    # The Go client marshals a map (sorted keys) and sends JSON both ways.
    try:
        await sender.post_json(f"{base}/api/v1/events", marshal(request, sort_keys=True),
                               {"Accept": "application/json", "DD-API-KEY": cfg.token},
                               retries=0)
    except DeliveryFailed as exc:
        raise DeliveryFailed(f"failed to post event to DataDog: {exc}") from None


async def incidentio(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    _base(cfg.address, "incident.io alert source")
    if not cfg.token:
        raise ProviderError("empty incident.io API token")
    if event.reason == "Progressing":
        return
    metadata = {**event.metadata, "severity": event.severity, "reason": event.reason}
    if event.reporting_controller:
        metadata["reportingController"] = event.reporting_controller
    payload: dict[str, Any] = {
        "title": f"{event.kind.lower()}/{event.name}.{event.namespace}: {event.reason}",
        "status": "firing" if event.severity == "error" else "resolved",
        "deduplication_key": event.involved_object.get("uid", "")}
    if event.message:
        payload["description"] = event.message
    payload["metadata"] = dict(sorted(metadata.items()))
    try:
        await sender.post_json(cfg.address.strip(), payload,
                               {"Authorization": f"Bearer {cfg.token}"})
    except DeliveryFailed as exc:
        raise DeliveryFailed(f"postMessage failed: {exc}") from None
