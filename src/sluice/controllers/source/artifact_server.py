"""HTTP file server for stored artifacts (`GET /<kind>/<ns>/<name>/<file>`).

Appliers download `status.artifact.url`, which points here, as Flux's
source-controller serves its storage directory. Only files below the storage
root are served: paths with `.`, `..` or empty segments (also when
percent-encoded) get 400, anything that resolves outside the root through a
symlink gets 404, like a missing file. Archives go out as
`application/gzip` bytes with no `Content-Encoding`, so HTTP clients never
transparently inflate them and the downloaded bytes match the recorded
digest.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

from sluice.core.lifecycle import AsyncService

__all__ = ["ArtifactServer", "artifact_app"]

_CONTENT_TYPES = {".gz": "application/gzip", ".tgz": "application/gzip"}


def _resolve(base: str, segments: list[str]) -> str | None:
    """The real file for `segments` below `base`, or None (a quick local stat)."""
    real = os.path.realpath(os.path.join(base, *segments))
    if not real.startswith(base + os.sep) or not os.path.isfile(real):
        return None
    return real


def artifact_app(root: Path) -> web.Application:
    """An aiohttp application serving the files below `root`."""
    base = os.path.realpath(root)

    async def serve(request: web.Request) -> web.StreamResponse:
        raw = request.match_info["path"]
        segments = raw.split("/")
        if any(seg in ("", ".", "..") or "\\" in seg or "\x00" in seg for seg in segments):
            raise web.HTTPBadRequest(text="invalid artifact path\n")
        real = _resolve(base, segments)
        if real is None:
            raise web.HTTPNotFound(text="artifact not found\n")
        content_type = _CONTENT_TYPES.get(Path(real).suffix, "application/octet-stream")
        return web.FileResponse(real, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/{path:.+}", serve)
    return app


class ArtifactServer(AsyncService):
    """`artifact_app` bound to `host:port` (0 picks a free port)."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """`host:port`, the value for `Storage(advertised_address=...)`."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(artifact_app(self.root), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
