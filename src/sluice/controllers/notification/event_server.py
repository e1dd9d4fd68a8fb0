"""The event endpoint (Flux's ``--events-addr=:9090``): Flux's event JSON in, 202 out.

Any path is accepted (Flux's mux serves ``/``), only POST. Limits as Flux:
bodies over 3 MiB get 413, headers over 256 KiB are refused by the HTTP
parser, a body that is not JSON gets 400, a rate-limited duplicate 429,
everything else 202 before the notifications are sent.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from sluice.controllers.notification.pipeline import BAD_REQUEST, EventPipeline
from sluice.core.lifecycle import AsyncService
from sluice.runtime.manager import parse_address

__all__ = ["MAX_BODY", "EventServer", "HTTPServer"]

log = logging.getLogger("sluice.controllers.notification")

MAX_BODY = 3 * 1024 * 1024
MAX_HEADERS = 256 * 1024


class HTTPServer(AsyncService):
    """An aiohttp app on ``addr`` (``:9090``, ``127.0.0.1:0``); `url` once started."""

    def __init__(self, addr: str, app: web.Application) -> None:
        self.host, self.port = parse_address(addr)
        self.app = app
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0, max_field_size=MAX_HEADERS,
                                     max_line_size=MAX_HEADERS)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class EventServer(HTTPServer):
    def __init__(self, addr: str, pipeline: EventPipeline) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        super().__init__(addr, app)
        self.pipeline = pipeline

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            log.info("decoding the request body failed")
            return web.Response(status=BAD_REQUEST)
        status = await self.pipeline.handle(payload)
        return web.Response(status=status)
