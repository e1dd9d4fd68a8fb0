"""A loopback HTTP sink that records every request, standing in for Discord, Slack, GitHub ...

Notification tests (Sluice's and users') need a real HTTP endpoint to check
what a provider really sent: method, path, query, headers and the exact body
bytes. `WebhookSink` records each request as a `SinkRequest` and answers
with a configurable behaviour, so retries and failures can be exercised
against real sockets:

* ``"ok"`` (default): 200 with ``answer_body`` (JSON or text);
* ``"status"``: ``status`` with ``answer_body`` (e.g. 500, 429);
* ``"hang"``: never answers until the sink closes (the client times out);
* ``"refuse"``: the listening socket is closed, so connections are refused
  (`refuse` / `accept` switch it while the port stays reserved).

Answers can also be scripted per request with `answers` (a list consumed
in order, then the default applies), e.g. ``[500, 500]`` then OK.

    async with WebhookSink() as sink:
        provider_address = sink.url("/api/webhooks/1/secret")
        ...
        [req] = await sink.wait_for(1)
        assert req.json() == {...}
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sluice.core.lifecycle import AsyncService

__all__ = ["SinkRequest", "WebhookSink"]


@dataclass(frozen=True)
class SinkRequest:
    """One recorded request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # The path as sent (percent-escapes kept, e.g. GitLab's group%2Fproject).
    raw_path: str = ""
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class WebhookSink(AsyncService):
    """Records requests on ``http://127.0.0.1:<port>``; see the module docs."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[SinkRequest] = []
        self.mode = "ok"
        self.status = 200
        self.answer_body: Any = ""
        self.answers: list[int | str] = []
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._sock: socket.socket | None = None
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._listen(0)

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    async def refuse(self) -> None:
        """Stop listening: connections to the port are refused until `accept`."""
        self.mode = "refuse"
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def accept(self) -> None:
        """Listen again on the same port, answering OK."""
        self.mode = "ok"
        if self._site is None:
            await self._listen(self.port)

    def answer(self, mode: str = "ok", status: int = 200, body: Any = "") -> None:
        """Set the default answer: ``ok``, ``status`` or ``hang``."""
        self.mode, self.status, self.answer_body = mode, status, body

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def clear(self) -> None:
        self.requests.clear()

    async def wait_for(self, count: int, timeout: float = 10.0,  # noqa: ASYNC109
                       path: str | None = None) -> list[SinkRequest]:
        """Wait until at least ``count`` requests (to ``path``, if given) arrived."""
        def matching() -> list[SinkRequest]:
            return [r for r in self.requests if path is None or r.path == path]

        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(matching()) >= count), timeout)
            except TimeoutError:
                raise AssertionError(f"{count} request(s) expected within {timeout}s, "
                                     f"got {len(matching())}: {matching()!r}") from None
        return matching()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded = SinkRequest(request.method, request.path, request.query_string,
                               dict(request.headers), body, request.raw_path.split("?")[0])
        async with self._changed:
            self.requests.append(recorded)
            self._changed.notify_all()
        mode: int | str = self.answers.pop(0) if self.answers else self.mode
        if mode == "hang":
            await self._closing.wait()
            return web.Response(status=503)
        status = mode if isinstance(mode, int) else (
            self.status if mode == "status" else 200)
        answer = self.answer_body
        if isinstance(answer, (dict, list)):
            return web.json_response(answer, status=status)
        return web.Response(status=status, text=str(answer))
