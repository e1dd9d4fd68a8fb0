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

It sends through aiohttp rather than httpx: at a few hundred notifications
a second, httpx's per-request overhead (httpcore + anyio) was half of the
dispatcher's CPU. One `aiohttp.ClientSession` per provider address (a lane,
see ``lanes.py``) serves every Provider sending there; the proxy and TLS
settings are per request, so they need no client of their own. aiohttp does
not log request URLs, which keeps webhook secrets out of the logs.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sluice.controllers.notification.errors import DeliveryFailed
from sluice.controllers.notification.ingest import Event
from sluice.core.gojson import marshal

__all__ = ["ProviderConfig", "Reply", "Sender", "new_session", "object_name"]


def new_session(connections: int = 100) -> aiohttp.ClientSession:
    """A client session for provider calls: no timeout of its own (the dispatcher's applies)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=None), auto_decompress=True)


@dataclass(frozen=True)
class Reply:
    """A provider's answer, read in full."""

    status_code: int
    body: bytes
    headers: Mapping[str, str]

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


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
                 retries: int = 4, shared: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self.wait_min = wait_min
        self.wait_max = wait_max
        self.retries = retries
        self._shared = shared
        self._own: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._shared is not None:
            return self._shared
        if self._own is None:
            self._own = new_session()
        return self._own

    async def aclose(self) -> None:
        if self._own is not None:
            await self._own.close()
            self._own = None

    async def post_json(self, url: str, payload: Any, headers: Mapping[str, str] | None = None,
                        method: str = "POST", retries: int | None = None,
                        check: bool = True) -> Reply:
        body = payload if isinstance(payload, bytes) else marshal(payload)
        return await self.request(method, url, body,
                                  {"Content-Type": "application/json", **(headers or {})},
                                  retries=retries, check=check)

    async def request(self, method: str, url: str, body: bytes | None = None,
                      headers: Mapping[str, str] | None = None,
                      retries: int | None = None, check: bool = True) -> Reply:
        """``retries`` overrides the policy's (0 for clients that never retry);
        ``check=False`` returns the last answer whatever its status (for the
        providers whose Go client words its own errors)."""
        session = self._session()
        tls: ssl.SSLContext | bool = self.config.tls or True
        retries = self.retries if retries is None else retries
        wait = self.wait_min
        last = ""
        for attempt in range(retries + 1):
            try:
                async with session.request(method, url, data=body, headers=dict(headers or {}),
                                           proxy=self.config.proxy or None,
                                           ssl=tls) as response:
                    reply = Reply(response.status, await response.read(),
                                  dict(response.headers))
            except (aiohttp.ClientError, ValueError, OSError) as exc:
                last = f"failed to execute request: {type(exc).__name__}"
            else:
                if 200 <= reply.status_code < 300:
                    return reply
                status = reply.status_code
                last = (f"request failed: request failed with status code {status}: "
                        f"{reply.text}")
                retryable = status == 429 or (status >= 500 and status != 501)
                if not check and (not retryable or attempt == retries):
                    return reply
                if not retryable:
                    raise DeliveryFailed(last)
            if attempt < retries:
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.wait_max)
        raise DeliveryFailed(f"{last} (giving up after {retries + 1} attempt(s))")
