"""A UI server on the session's embedded cluster, and an HTTP client logged in to it.

The UI runs on the test's event loop and reads the cluster over HTTPS like any
client; tests act on the cluster with `Objects` and watch the UI answer.
No controller runs here: where a test needs one, it writes the status a
controller would (that is all the UI ever sees of controllers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice.kube.config import Connection, connect
from sluice.kube.objects import Obj, Objects
from sluice.ui.server import UIServer

KS_API = "kustomize.toolkit.fluxcd.io/v1"
GIT_API = "source.toolkit.fluxcd.io/v1"


class UI:
    def __init__(self, server: UIServer, client: httpx.AsyncClient, objects: Objects) -> None:
        self.server = server
        self.client = client
        self.objects = objects

    async def page(self, path: str) -> str:
        resp = await self.client.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
        return resp.text

    async def create(self, api_version: str, kind: str, obj: Obj) -> Obj:
        mapping = await self.objects.mapping(api_version, kind)
        return await self.objects.create(mapping, obj)

    async def set_status(self, api_version: str, kind: str, namespace: str, name: str,
                         status: dict[str, Any]) -> Obj:
        mapping = await self.objects.mapping(api_version, kind)
        return await self.objects.patch_status(mapping, name, {"status": status}, namespace)


def ready(status: str, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"observedGeneration": 1, "conditions": [{
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-12-06T10:00:00Z", "observedGeneration": 1}], **extra}


def kustomization(name: str, namespace: str, source: str = "apps",
                  depends_on: list[str] | None = None) -> Obj:
    spec: dict[str, Any] = {"interval": "10m", "path": "./", "prune": True,
                            "sourceRef": {"kind": "GitRepository", "name": source}}
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    return {"apiVersion": KS_API, "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def git_repository(name: str, namespace: str) -> Obj:
    return {"apiVersion": GIT_API, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "1m", "url": "https://example.com/apps.git",
                     "ref": {"branch": "main"}}}


async def _server(kubeconfig: Path, read_only: bool) -> AsyncIterator[tuple[UIServer, Connection]]:
    conn = connect(kubeconfig)
    server = UIServer(conn, "127.0.0.1", 0, read_only=read_only)
    await server.start()
    try:
        yield server, conn
    finally:
        await server.close()
        await conn.aclose()


async def _logged_in(server: UIServer) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=server.url.rstrip("/"), timeout=10)
    resp = await client.get(f"/?token={server.security.token}")
    assert resp.status_code == 303
    return client


@pytest.fixture
async def ui(kubeconfig: Path) -> AsyncIterator[UI]:
    async for server, conn in _server(kubeconfig, read_only=False):
        client = await _logged_in(server)
        try:
            yield UI(server, client, Objects(conn))
        finally:
            await client.aclose()


@pytest.fixture
async def read_only_ui(kubeconfig: Path) -> AsyncIterator[UI]:
    async for server, conn in _server(kubeconfig, read_only=True):
        client = await _logged_in(server)
        try:
            yield UI(server, client, Objects(conn))
        finally:
            await client.aclose()
