"""The HelmRelease controller in-process against the session cluster, with a chart source.

`ChartSource` serves chart archives over loopback HTTP and plays the source
controller's part for the HelmCharts the HelmRelease controller generates:
it resolves ``spec.version`` against the archives it holds (Masterminds
ranges, `sluice.core.semver`) and writes the HelmChart's status as
source-controller does (Ready, ``observedGeneration``, an artifact with the
chart version as revision and the archive's ``sha256:`` digest). Tests that
need the real HelmRepository/HelmChart controllers use those instead.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.controllers.helmrelease.controller import setup_helmrelease_controller
from sluice.controllers.helmrelease.reconciler import HelmReleaseOptions
from sluice.core.semver import latest
from sluice.kube.config import connect
from sluice.kube.errors import is_not_found
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.polling import async_wait_for

HR_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"


def condition(obj: Obj | None, type_: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


@dataclass
class ChartSource:
    objects: Objects
    namespace: str
    archives: dict[str, dict[str, Path]] = field(default_factory=dict)
    runner: web.AppRunner | None = None
    port: int = 0
    task: asyncio.Task[None] | None = None

    def add(self, archive: Path) -> None:
        name, _, version = archive.name[:-4].rpartition("-")
        self.archives.setdefault(name, {})[version] = archive

    async def start(self) -> None:
        app = web.Application()

        async def serve(request: web.Request) -> web.StreamResponse:
            for charts in self.archives.values():
                for path in charts.values():
                    if path.name == request.match_info["file"]:
                        return web.FileResponse(path)
            return web.Response(status=404)

        app.router.add_get("/{file}", serve)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()

    async def _loop(self) -> None:
        m = await self.objects.mapping(SOURCE_API, "HelmChart")
        while True:
            items, _ = await self.objects.list(m, self.namespace)
            for chart in items:
                await self._publish(m, chart)
            await asyncio.sleep(0.1)

    async def _publish(self, m: Any, chart: Obj) -> None:
        spec, meta = chart["spec"], chart["metadata"]
        versions = self.archives.get(spec["chart"], {})
        version = latest(list(versions), spec.get("version") or "*")
        status = chart.get("status") or {}
        if version is None:
            return
        path = versions[version]
        digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        art = status.get("artifact") or {}
        if art.get("digest") == digest and status.get("observedGeneration") == \
                meta.get("generation"):
            return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        new_status = {
            "observedGeneration": meta.get("generation"),
            "conditions": [{"type": "Ready", "status": "True", "reason": "ChartPullSucceeded",
                            "message": f"pulled '{spec['chart']}' chart with version "
                                       f"'{version}'", "lastTransitionTime": now,
                            "observedGeneration": meta.get("generation")}],
            "artifact": {"path": f"helmchart/{path.name}", "revision": version,
                         "url": f"http://127.0.0.1:{self.port}/{path.name}", "digest": digest,
                         "lastUpdateTime": now, "size": path.stat().st_size},
        }
        await self.objects.patch_status(m, meta["name"], {"status": new_status},
                                        meta["namespace"])


@dataclass
class Helm:
    objects: Objects
    namespace: str
    source: ChartSource

    async def mapping(self, api_version: str, kind: str) -> Any:
        return await self.objects.mapping(api_version, kind)

    async def apply(self, text: str) -> None:
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            m = await self.mapping(doc["apiVersion"], doc["kind"])
            meta = doc.setdefault("metadata", {})
            if m.namespaced:
                meta.setdefault("namespace", self.namespace)
            existing = await self.objects.get_or_none(m, meta["name"], meta.get("namespace"))
            if existing is None:
                await self.objects.create(m, doc)
            else:
                patch = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind",
                                                                   "metadata")}
                await self.objects.merge_patch(m, meta["name"], patch, meta.get("namespace"))

    async def get(self, api_version: str, kind: str, name: str,
                  namespace: str | None = None) -> Obj | None:
        m = await self.mapping(api_version, kind)
        ns = namespace if namespace is not None else (self.namespace if m.namespaced else None)
        return await self.objects.get_or_none(m, name, ns)

    async def hr(self, name: str) -> Obj | None:
        return await self.get(HR_API, "HelmRelease", name)

    async def patch(self, api_version: str, kind: str, name: str, patch: Obj) -> Obj:
        m = await self.mapping(api_version, kind)
        return await self.objects.merge_patch(m, name, patch, self.namespace)

    async def delete(self, api_version: str, kind: str, name: str) -> None:
        m = await self.mapping(api_version, kind)
        try:
            await self.objects.delete(m, name, self.namespace)
        except Exception as exc:
            if not is_not_found(exc):
                raise

    async def annotate(self, name: str, *keys: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        annotations = {k: stamp for k in (RECONCILE_REQUEST_ANNOTATION, *keys)}
        await self.patch(HR_API, "HelmRelease", name, {"metadata": {"annotations": annotations}})
        return stamp

    async def wait_for(self, fetch: Any, check: Any, what: str, limit: float = 60.0) -> Any:
        last: list[Any] = [None]

        async def probe() -> Any:
            value = await fetch()
            last[0] = value
            return value if value is not None and check(value) else None

        try:
            return await async_wait_for(probe, timeout=limit, interval=0.1, what=what)
        except AssertionError as exc:
            shown = yaml.safe_dump((last[0] or {}).get("status")) if isinstance(last[0], dict) \
                else last[0]
            raise AssertionError(f"{exc}\nlast seen status: {shown}") from None

    async def wait_hr(self, name: str, status: str, reason: str | None = None, *,
                      message: str | None = None, limit: float = 60.0) -> Obj:
        def check(o: Obj) -> bool:
            r = condition(o, "Ready")
            if r is None or r["status"] != status:
                return False
            if reason is not None and r["reason"] != reason:
                return False
            if message is not None and message not in r["message"]:
                return False
            return condition(o, "Reconciling") is None or status == "False"

        result: Obj = await self.wait_for(lambda: self.hr(name), check,
                                          f"HelmRelease {name} Ready={status} {reason or ''}",
                                          limit)
        return result

    async def events(self, kind: str, name: str) -> list[Obj]:
        m = await self.mapping("v1", "Event")
        items, _ = await self.objects.list(m, self.namespace)
        found = [e for e in items if e["involvedObject"].get("kind") == kind
                 and e["involvedObject"].get("name") == name]
        return sorted(found, key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"]))

    async def messages(self, name: str) -> list[str]:
        return [e["message"] for e in await self.events("HelmRelease", name)]


def fast_options() -> HelmReleaseOptions:
    return HelmReleaseOptions(requeue_dependency=1.0, source_retry=0.5, http_retry=2)


@pytest.fixture
async def helm_env(kubeconfig: Path, namespace: str) -> AsyncIterator[Helm]:
    """The HelmRelease controller and a chart source for the test's namespace."""
    conn = connect(kubeconfig, field_manager="pytest")
    manager = Manager(conn, ManagerOptions(watch_namespace=namespace, metrics_addr=None,
                                           concurrent=4))
    await setup_helmrelease_controller(manager, fast_options())
    await manager.start()
    source = ChartSource(manager.objects, namespace)
    await source.start()
    try:
        yield Helm(manager.objects, namespace, source)
    finally:
        await source.stop()
        await manager.shutdown()
        await conn.aclose()


@dataclass
class Seed(Helm):
    """`Helm` with the real source controllers and a Helm repository on loopback."""

    repo: Any = None


@pytest.fixture
async def seed_env(kubeconfig: Path, namespace: str, tmp_path: Path) -> AsyncIterator[Seed]:
    """HelmRepository, HelmChart and HelmRelease controllers and a fixture Helm repository."""
    from sluice.controllers.source.artifact_server import ArtifactServer
    from sluice.controllers.source.artifacts import Storage
    from sluice.controllers.source.helmchart import setup_helmchart_controller
    from sluice.controllers.source.helmrepository import setup_helmrepository_controller
    from sluice.testing.helmrepo import HelmRepoServer

    conn = connect(kubeconfig, field_manager="pytest")
    store = tmp_path / "artifacts"
    store.mkdir()
    server = ArtifactServer(store, "127.0.0.1", 0)
    await server.start()
    storage = Storage(store, server.address)
    manager = Manager(conn, ManagerOptions(watch_namespace=namespace, metrics_addr=None,
                                           concurrent=4))
    await setup_helmrepository_controller(manager, storage)
    await setup_helmchart_controller(manager, storage)
    await setup_helmrelease_controller(manager, fast_options())
    await manager.start()
    repo = HelmRepoServer(tmp_path / "repo")
    await repo.start()
    try:
        yield Seed(manager.objects, namespace, ChartSource(manager.objects, namespace), repo)
    finally:
        await repo.close()
        await manager.shutdown()
        await server.close()
        await conn.aclose()


@pytest.fixture
async def oci_env(kubeconfig: Path, namespace: str, tmp_path: Path) -> AsyncIterator[Helm]:
    """The real OCIRepository controller (with its artifact server) and the HelmRelease one."""
    from sluice.controllers.source.artifact_server import ArtifactServer
    from sluice.controllers.source.artifacts import Storage
    from sluice.controllers.source.ocirepository import setup_ocirepository_controller

    conn = connect(kubeconfig, field_manager="pytest")
    store = tmp_path / "artifacts"
    store.mkdir()
    server = ArtifactServer(store, "127.0.0.1", 0)
    await server.start()
    manager = Manager(conn, ManagerOptions(watch_namespace=namespace, metrics_addr=None,
                                           concurrent=4))
    await setup_ocirepository_controller(manager, Storage(store, server.address))
    await setup_helmrelease_controller(manager, fast_options())
    await manager.start()
    try:
        yield Helm(manager.objects, namespace, ChartSource(manager.objects, namespace))
    finally:
        await manager.shutdown()
        await server.close()
        await conn.aclose()
