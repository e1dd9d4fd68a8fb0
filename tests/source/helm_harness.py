"""A harness running the source controllers for Helm/OCI tests against the embedded cluster."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.kube.config import connect
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.polling import async_wait_for

API = "source.toolkit.fluxcd.io/v1"
KINDS = ("HelmRepository", "HelmChart", "OCIRepository", "GitRepository")


def condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return None


@dataclass
class Sources:
    objects: Objects
    mappings: dict[str, ResourceMapping]
    secrets: ResourceMapping
    events: ResourceMapping
    namespace: str
    storage: Storage

    async def create(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        body: Obj = {"apiVersion": API, "kind": kind,
                     "metadata": {"name": name, "namespace": self.namespace},
                     "spec": {"interval": "1h", **spec}}
        await self.objects.create(self.mappings[kind], body)

    async def secret(self, name: str, data: dict[str, str | bytes], type_: str = "Opaque"
                     ) -> None:
        encoded = {k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
                   for k, v in data.items()}
        body: Obj = {"apiVersion": "v1", "kind": "Secret", "type": type_,
                     "metadata": {"name": name, "namespace": self.namespace}, "data": encoded}
        existing = await self.objects.get_or_none(self.secrets, name, self.namespace)
        if existing is None:
            await self.objects.create(self.secrets, body)
        else:
            await self.objects.merge_patch(self.secrets, name, {"data": encoded}, self.namespace)

    async def get(self, kind: str, name: str) -> Obj:
        return await self.objects.get(self.mappings[kind], name, self.namespace)

    async def patch(self, kind: str, name: str, patch: Obj) -> None:
        await self.objects.merge_patch(self.mappings[kind], name, patch, self.namespace)

    async def request(self, kind: str, name: str, value: str) -> None:
        await self.patch(kind, name,
                         {"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: value}}})

    async def wait(self, kind: str, name: str, check: Callable[[Obj], bool], what: str,
                   within: float = 30.0) -> Obj:
        async def probe() -> Obj | None:
            obj = await self.get(kind, name)
            return obj if check(obj) else None

        result: Obj = await async_wait_for(probe, timeout=within, what=f"{name}: {what}")
        return result

    async def ready(self, kind: str, name: str, revision: str | None = None) -> Obj:
        def check(obj: Obj) -> bool:
            ready = condition(obj, "Ready")
            art = (obj.get("status") or {}).get("artifact") or {}
            return (ready is not None and ready["status"] == "True"
                    and (revision is None or art.get("revision") == revision)
                    and (obj.get("status") or {}).get("observedGeneration")
                    == obj["metadata"].get("generation"))

        return await self.wait(kind, name, check, f"Ready=True {revision or ''}")

    async def failed(self, kind: str, name: str, reason: str) -> Obj:
        def check(obj: Obj) -> bool:
            ready = condition(obj, "Ready")
            return ready is not None and ready["status"] == "False" and ready["reason"] == reason

        return await self.wait(kind, name, check, f"Ready=False {reason}")

    async def handled(self, kind: str, name: str, value: str) -> Obj:
        return await self.wait(kind, name, lambda o: (o.get("status") or {}).get(
            "lastHandledReconcileAt") == value, f"handled {value}")

    async def event_list(self, kind: str, name: str) -> list[Obj]:
        items, _ = await self.objects.list(self.events, self.namespace)
        return [e for e in items if e["involvedObject"]["name"] == name
                and e["involvedObject"]["kind"] == kind]

    async def download(self, url: str) -> bytes:
        async with httpx.AsyncClient() as http:
            resp = await http.get(url)
            resp.raise_for_status()
            return resp.content


Setup = Callable[[Manager, Storage], Awaitable[object]]


@contextlib.asynccontextmanager
async def running_sources(kubeconfig: Path, namespace: str, tmp_path: Path,
                          setups: Sequence[Setup], kinds: Sequence[str], *,
                          concurrent: int = 2, cleanup: bool = True) -> AsyncIterator[Sources]:
    """Source controllers watching `namespace`, an artifact server, and `Sources` over `kinds`.

    With `cleanup`, the test's objects of `kinds` are deleted at the end and their
    finalizers waited for, so no reconcile outlives the controllers.
    """
    conn = connect(kubeconfig, field_manager="pytest")
    (tmp_path / "artifacts").mkdir()
    server = ArtifactServer(tmp_path / "artifacts", "127.0.0.1", 0)
    await server.start()
    storage = Storage(tmp_path / "artifacts", server.address)
    manager = Manager(conn, ManagerOptions(watch_namespace=namespace, metrics_addr=None,
                                           concurrent=concurrent))
    try:
        for setup in setups:
            await setup(manager, storage)
        await manager.start()
        objects = manager.objects
        mappings = {kind: await objects.mapping(API, kind) for kind in kinds}
        yield Sources(objects, mappings, await objects.mapping("v1", "Secret"),
                      await objects.mapping("v1", "Event"), namespace, storage)
        if cleanup:
            for mapping in mappings.values():
                for item in (await objects.list(mapping, namespace))[0]:
                    await objects.delete(mapping, item["metadata"]["name"], namespace)

            async def all_gone() -> bool:
                for mapping in mappings.values():
                    if (await objects.list(mapping, namespace))[0]:
                        return False
                return True

            await async_wait_for(all_gone, what="sources to be finalized")
    finally:
        await manager.shutdown()
        await server.close()
        await conn.aclose()
