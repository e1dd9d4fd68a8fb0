"""The embedded cluster's listening socket: TLS or a plain-HTTP refusal, and bounded headers.

aiohttp's own site would hand every connection to TLS or HTTP and wait for
headers forever. kube-apiserver (Go's ``net/http``) does three things this
module does too:

* a client speaking plain HTTP to the HTTPS port gets Go's answer,
  ``HTTP/1.0 400 Bad Request`` and ``Client sent an HTTP request to an HTTPS
  server.``, instead of a closed connection: the first bytes are peeked
  (``MSG_PEEK``) before TLS starts, as Go inspects the first record header;
* headers must arrive within :data:`HEADER_TIMEOUT` of a request's first byte
  (``ReadHeaderTimeout``): a client that sends a partial request and stalls
  (slowloris) is disconnected instead of holding a connection forever;
* request lines and header fields may be as long as Go's 1 MiB header limit,
  and a longer one is answered with a JSON ``Status`` (431) like every other
  refusal, not aiohttp's plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong

HEADER_TIMEOUT = 32.0
MAX_HEADER_BYTES = 1 << 20  # Go's http.DefaultMaxHeaderBytes
PLAIN_HTTP_ANSWER = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
# Go's tlsRecordHeaderLooksLikeHTTP: the first five bytes of the usual methods.
_HTTP_STARTS = (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO")
_TLS_HANDSHAKE = 0x16


class _Connection(web.RequestHandler):  # type: ignore[type-arg]
    """aiohttp's HTTP/1 handler with a header read deadline and Status-shaped parse errors."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_request = False
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = asyncio.get_running_loop().call_later(
            self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport is not None and not self._in_request:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._in_request and self._header_timer is None:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:
            self._in_request = True
            self._disarm()

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        try:
            result: tuple[web.StreamResponse, bool] = await super().finish_response(
                request, resp, start_time)
            return result
        finally:
            self._in_request = False

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500 or exc is None:
            return super().handle_error(request, status, exc, message)
        # The parser's own message quotes the offending line, which may be a header holding
        # a credential: only say what was wrong.
        if isinstance(exc, LineTooLong):
            code, reason = 431, "RequestHeaderFieldsTooLarge"
            text = f"request line or header field longer than {MAX_HEADER_BYTES} bytes"
        else:
            code, reason, text = status, "BadRequest", f"malformed HTTP request: {type(exc).__name__}"
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": text, "reason": reason,
                                "code": code}
        resp = web.Response(status=code, body=json.dumps(body).encode(),
                            content_type="application/json")
        resp.force_close()
        return resp


class Listener:
    """Accepts on ``sock``; TLS connections (or all, without ``ssl_context``) go to aiohttp."""

    def __init__(self, server: web.Server, sock: socket.socket,  # type: ignore[type-arg]
                 ssl_context: ssl.SSLContext | None, header_timeout: float = HEADER_TIMEOUT
                 ) -> None:
        self._server = server
        self._sock = sock
        self._ssl = ssl_context
        self.header_timeout = header_timeout
        self._accepting: asyncio.Task[None] | None = None
        self._routing: set[asyncio.Task[None]] = set()

    def _protocol(self) -> _Connection:
        kwargs: dict[str, Any] = {"max_line_size": MAX_HEADER_BYTES,
                                  "max_field_size": MAX_HEADER_BYTES,
                                  **getattr(self._server, "_kwargs", {})}
        conn = _Connection(self._server, loop=asyncio.get_running_loop(), **kwargs)
        conn.header_timeout = self.header_timeout
        return conn

    async def start(self) -> None:
        self._sock.listen(128)
        self._sock.setblocking(False)
        self._accepting = asyncio.create_task(self._accept(), name="apiserver-accept")

    async def stop(self) -> None:
        for task in (self._accepting, *self._routing):
            if task is not None:
                task.cancel()
        for task in (self._accepting, *self._routing):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._sock.close()

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self._sock)
            task = asyncio.create_task(self._route(conn))
            self._routing.add(task)
            task.add_done_callback(self._routing.discard)

    async def _route(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self._ssl is not None:
                first = await self._peek(conn)
                if not first or first[0] != _TLS_HANDSHAKE:
                    if first.startswith(_HTTP_STARTS):
                        with contextlib.suppress(OSError):
                            await loop.sock_sendall(conn, PLAIN_HTTP_ANSWER)
                            conn.shutdown(socket.SHUT_WR)
                            _drain(conn)  # unread bytes at close would reset the answer
                    conn.close()
                    return
            await loop.connect_accepted_socket(
                self._protocol, conn, ssl=self._ssl,
                ssl_handshake_timeout=self.header_timeout if self._ssl else None)
        except (OSError, TimeoutError, ssl.SSLError):
            conn.close()

    async def _peek(self, conn: socket.socket) -> bytes:
        """Up to 5 bytes the client sent first, left in the socket for TLS to read."""
        loop = asyncio.get_running_loop()
        data = b""
        async with asyncio.timeout(self.header_timeout):
            while True:
                readable: asyncio.Future[None] = loop.create_future()

                def ready(f: asyncio.Future[None] = readable) -> None:
                    if not f.done():
                        f.set_result(None)

                loop.add_reader(conn.fileno(), ready)
                try:
                    await readable
                finally:
                    loop.remove_reader(conn.fileno())
                data = conn.recv(5, socket.MSG_PEEK)
                if not data or data[0] == _TLS_HANDSHAKE or len(data) >= 5:
                    return data
                await asyncio.sleep(0.01)  # a few bytes so far: let the rest arrive


def _drain(conn: socket.socket) -> None:
    """Read what the client has sent so far (a bounded amount), without waiting."""
    for _ in range(16):
        try:
            if not conn.recv(65536):
                return
        except BlockingIOError:
            return
