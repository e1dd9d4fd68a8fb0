"""A host that accepts TCP connections and never says a word: the classic stuck remote.

An SSH or HTTPS client connecting to it blocks reading the server's first
bytes (the SSH banner, the TLS handshake) until its own deadline. Tests and
benchmarks use it to check that such a remote costs only its own object its
`spec.timeout`, and that the client really closes the connection then:
`open_connections` counts the connections the client has not closed yet.
"""

from __future__ import annotations

import asyncio

from sluice.core.lifecycle import AsyncService

__all__ = ["SilentHost"]


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
