"""A host that accepts TCP connections and never says a word: the classic stuck remote.

An SSH or HTTPS client connecting to it blocks reading the server's first
bytes (the SSH banner, the TLS handshake) until its own deadline. Tests and
benchmarks use it to check that such a remote costs only its own object its
`spec.timeout`, and that the client really closes the connection then:
`open_connections` counts the connections the client has not closed yet.

`TricklingHost` is the subtler one: it answers ``200 OK`` to any HTTP
request, promises a large body and then sends one byte now and then, so a
client whose timeout bounds each read (httpx's) never times out; only a
deadline for the whole call ends it.
"""

from __future__ import annotations

import asyncio

from sluice.core.lifecycle import AsyncService

__all__ = ["SilentHost", "TricklingHost"]


class SilentHost(AsyncService):
    """Listens on 127.0.0.1; every connection is held open and never answered."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.accepted = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def ssh_url(self, path: str = "repo.git") -> str:
        return f"ssh://git@{self.host}:{self.port}/{path}"

    def known_hosts(self, public_key: str) -> str:
        """A known_hosts line pinning `public_key` for this host (never checked: no banner)."""
        return f"[{self.host}]:{self.port} {public_key}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._hold, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._open.add(writer)
        try:
            while await reader.read(65536):
                pass  # swallow whatever the client says; answer nothing
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.close()
            await self._server.wait_closed()
            self._server = None


class TricklingHost(SilentHost):
    """Answers every HTTP request ``200`` and a body of one byte every `every` seconds."""

    def __init__(self, host: str = "127.0.0.1", every: float = 0.2) -> None:
        super().__init__(host)
        self.every = every

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._open.add(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000000\r\n\r\n")
            while True:
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(self.every)  # the trickle itself, not a synchronisation
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()
