"""Controllers in-process against the session's embedded cluster, and helpers to drive them.

`Flux` starts the real GitRepository and Kustomization controllers (manager,
informers, queues, artifact server) as tasks of the test's event loop, with
short waits, and offers what a user does: apply YAML, annotate for a
reconcile, read objects, events and conditions, and wait for them.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.reconciler import KustomizationOptions
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.kube.config import connect
from sluice.kube.errors import is_not_found
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

KS_API = "kustomize.toolkit.fluxcd.io/v1"
GIT_API = "source.toolkit.fluxcd.io/v1"


def condition(obj: Obj | None, type_: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def ready_status(obj: Obj | None) -> tuple[str, str, str] | None:
    """(status, reason, message) of Ready, or None."""
    cond = condition(obj, "Ready")
    if cond is None:
        return None
    return cond["status"], cond["reason"], cond["message"]


@dataclass
class Flux:
    objects: Objects
    manager: Manager
    storage: Storage

    async def mapping(self, api_version: str, kind: str) -> Any:
        return await self.objects.mapping(api_version, kind)

    async def apply(self, text: str, namespace: str | None = None) -> list[Obj]:
        """Create (or replace the spec of) every object in a YAML text."""
        out = []
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            m = await self.mapping(doc["apiVersion"], doc["kind"])
            meta = doc.setdefault("metadata", {})
            if namespace and m.namespaced:
                meta.setdefault("namespace", namespace)
            existing = await self.objects.get_or_none(m, meta["name"], meta.get("namespace"))
            if existing is None:
                out.append(await self.objects.create(m, doc))
            else:
                patch = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind",
                                                                   "metadata")}
                out.append(await self.objects.merge_patch(m, meta["name"], patch,
                                                          meta.get("namespace")))
        return out

    async def secret(self, namespace: str, name: str, data: dict[str, str | bytes]) -> None:
        encoded = {k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
                   for k, v in data.items()}
        await self.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                         "metadata": {"name": name, "namespace": namespace},
                                         "data": encoded}))

    async def get(self, api_version: str, kind: str, namespace: str | None,
                  name: str) -> Obj | None:
        m = await self.mapping(api_version, kind)
        return await self.objects.get_or_none(m, name, namespace)

    async def ks(self, namespace: str, name: str) -> Obj | None:
        return await self.get(KS_API, "Kustomization", namespace, name)

    async def patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                    patch: Obj) -> Obj:
        m = await self.mapping(api_version, kind)
        return await self.objects.merge_patch(m, name, patch, namespace)

    async def delete(self, api_version: str, kind: str, namespace: str | None,
                     name: str) -> None:
        m = await self.mapping(api_version, kind)
        try:
            await self.objects.delete(m, name, namespace)
        except Exception as exc:
            if not is_not_found(exc):
                raise

    async def request_reconcile(self, api_version: str, kind: str, namespace: str,
                                name: str) -> str:
        """What ``flux reconcile`` does: set reconcile.fluxcd.io/requestedAt."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await self.patch(api_version, kind, namespace, name,
                         {"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: stamp}}})
        return stamp

    async def reconcile_source(self, namespace: str, name: str) -> Obj:
        """``flux reconcile source git``: request, then wait until it was handled."""
        stamp = await self.request_reconcile(GIT_API, "GitRepository", namespace, name)
        return await self.wait_for(
            lambda: self.get(GIT_API, "GitRepository", namespace, name),
            lambda o: (o.get("status") or {}).get("lastHandledReconcileAt") == stamp,
            f"GitRepository {namespace}/{name} handled {stamp}")

    async def reconcile_ks(self, namespace: str, name: str) -> Obj:
        """``flux reconcile ks``: request, then wait until handled and no longer reconciling."""
        stamp = await self.request_reconcile(KS_API, "Kustomization", namespace, name)
        return await self.wait_for(
            lambda: self.ks(namespace, name),
            lambda o: (((o.get("status") or {}).get("lastHandledReconcileAt") == stamp
                        and condition(o, "Reconciling") is None)
                       or (ready_status(o) or ("",))[0] == "False"),
            f"Kustomization {namespace}/{name} handled {stamp}")

    async def wait_for(self, fetch: Callable[[], Any], check: Callable[[Any], bool], what: str,
                       limit: float = 30.0) -> Any:
        last: list[Any] = [None]

        async def probe() -> Any:
            value = await fetch()
            last[0] = value
            return value if value is not None and check(value) else None

        try:
            return await async_wait_for(probe, timeout=limit, interval=0.05, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast seen: {yaml.safe_dump(last[0])}") from None

    async def wait_ks(self, namespace: str, name: str, status: str, reason: str | None = None,
                      revision: str | None = None, limit: float = 30.0) -> Obj:
        """Wait for the Kustomization's Ready condition (and, optionally, its applied revision)."""
        def check(o: Obj) -> bool:
            r = ready_status(o)
            if r is None or r[0] != status or (reason is not None and r[1] != reason):
                return False
            if revision is None:
                return True
            st = o.get("status") or {}
            key = "lastAppliedRevision" if status == "True" else "lastAttemptedRevision"
            return bool(st.get(key) == revision)

        result: Obj = await self.wait_for(lambda: self.ks(namespace, name), check,
                                          f"Kustomization {namespace}/{name} Ready={status} "
                                          f"{reason or ''} {revision or ''}", limit)
        return result

    async def events(self, namespace: str, kind: str, name: str) -> list[Obj]:
        m = await self.mapping("v1", "Event")
        items, _ = await self.objects.list(m, namespace)
        found = [e for e in items if e["involvedObject"].get("kind") == kind
                 and e["involvedObject"].get("name") == name]
        return sorted(found, key=lambda e: (e.get("lastTimestamp") or "",
                                            e["metadata"]["name"]))

    async def messages(self, namespace: str, kind: str, name: str) -> list[str]:
        return [e["message"] for e in await self.events(namespace, kind, name)]


def fast_options(**overrides: Any) -> KustomizationOptions:
    base: dict[str, Any] = {"health_poll": 0.2, "requeue_dependency": 1.0,
                            "artifact_retry_wait": 0.05, "min_timeout": 5.0}
    base.update(overrides)
    return KustomizationOptions(**base)


@pytest.fixture
async def flux(kubeconfig: Path, tmp_path: Path) -> AsyncIterator[Flux]:
    """Source and Kustomization controllers watching every namespace."""
    async with start_flux(kubeconfig, tmp_path) as harness:
        yield harness


class start_flux:
    """``async with start_flux(kubeconfig, tmp) as flux``: the controllers, started and stopped."""

    def __init__(self, kubeconfig: Path, tmp_path: Path, namespace: str | None = None,
                 options: KustomizationOptions | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.tmp_path = tmp_path
        self.namespace = namespace
        self.options = options or fast_options()

    async def __aenter__(self) -> Flux:
        self.conn = connect(self.kubeconfig, field_manager="pytest")
        store = self.tmp_path / "artifacts"
        store.mkdir(exist_ok=True)
        self.server = ArtifactServer(store, "127.0.0.1", 0)
        await self.server.start()
        storage = Storage(store, self.server.address)
        self.manager = Manager(self.conn, ManagerOptions(watch_namespace=self.namespace,
                                                         metrics_addr=None, concurrent=4))
        await setup_gitrepository_controller(self.manager, storage)
        await setup_kustomization_controller(self.manager, self.options)
        await self.manager.start()
        return Flux(self.manager.objects, self.manager, storage)

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.manager.shutdown()
        finally:
            await self.server.close()
            await self.conn.aclose()


@pytest.fixture
async def git(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    """A smart-HTTP Git server on loopback for the test's repositories."""
    async with GitHTTPServer(tmp_path / "git") as srv:
        yield srv


@pytest.fixture
async def local(kubeconfig: Path, tmp_path: Path, namespace: str) -> AsyncIterator[Flux]:
    """Controllers watching only the test's namespace."""
    async with start_flux(kubeconfig, tmp_path, namespace) as flux:
        yield flux
