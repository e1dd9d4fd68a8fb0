"""The plan on a Kustomization's page: the controller's build of the source's artifact, dry-run."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from sluice.testing.polling import async_wait_for

from .conftest import GIT_API, KS_API, UI, git_repository, kustomization, ready

MANIFESTS = {
    "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
                   "data:\n  mode: fast\n",
    "app/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n"
                       "stringData:\n  password: hunter2-very-secret\n",
}


def _tarball(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
async def artifact_url() -> AsyncIterator[tuple[str, str]]:
    """A source artifact served over HTTP, as the artifact server serves it."""
    body = _tarball(MANIFESTS)
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=body)

    app = web.Application()
    app.router.add_get("/gitrepository/apps.tar.gz", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield (f"http://127.0.0.1:{port}/gitrepository/apps.tar.gz",
               "sha256:" + hashlib.sha256(body).hexdigest())
    finally:
        await runner.cleanup()


async def test_plan_lists_what_would_change_with_secrets_masked(ui: UI, namespace: str,
                                                               artifact_url: tuple[str, str]
                                                               ) -> None:
    url, digest = artifact_url
    await ui.create(GIT_API, "GitRepository", git_repository("apps", namespace))
    await ui.set_status(GIT_API, "GitRepository", namespace, "apps", ready(
        "True", "Succeeded", "stored artifact", artifact={
            "revision": "main@sha1:" + "f" * 40, "digest": digest, "url": url,
            "path": "gitrepository/apps.tar.gz", "lastUpdateTime": "2026-12-06T10:00:00Z"}))
    ks = kustomization("apps", namespace)
    ks["spec"]["path"] = "./app"
    ks["spec"]["targetNamespace"] = namespace
    await ui.create(KS_API, "Kustomization", ks)

    async def plan() -> str:
        resp = await ui.client.get(f"/object/Kustomization/{namespace}/apps/plan")
        # 404 until the UI's informers have seen the Kustomization (a moment after it is written).
        return resp.text if resp.status_code == 200 else "No plan yet"

    async def ready_plan() -> str | None:
        # The UI's informers see the GitRepository, its status and the Kustomization a
        # moment after they are written, in any order: wait for the plan made from all three.
        text = await plan()
        return text if "would change the cluster" in text else None

    text = await async_wait_for(ready_plan, timeout=10, what="a plan")
    assert f"ConfigMap/{namespace}/settings created" in text
    assert f"Secret/{namespace}/creds created" in text
    # The live object drifts from Git: the plan names the field and both values.
    cms = await ui.objects.mapping("v1", "ConfigMap")
    await ui.objects.create(cms, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "settings", "namespace": namespace, "labels": {
            "kustomize.toolkit.fluxcd.io/name": "apps",
            "kustomize.toolkit.fluxcd.io/namespace": namespace}}, "data": {"mode": "slow"}})
    async def drifted() -> str | None:
        text = await plan()
        return text if f"ConfigMap/{namespace}/settings drifted" in text else None

    text = await async_wait_for(drifted, timeout=10, what="the drift in the plan")
    assert "data.mode" in text and "slow" in text and "fast" in text
    assert "hunter2" not in text  # Secret values never reach the page


async def test_plan_says_why_when_it_cannot_be_made(ui: UI, namespace: str) -> None:
    await ui.create(KS_API, "Kustomization", kustomization("orphan", namespace, source="none"))

    async def shown() -> str | None:
        resp = await ui.client.get(f"/object/Kustomization/{namespace}/orphan/plan")
        return resp.text if resp.status_code == 200 else None

    text = await async_wait_for(shown, timeout=10, what="the plan fragment")
    assert "No plan: source not found" in text
