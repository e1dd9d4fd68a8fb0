"""The notification controller in-process, with the source and kustomize controllers.

`Harness` starts a real manager against the session cluster with the
GitRepository, Kustomization and notification controllers, their event
server and receiver server on loopback ports, events forwarded in-process
(as under ``sluice up``), and a `WebhookSink` standing in for Discord and
the other providers. Helpers do what a user does: apply YAML, create
Secrets, post events, read Events on an Alert.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sluice.controllers.helmrelease.controller import setup_helmrelease_controller
from sluice.controllers.helmrelease.reconciler import HelmReleaseOptions
from sluice.controllers.image_reflector.controller import (
    ImageReflectorOptions,
    setup_image_reflector,
)
from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.reconciler import KustomizationOptions
from sluice.controllers.notification.controller import (
    NotificationController,
    NotificationOptions,
    setup_notification_controller,
)
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.kube.config import connect
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for
from sluice.testing.webhook_sink import WebhookSink

NOTIFICATION_API = "notification.toolkit.fluxcd.io/v1beta3"


@dataclass
class Harness:
    objects: Objects
    manager: Manager
    notification: NotificationController
    sink: WebhookSink

    @property
    def events_url(self) -> str:
        assert self.notification.event_server is not None
        return self.notification.event_server.url

    @property
    def receiver_url(self) -> str:
        assert self.notification.receiver_server is not None
        return self.notification.receiver_server.url

    async def apply(self, text: str, namespace: str | None = None) -> list[Obj]:
        out = []
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            m = await self.objects.mapping(doc["apiVersion"], doc["kind"])
            meta = doc.setdefault("metadata", {})
            if namespace and m.namespaced:
                meta["namespace"] = namespace
            existing = await self.objects.get_or_none(m, meta["name"], meta.get("namespace"))
            if existing is None:
                out.append(await self.objects.create(m, doc))
            else:
                patch = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
                out.append(await self.objects.merge_patch(m, meta["name"], patch,
                                                          meta.get("namespace")))
        return out

    async def secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        await self.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                         "metadata": {"name": name, "namespace": namespace},
                                         "data": encoded}))

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        m = await self.objects.mapping(api_version, kind)
        return await self.objects.get_or_none(m, name, namespace)

    async def wait_cached(self, kind: str, namespace: str, name: str) -> None:
        """Until the controller's informer sees the object (Alerts/Providers are read from it)."""
        informers = {i.mapping.kind: i for i in self.manager._informers.values()}
        informer = informers[kind]
        await async_wait_for(lambda: _async(informer.get(namespace, name) is not None),
                             timeout=10, what=f"{kind} {namespace}/{name} cached")

    async def events_on(self, namespace: str, kind: str, name: str) -> list[Obj]:
        m = await self.objects.mapping("v1", "Event")
        items, _ = await self.objects.list(m, namespace)
        return [e for e in items if e["involvedObject"].get("kind") == kind
                and e["involvedObject"].get("name") == name]

    async def wait_event(self, namespace: str, kind: str, name: str,
                         check: Callable[[Obj], bool], what: str) -> Obj:
        async def probe() -> Obj | None:
            return next((e for e in await self.events_on(namespace, kind, name) if check(e)),
                        None)

        found: Obj = await async_wait_for(probe, timeout=15, what=what)
        return found

    async def post_event(self, body: Any, raw: bytes | None = None) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(self.events_url, content=raw if raw is not None else None,
                                     json=None if raw is not None else body)


async def _async(value: Any) -> Any:
    return value


def event_for(namespace: str, name: str = "apps", kind: str = "Kustomization",
              severity: str = "info", message: str = "Applied revision: main@sha1:abc",
              metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """Flux's event JSON as kustomize-controller posts it."""
    return {"involvedObject": {"kind": kind, "namespace": namespace, "name": name,
                               "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
            "severity": severity, "timestamp": "2026-08-07T12:00:00Z", "message": message,
            "reason": "ReconciliationSucceeded" if severity == "info" else "BuildFailed",
            "metadata": metadata if metadata is not None else {
                "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"},
            "reportingController": "kustomize-controller"}


def discord_setup(namespace: str, **alert_spec: Any) -> str:
    """The seed's Provider and Alert (agnhost), in ``namespace``, with extra Alert spec."""
    spec: dict[str, Any] = {
        "eventSeverity": "info",
        "eventSources": [{"kind": k, "name": "*"} for k in (
            "GitRepository", "Kustomization", "ImageRepository", "ImagePolicy",
            "HelmRepository", "HelmRelease")],
        "providerRef": {"name": "discord"}}
    spec.update(alert_spec)
    return yaml.safe_dump_all([
        {"apiVersion": NOTIFICATION_API, "kind": "Provider",
         "metadata": {"name": "discord", "namespace": namespace},
         "spec": {"channel": "agnhost", "secretRef": {"name": "discord-webhook"},
                  "type": "discord", "username": "FluxCD"}},
        {"apiVersion": NOTIFICATION_API, "kind": "Alert",
         "metadata": {"name": "discord", "namespace": namespace}, "spec": spec}])


class start_harness:
    def __init__(self, kubeconfig: Path, tmp_path: Path, namespace: str | None,
                 image_reflector: bool = False, helm_release: bool = False,
                 **options: Any) -> None:
        self.kubeconfig = kubeconfig
        self.tmp_path = tmp_path
        self.namespace = namespace
        self.image_reflector = image_reflector
        self.helm_release = helm_release
        base: dict[str, Any] = {"event_server_addr": "127.0.0.1:0",
                                "receiver_addr": "127.0.0.1:0", "retry_wait_min": 0.05}
        base.update(options)
        self.options = NotificationOptions(**base)

    async def __aenter__(self) -> Harness:
        self.sink = WebhookSink()
        await self.sink.start()
        self.conn = connect(self.kubeconfig, field_manager="pytest")
        store = self.tmp_path / "artifacts"
        store.mkdir(exist_ok=True)
        self.server = ArtifactServer(store, "127.0.0.1", 0)
        await self.server.start()
        storage = Storage(store, self.server.address)
        self.manager = Manager(self.conn, ManagerOptions(watch_namespace=self.namespace,
                                                         metrics_addr=None, concurrent=4))
        await setup_gitrepository_controller(self.manager, storage)
        await setup_kustomization_controller(self.manager, KustomizationOptions(
            health_poll=0.2, requeue_dependency=1.0, artifact_retry_wait=0.05,
            min_timeout=5.0))
        if self.image_reflector:
            await setup_image_reflector(self.manager, self.tmp_path / "tags",
                                        ImageReflectorOptions(requeue_dependency=0.5))
        if self.helm_release:
            await setup_helmrelease_controller(self.manager, HelmReleaseOptions(
                requeue_dependency=1.0, source_retry=0.5, http_retry=2))
        notification = await setup_notification_controller(self.manager, self.options)
        await self.manager.start()
        return Harness(self.manager.objects, self.manager, notification, self.sink)

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.manager.shutdown()
        finally:
            await self.server.close()
            await self.conn.aclose()
            await self.sink.close()


@pytest.fixture
async def harness(kubeconfig: Path, tmp_path: Path, namespace: str) -> AsyncIterator[Harness]:
    async with start_harness(kubeconfig, tmp_path, namespace) as h:
        yield h


@pytest.fixture
async def git(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    async with GitHTTPServer(tmp_path / "git") as srv:
        yield srv
