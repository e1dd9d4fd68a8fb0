"""An httpx transport on aiohttp's HTTP client: the controllers' requests at a third of the cost.

Every Kubernetes call Sluice makes goes through ``httpx2`` (its URL, auth,
timeout and streaming API is what `sluice.kube.objects` and friends are
written against). Its default transport (httpcore, h11, anyio's TLS stream)
is pure Python per byte and per header: with 1,000 Kustomizations it was
about half of the controllers' event loop (issue 14's profile), and a
controller process's loop is what bounds how fast reconciles go. aiohttp's
client does the same HTTP/1.1 with a C parser and asyncio's TLS; on the
embedded cluster a GET costs about 0.23 ms of CPU (client and server in one
process) against 0.63 ms through httpx's own transport.

`AiohttpTransport` keeps httpx above it (auth flows such as token files and
exec plugins, redirects, the same `Response` objects and exception classes)
and replaces only the network part: connection pool, TLS (the kubeconfig's
CA and client certificate, in the `ssl.SSLContext` lightkube builds),
request and response framing. Responses stream: a watch yields each chunk
as it arrives, and closing it early closes its connection. Content is left
encoded (httpx decodes ``Content-Encoding`` itself); aiohttp's errors become
the httpx ones callers catch (`httpx2.ConnectError`, `ConnectTimeout`,
`ReadTimeout`, `RemoteProtocolError`, `ReadError`), chained so the
underlying cause (refused connection, untrusted certificate) stays visible.

Long-running processes use it (``sluice controllers run``, ``sluice up``
with ``--controllers-over-https``: `sluice.kube.config.connect` with
``fast_http``); short CLI commands keep httpx's default, which imports faster. Proxies from the environment still go through
httpx's own proxy transports (httpx mounts them ahead of this one).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx2
from yarl import URL

__all__ = ["AiohttpTransport"]

# Matches kube.config's pool: every request of the process shares it.
MAX_CONNECTIONS = 100


class _Body(httpx2.AsyncByteStream):
    """A response body read from aiohttp as it arrives."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx2.ReadTimeout(str(exc) or "timed out reading the response") from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx2.RemoteProtocolError(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise httpx2.ReadError(str(exc) or type(exc).__name__) from exc
        self._done = True

    async def aclose(self) -> None:
        if self._done:
            self._response.release()  # read to the end: the connection goes back to the pool
        else:
            self._response.close()  # a watch closed early: its connection cannot be reused


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """httpx requests sent with one aiohttp session (created on first use, on the loop)."""

    def __init__(self, verify: ssl.SSLContext | bool = True,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self._ssl = verify  # a context, True (system CAs) or False (no verification)
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_for_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # An aiohttp session belongs to one loop; a client reused from another one
            # (tests, `asyncio.run` called twice) gets a fresh pool there.
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=0,
                                             ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=(
                    "User-Agent", "Accept-Encoding", "Content-Type"), trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None))
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        session = self._session_for_loop()
        limits: dict[str, float | None] = request.extensions.get("timeout") or {}
        timeout = aiohttp.ClientTimeout(total=None, connect=limits.get("pool"),
                                        sock_connect=limits.get("connect"),
                                        sock_read=limits.get("read"))
        body = await request.aread()
        try:
            response = await session.request(
                request.method, URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(), data=body or None,
                allow_redirects=False, timeout=timeout, compress=None)
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx2.ConnectTimeout(str(exc) or "timed out connecting") from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx2.ReadTimeout(str(exc) or "timed out waiting for the response") from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx2.ConnectError(str(exc)) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise httpx2.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise httpx2.ReadError(str(exc) or type(exc).__name__) from exc
        return httpx2.Response(response.status, headers=list(response.raw_headers),
                               stream=_Body(response), request=request,
                               extensions={"http_version": b"HTTP/1.1",
                                           "reason_phrase": (response.reason or "").encode()})

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            try:
                await self._session.close()
            except RuntimeError:
                pass  # its loop is gone: nothing left to close on it
        self._session = None
