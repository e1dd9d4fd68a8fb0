"""Downloading artifacts: digest checks, retries, 404s and hostile tarballs."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from sluice.controllers.kustomization.artifact_cache import ArtifactCache
from sluice.controllers.kustomization.fetch import (
    ArtifactFetchError,
    ArtifactNotFound,
    fetch_artifact,
)


def tarball(members: dict[str, bytes], *, link: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            tar.addfile(info)
    return buf.getvalue()


GOOD = tarball({"apps/deploy.yaml": b"kind: Deployment\n", "README.md": b"hi\n"})
EVIL = tarball({"../escape.yaml": b"kind: Secret\n"})
LINK = tarball({"a.yaml": b"x: 1\n"}, link=("etc", "/etc"))


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Server:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.extra: dict[str, bytes] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if name == "good.tar.gz":
            return web.Response(body=GOOD)
        if name in self.extra:
            return web.Response(body=self.extra[name])
        if name == "evil.tar.gz":
            return web.Response(body=EVIL)
        if name == "link.tar.gz":
            return web.Response(body=LINK)
        if name == "flaky.tar.gz" and self.hits[name] > 2:
            return web.Response(body=GOOD)
        if name in ("flaky.tar.gz", "broken.tar.gz"):
            return web.Response(status=503)
        if name == "forbidden.tar.gz":
            return web.Response(status=403)
        return web.Response(status=404)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_get("/{name}", srv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    srv.url = f"http://127.0.0.1:{port}"
    try:
        yield srv
    finally:
        await runner.cleanup()


async def test_verified_artifact_is_extracted(server: Server, tmp_path: Path) -> None:
    count = await fetch_artifact(f"{server.url}/good.tar.gz", digest(GOOD), tmp_path / "out")
    assert count == 2
    assert (tmp_path / "out/apps/deploy.yaml").read_text() == "kind: Deployment\n"
    # The downloaded tarball is not left behind.
    assert os.listdir(tmp_path) == ["out"]


async def test_digest_mismatch_extracts_nothing(server: Server, tmp_path: Path) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ArtifactFetchError) as err:
        await fetch_artifact(f"{server.url}/good.tar.gz", wrong, tmp_path / "out")
    assert err.value.message == f"failed to verify artifact: computed digest doesn't match '{wrong}'"
    assert os.listdir(tmp_path / "out") == []


async def test_other_digest_algorithms(server: Server, tmp_path: Path) -> None:
    sha512 = "sha512:" + hashlib.sha512(GOOD).hexdigest()
    await fetch_artifact(f"{server.url}/good.tar.gz", sha512, tmp_path / "a")
    with pytest.raises(ArtifactFetchError) as err:
        await fetch_artifact(f"{server.url}/good.tar.gz", "md5:abc", tmp_path / "b")
    assert "unsupported digest algorithm 'md5'" in err.value.message


async def test_missing_artifact_is_not_retried(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound) as err:
        await fetch_artifact(f"{server.url}/gone.tar.gz", None, tmp_path / "out",
                             retry_wait=0.01)
    assert "status: 404 Not Found" in err.value.message
    assert server.hits["gone.tar.gz"] == 1


async def test_server_errors_are_retried(server: Server, tmp_path: Path) -> None:
    await fetch_artifact(f"{server.url}/flaky.tar.gz", digest(GOOD), tmp_path / "out",
                         retry_wait=0.01)
    assert server.hits["flaky.tar.gz"] == 3
    with pytest.raises(ArtifactFetchError) as err:
        await fetch_artifact(f"{server.url}/broken.tar.gz", None, tmp_path / "b", retries=2,
                             retry_wait=0.01)
    assert server.hits["broken.tar.gz"] == 3
    assert "status: 503 Service Unavailable" in err.value.message
    with pytest.raises(ArtifactFetchError):
        await fetch_artifact(f"{server.url}/forbidden.tar.gz", None, tmp_path / "c",
                             retry_wait=0.01)
    assert server.hits["forbidden.tar.gz"] == 1


async def test_unreachable_server(tmp_path: Path) -> None:
    with pytest.raises(ArtifactFetchError) as err:
        await fetch_artifact("http://127.0.0.1:9/x.tar.gz", None, tmp_path / "out", retries=1,
                             retry_wait=0.01)
    assert err.value.message.startswith("failed to download archive from "
                                        "http://127.0.0.1:9/x.tar.gz, error:")


@pytest.mark.parametrize("name", ["evil.tar.gz", "link.tar.gz"])
async def test_hostile_tarballs_are_refused(server: Server, tmp_path: Path, name: str) -> None:
    data = EVIL if name == "evil.tar.gz" else LINK
    with pytest.raises(ArtifactFetchError) as err:
        await fetch_artifact(f"{server.url}/{name}", digest(data), tmp_path / "out")
    assert err.value.message.startswith("failed to extract archive")
    assert not (tmp_path / "escape.yaml").exists()


async def test_cache_shares_one_download_per_digest(server: Server, tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache", retained=1, retry_wait=0.01)
    url = f"{server.url}/good.tar.gz"
    calls: list[int] = []

    async def build() -> Path:
        async with cache.use(url, digest(GOOD)) as art:
            art.memo("count", lambda: calls.append(1))
            return art.path

    paths = await asyncio.gather(*(build() for _ in range(5)))
    assert server.hits["good.tar.gz"] == 1
    assert len(set(paths)) == 1
    assert calls == [1]  # the memo is computed once per artifact
    assert (paths[0] / "apps/deploy.yaml").is_file()
    assert cache.has(url, digest(GOOD))

    # Another revision: the idle old one goes beyond `retained`, never one in use.
    other = tarball({"b.yaml": b"kind: ConfigMap\n"})
    server.extra["other.tar.gz"] = other
    async with cache.use(url, digest(GOOD)) as held:
        async with cache.use(f"{server.url}/other.tar.gz", digest(other)):
            pass
        assert held.path.is_dir()
    assert len(cache) == 1
    await cache.close()
    assert paths[0].name not in os.listdir(paths[0].parent)


async def test_cache_forgets_failed_downloads(server: Server, tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache", retry_wait=0.01)
    with pytest.raises(ArtifactFetchError):
        async with cache.use(f"{server.url}/good.tar.gz", "sha256:" + "0" * 64):
            pass
    assert len(cache) == 0
    async with cache.use(f"{server.url}/good.tar.gz", digest(GOOD)) as art:
        assert (art.path / "README.md").read_text() == "hi\n"
    await cache.close()
