"""Provider configuration and the HTTP sender every provider posts through.

`ProviderConfig` is what ``createNotifier`` gathers in Flux: ``spec``
fields, the ``secretRef`` keys (``address`` overrides ``spec.address``,
``token``, ``username``/``password``, ``headers`` as a YAML map), the
proxy from ``proxySecretRef`` and the TLS settings from ``certSecretRef``.

`Sender` is Flux's retryablehttp client: up to 4 retries on connection
errors, 429 and 5xx (except 501), exponential backoff from ``wait_min`` (2 s
in Flux) to 30 s, all inside the Provider's ``timeout`` (default 15 s);
any other non-2xx answer fails at once with
``request failed with status code <n>: <body>``. Messages never name the
URL: for most providers the URL *is* the secret.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from sluice.controllers.notification.errors import DeliveryFailed
from sluice.controllers.notification.ingest import Event
from sluice.core.gojson import marshal

__all__ = ["ProviderConfig", "Sender", "object_name"]

# httpx logs every request's URL at INFO; for providers the URL is the secret
# (Discord and Slack webhooks). Records emitted while a Sender is sending are dropped.
_SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar("notification_sending",
                                                               default=False)


class _HideProviderURLs(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _SENDING.get()


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_HideProviderURLs())


@dataclass
class ProviderConfig:
    type: str
    name: str
    namespace: str
    uid: str = ""
    address: str = ""
    token: str = ""
    username: str = ""
    password: str = ""
    channel: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    proxy: str = ""
    tls: ssl.SSLContext | None = None
    commit_status: str = ""
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> list[str]:
        """What must never appear in messages."""
        return [s for s in (self.address, self.token, self.password, self.proxy,
                            *self.headers.values()) if s]


def object_name(event: Event, sep: str = ".") -> str:
    """``<kind lowercased>/<name>.<namespace>``, the author line of most chat payloads."""
    return f"{event.kind.lower()}/{event.name}{sep}{event.namespace}"


class Sender:
    """POSTs (or PUTs/GETs) with Flux's retry policy; one per dispatch."""

    def __init__(self, config: ProviderConfig, *, wait_min: float = 2.0, wait_max: float = 30.0,
                 retries: int = 4, shared: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.wait_min = wait_min
        self.wait_max = wait_max
        self.retries = retries
        self._shared = shared
        self._own: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self.config.proxy or self.config.tls is not None or self._shared is None:
            if self._own is None:
                verify: ssl.SSLContext | bool = self.config.tls or True
                self._own = httpx.AsyncClient(proxy=self.config.proxy or None, verify=verify,
                                              timeout=None)
            return self._own
        return self._shared

    async def aclose(self) -> None:
        if self._own is not None:
            await self._own.aclose()
            self._own = None

    async def post_json(self, url: str, payload: Any, headers: Mapping[str, str] | None = None,
                        method: str = "POST") -> httpx.Response:
        body = payload if isinstance(payload, bytes) else marshal(payload)
        return await self.request(method, url, body,
                                  {"Content-Type": "application/json", **(headers or {})})

    async def request(self, method: str, url: str, body: bytes | None = None,
                      headers: Mapping[str, str] | None = None) -> httpx.Response:
        _SENDING.set(True)  # this task only: each dispatch runs in its own task
        client = self._client()
        wait = self.wait_min
        last = ""
        for attempt in range(self.retries + 1):
            try:
                response = await client.request(method, url, content=body,
                                                headers=dict(headers or {}))
            except httpx.HTTPError as exc:
                last = f"failed to execute request: {type(exc).__name__}"
            else:
                if 200 <= response.status_code < 300:
                    return response
                status = response.status_code
                last = (f"request failed: request failed with status code {status}: "
                        f"{response.text}")
                if not (status == 429 or (status >= 500 and status != 501)):
                    raise DeliveryFailed(last)
            if attempt < self.retries:
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.wait_max)
        raise DeliveryFailed(f"{last} (giving up after {self.retries + 1} attempt(s))")
