"""The API server's handlers as an httpx transport: requests without a socket, TLS or HTTP framing.

Under ``sluice up`` the controllers and the embedded cluster share one
process and one event loop, yet every request the controllers make goes
through httpx, HTTP/1.1 framing, TLS, the kernel's loopback and back up
through aiohttp's parser: with 1,000 Kustomizations that client stack is
about two thirds of the controllers' CPU (issue 14's profile). This module
is the seam httpx offers for that case (like its ``ASGITransport``):
`InProcessTransport` hands each ``httpx2.Request`` straight to the
server's ``aiohttp`` application as a real ``web.Request`` and turns what
the handler writes into an ``httpx2.Response``.

Everything above the socket stays the same: the bearer token is still
checked by the API's middleware, request observers (the tests' request
counter) still see every request, bodies are decoded by the same code, and
watches still stream: the response is returned as soon as the handler has
written its headers, and each chunk it writes reaches the client's stream
through a bounded queue (a slow reader holds the handler back, as a full
socket buffer would). Closing the client's stream cancels the handler, as
aiohttp does when a connection is lost.

What is not the same: no TLS and no HTTP/1.1 parsing, so the listener's
protections (plain-HTTP refusal, header deadline, header size limit) do not
apply; they guard a socket, and there is none. Tests keep using HTTPS;
this transport is what ``sluice up`` wires in (and ``--controllers-over-https``
turns it off), and ``bench/bench_kustomizations.py --up`` measures both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx2
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["InProcessTransport"]

log = logging.getLogger("sluice.apiserver")

# Chunks a handler may write ahead of the reader before it waits (watch streams).
_QUEUE_CHUNKS = 64
_EOF = b""


class _Peer:
    """What aiohttp's request and body reader ask of the connection they came from."""

    ssl_context = None
    peername = ("in-process", 0)
    sockname = ("in-process", 0)
    transport = None
    max_field_size = 8190
    max_headers = 128
    _reading_paused = False

    def pause_reading(self) -> None:
        """The whole body is already in memory: nothing to pause."""

    def resume_reading(self, resume_parser: bool = True) -> None:
        """See `pause_reading`."""


class _Chunks:
    """A bounded hand-over of body chunks; `finish` never waits (it runs in a ``finally``)."""

    def __init__(self) -> None:
        # b"" ends the body; None means the handler stopped without ending it.
        self._items: deque[bytes | None] = deque()
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def put(self, data: bytes) -> None:
        while len(self._items) >= _QUEUE_CHUNKS:
            self._room.clear()
            await self._room.wait()
        self._items.append(data)
        self._readable.set()

    def finish(self, item: bytes | None) -> None:
        self._items.append(item)
        self._readable.set()

    async def get(self) -> bytes | None:
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        self._room.set()
        return self._items.popleft()


class _ResponseWriter(AbstractStreamWriter):
    """Receives the handler's status line, headers and body chunks for the client side."""

    def __init__(self) -> None:
        self.headers_written: asyncio.Future[tuple[int, list[tuple[str, str]]]] = (
            asyncio.get_running_loop().create_future())
        self.chunks = _Chunks()
        self.closed = False  # the client closed its stream
        self.ended = False  # the handler wrote its end of body
        self.buffer_size = 0
        self.output_size = 0
        self.length = 0

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        # "HTTP/1.1 200 OK": the code is the second word.
        code = int(status_line.split(" ", 2)[1])
        if not self.headers_written.done():
            self.headers_written.set_result((code, list(headers.items())))

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if self.closed:
            # The client closed its stream: tell the handler the way a dead socket would.
            raise ConnectionResetError("in-process client went away")
        if not chunk:
            return
        data = bytes(chunk)
        self.output_size += len(data)
        await self.chunks.put(data)

    async def write_eof(self, chunk: bytes = b"") -> None:
        if chunk:
            await self.write(chunk)
        if not self.ended:
            self.ended = True
            self.chunks.finish(_EOF)

    async def drain(self) -> None:
        """Nothing is buffered here: `write` already waited for room."""

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        """Bodies stay as they are: nothing travels over a wire."""

    def enable_chunking(self) -> None:
        """Chunks are handed over one by one; there is no framing to add."""


class _ResponseStream(httpx2.AsyncByteStream):
    """The client's side of a response: chunks until the handler's end of body."""

    def __init__(self, writer: _ResponseWriter, handler: asyncio.Task[None]) -> None:
        self._writer = writer
        self._handler = handler

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._writer.chunks.get()
            if chunk is None:
                raise httpx2.RemoteProtocolError("the API server ended the response early")
            if chunk == _EOF:
                return
            yield chunk

    async def aclose(self) -> None:
        self._writer.closed = True
        if not self._handler.done():
            self._handler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._handler


class InProcessTransport(httpx2.AsyncBaseTransport):
    """Serves httpx requests with ``app``'s handlers on the running loop (see module doc)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._peer = _Peer()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        writer = _ResponseWriter()
        handler = asyncio.ensure_future(self._serve(request, body, writer))
        try:
            status, headers = await writer.headers_written
        except BaseException:
            handler.cancel()
            raise
        return httpx2.Response(status, headers=headers, stream=_ResponseStream(writer, handler),
                               request=request)

    def _web_request(self, request: httpx2.Request, body: bytes,
                     writer: _ResponseWriter) -> web.Request:
        raw = request.url.raw_path.decode("ascii")
        headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1"))
                              for k, v in request.headers.raw)
        message = RawRequestMessage(
            request.method, raw, HttpVersion11, CIMultiDictProxy(headers),
            tuple(request.headers.raw), False, None, False, False, URL(raw, encoded=True))
        payload: StreamReader = EMPTY_PAYLOAD
        loop = asyncio.get_running_loop()
        if body:
            payload = StreamReader(cast(Any, self._peer), max(len(body), 1 << 16), loop=loop)
            payload.feed_data(body)
            payload.feed_eof()
        task = cast("asyncio.Task[None]", asyncio.current_task())
        return self._app._make_request(message, payload, cast(Any, self._peer), writer, task)

    async def _serve(self, request: httpx2.Request, body: bytes, writer: _ResponseWriter) -> None:
        """What aiohttp's connection handler does with one request, minus the socket."""
        try:
            web_request = self._web_request(request, body, writer)
            try:
                resp = await self._app._handle(web_request)
            except web.HTTPException as exc:
                resp = web.Response(status=exc.status, reason=exc.reason, text=exc.text,
                                    headers=exc.headers)
            await resp.prepare(web_request)
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the client closed its stream first
        except Exception as exc:
            log.exception("in-process request %s %s failed", request.method, request.url.path)
            if not writer.headers_written.done():
                writer.headers_written.set_exception(
                    httpx2.RemoteProtocolError(f"the API server failed: {type(exc).__name__}"))
        finally:
            if not writer.headers_written.done():
                writer.headers_written.set_exception(
                    httpx2.RemoteProtocolError("the API server sent no response"))
            if not writer.ended:
                writer.chunks.finish(None)
