"""An object no running controller serves says so, and `sluice reconcile` fails fast on it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from sluice.api.kinds import ALL_KINDS
from sluice.controllers.notification.controller import NotificationOptions
from sluice.controllers.run import Controllers, ControllerSettings
from sluice.controllers.unserved import CONTROLLER_NOT_RUNNING, unserved_kinds_watcher
from sluice.kube.config import connect
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Objects
from sluice.runtime.manager import ManagerOptions
from sluice.testing.polling import async_wait_for

from .conftest import run_sluice

API = "source.toolkit.fluxcd.io/v1"
NOTIFICATION = "notification.toolkit.fluxcd.io/v1beta3"


def _bucket(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Bucket",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"bucketName": "b", "endpoint": "minio.example:9000", "interval": "5m"}}


async def test_bucket_without_controller_gets_a_condition_and_reconcile_fails_fast(
        kubeconfig: Path, namespace: str) -> None:
    conn = connect(kubeconfig)
    objects = Objects(conn)
    served = {cls.info.kind for cls in ALL_KINDS} - {"Bucket"}
    watcher = asyncio.create_task(unserved_kinds_watcher(
        objects, served, EventRecorder(objects, "sluice"))())
    try:
        buckets = await objects.mapping(API, "Bucket")
        await objects.create(buckets, _bucket("media", namespace))

        async def marked() -> dict[str, Any] | None:
            obj = await objects.get(buckets, "media", namespace)
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond["type"] == "Ready" and cond["reason"] == CONTROLLER_NOT_RUNNING:
                    return dict(cond)
            return None

        cond = await async_wait_for(marked, timeout=10, what="the Bucket marked")
        assert cond["status"] == "Unknown"
        assert cond["message"].startswith("no controller for Bucket objects runs in this "
                                          "sluice process (it runs controllers for: ")
        r = await asyncio.to_thread(run_sluice, kubeconfig, "reconcile", "source", "bucket",
                                    "media", "-n", namespace, "--timeout=2m")
        assert r.code == 1
        # The condition's reason, not a timeout: the command gave up at once.
        assert "no controller for Bucket objects runs" in r.stderr
        assert "timeout" not in r.stderr
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await conn.aclose()


async def test_alerts_and_providers_count_as_served_by_the_notification_group(
        kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    # v1beta3 Alerts and Providers have no controller of their own: the notification
    # group's dispatcher reads them. They must not get a "no controller" Warning.
    conn = connect(kubeconfig)
    objects = Objects(conn)
    ctrls = await Controllers.create(conn, ControllerSettings(
        storage_path=tmp_path / "artifacts", artifact_addr="127.0.0.1:0",
        manager=ManagerOptions(watch_namespace=namespace, metrics_addr=None),
        notification=NotificationOptions(event_server_addr=None, receiver_addr=None),
        controllers=frozenset({"notification"}), mark_unserved=True))
    try:
        await ctrls.manager.start()
        providers = await objects.mapping(NOTIFICATION, "Provider")
        alerts = await objects.mapping(NOTIFICATION, "Alert")
        await objects.create(providers, {
            "apiVersion": NOTIFICATION, "kind": "Provider",
            "metadata": {"name": "chat", "namespace": namespace},
            "spec": {"type": "generic", "address": "http://127.0.0.1:9/"}})
        await objects.create(alerts, {
            "apiVersion": NOTIFICATION, "kind": "Alert",
            "metadata": {"name": "all", "namespace": namespace},
            "spec": {"providerRef": {"name": "chat"},
                     "eventSources": [{"kind": "GitRepository", "name": "*"}]}})
        buckets = await objects.mapping(API, "Bucket")
        await objects.create(buckets, _bucket("media", namespace))

        async def bucket_message() -> str | None:
            obj = await objects.get(buckets, "media", namespace)
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond["type"] == "Ready" and cond["reason"] == CONTROLLER_NOT_RUNNING:
                    return str(cond["message"])
            return None

        message = await async_wait_for(bucket_message, timeout=10, what="the Bucket marked")
        assert message.endswith("(it runs controllers for: Alert, Provider, Receiver)")
        events, _ = await objects.list(await objects.mapping("v1", "Event"), namespace)
        marked = [e["involvedObject"]["kind"] for e in events
                  if e.get("reason") == CONTROLLER_NOT_RUNNING]
        assert "Alert" not in marked and "Provider" not in marked, marked
    finally:
        await ctrls.manager.shutdown()
        await ctrls.artifact_server.close()
        await conn.aclose()
