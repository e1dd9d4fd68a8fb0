"""Webhook providers: Flux's generic forwarders, Alertmanager and Grafana annotations.

``generic`` POSTs the event itself (after metadata combination) with
``gotk-component: <reportingController>`` and the Secret's ``headers``;
``generic-hmac`` adds ``X-Signature: sha256=<hex HMAC-SHA256(body, token)>``
over exactly the bytes sent. Alertmanager gets one firing alert whose labels
are the metadata plus the object's identity; Grafana an annotation tagged
with the metadata.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from sluice.controllers.notification.errors import ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers.base import ProviderConfig, Sender, object_name
from sluice.controllers.notification.providers.chat import _require_url

__all__ = ["alertmanager", "generic", "generic_hmac", "grafana", "sign"]

NOTIFICATION_HEADER = "gotk-component"


def sign(body: bytes, key: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


async def _forward(cfg: ProviderConfig, event: Event, sender: Sender, key: bytes | None) -> None:
    url = _require_url(cfg.address, "hook")
    if key is not None and not key:
        raise ProviderError("HMAC key is empty")
    body = event.body()
    headers = {NOTIFICATION_HEADER: event.reporting_controller, **cfg.headers}
    if key:
        headers["X-Signature"] = f"sha256={sign(body, key)}"
    await sender.post_json(url, body, headers)


async def generic(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    await _forward(cfg, event, sender, None)


async def generic_hmac(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    await _forward(cfg, event, sender, cfg.token.encode())


def _title(word: str) -> str:
    """golang.org/x/text cases.Title: first letter upper, the rest lower."""
    return word[:1].upper() + word[1:].lower()


def _auth(cfg: ProviderConfig, basic_only_without_token: bool) -> dict[str, str]:
    basic = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode()
    if basic_only_without_token:  # grafana: basic auth only when there is no token
        if cfg.token:
            return {"Authorization": f"Bearer {cfg.token}"}
        if cfg.username and cfg.password:
            return {"Authorization": f"Basic {basic}"}
        return {}
    headers = {}
    if cfg.token:
        headers["Authorization"] = f"Bearer {cfg.token}"
    if cfg.username and cfg.password:
        headers["Authorization"] = f"Basic {basic}"  # SetBasicAuth replaces the bearer
    return headers


async def alertmanager(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    url = _require_url(cfg.address, "Alertmanager")
    labels = dict(event.metadata)
    annotations = {"message": event.message}
    if "summary" in labels:
        annotations["summary"] = labels.pop("summary")
    labels.update({
        "alertname": f"Flux{event.kind}{_title(event.reason)}",
        "severity": event.severity,
        "reason": event.reason,
        "kind": event.kind,
        "name": event.name,
        "namespace": event.namespace,
        "reportingcontroller": event.reporting_controller,
    })
    payload = [{"status": "firing", "labels": dict(sorted(labels.items())),
                "annotations": dict(sorted(annotations.items())),
                "startsAt": _rfc3339(event.timestamp), "endsAt": "0001-01-01T00:00:00Z"}]
    await sender.post_json(url, payload, _auth(cfg, False))


def _rfc3339(timestamp: str) -> str:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return "0001-01-01T00:00:00Z"


def _unix(timestamp: str) -> int:
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return -62135596800  # Go's zero time


async def grafana(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    url = _require_url(cfg.address, "Grafana")
    tags = ["flux", event.reporting_controller]
    tags += [f"{k.replace(':', '|')}: {v.replace(':', '|')}" for k, v in event.metadata.items()]
    tags += [f"kind: {event.kind}", f"name: {event.name}", f"namespace: {event.namespace}"]
    payload: dict[str, Any] = {"when": _unix(event.timestamp), "text": object_name(event),
                               "tags": tags}
    await sender.post_json(url, payload, _auth(cfg, True))
