"""A registry or a notification provider that accepts TCP and never answers costs only its own call.

Issue 15 asks that every registry and notification call have a deadline that
really ends it (the connection closed, nothing left waiting). With the real
controllers on the embedded cluster and a `SilentHost` standing in for the
remote:

* an OCIRepository and a HelmRepository on the silent host fail with their
  own ``spec.timeout`` (FetchFailed, Flux's words: ``context deadline
  exceeded``, ``timeout after 2s``), a healthy OCIRepository next to them is
  Ready meanwhile, and once they are deleted the silent host sees every
  connection closed;
* a registry and a Helm repository that answer but trickle their body a byte
  at a time (each read well within any per-read timeout) are cut off at
  ``spec.timeout`` too;
* a HelmChart from a ``type: oci`` HelmRepository on the silent host (Helm's
  own registry client used to hold a Helm worker thread there until the
  connection died) fails at the repository's ``spec.timeout``;
* an Alert whose Provider's address is the silent host reports its own
  deadline (``NotificationDispatchFailed``), while the same event reaches a
  healthy Provider at once, and the silent connection is closed;
* ImageRepositories on a silent registry do not hold up a healthy one's
  scan; each fails at its own ``spec.timeout`` (ReadOperationFailed, ``GET
  <host>/v2/<path>/tags/list: context deadline exceeded``) and closes its
  connection (the scan's deadline used to fire inside the TLS handshake,
  where httpcore leaves the socket open until garbage collection).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from tests.image.conftest import ready
from tests.notification.conftest import NOTIFICATION_API, event_for, start_harness
from tests.source.helm_harness import Sources, condition, running_sources

from sluice.controllers.source.helmchart import setup_helmchart_controller
from sluice.controllers.source.helmrepository import setup_helmrepository_controller
from sluice.controllers.source.ocirepository import setup_ocirepository_controller
from sluice.testing.polling import async_wait_for
from sluice.testing.registry import DockerRegistry
from sluice.testing.silenthost import SilentHost, TricklingHost


@pytest.fixture
async def sources(kubeconfig: Path, namespace: str, tmp_path: Path) -> AsyncIterator[Sources]:
    async with running_sources(kubeconfig, namespace, tmp_path, [
            setup_ocirepository_controller, setup_helmrepository_controller,
            setup_helmchart_controller], ["OCIRepository", "HelmRepository", "HelmChart"],
            cleanup=False) as s:
        yield s


async def _delete_all(s: Sources) -> None:
    for mapping in s.mappings.values():
        for item in (await s.objects.list(mapping, s.namespace))[0]:
            await s.objects.delete(mapping, item["metadata"]["name"], s.namespace)

    async def gone() -> bool:
        left = [(await s.objects.list(m, s.namespace))[0] for m in s.mappings.values()]
        return not any(left)

    await async_wait_for(gone, timeout=20, what="sources finalized")


async def test_silent_registry_and_helm_repository_end_at_their_timeout(
        sources: Sources, tmp_path: Path) -> None:
    from tests.source.test_ocirepository import push_artifact

    async with SilentHost() as silent, DockerRegistry(tmp_path / "registry") as registry:
        push_artifact(registry, "v1", {"app.yaml": "a: 1\n"})
        address = f"{silent.host}:{silent.port}"
        await sources.create("OCIRepository", "stuck", {
            "url": f"oci://{address}/app", "ref": {"tag": "v1"}, "timeout": "2s"})
        await sources.create("HelmRepository", "stuck", {
            "url": f"https://{address}/charts", "timeout": "2s"})

        async def connected() -> bool:
            return silent.accepted >= 2

        await async_wait_for(connected, timeout=10, what="both fetches to connect")
        started = time.monotonic()
        await sources.create("OCIRepository", "healthy", {
            "url": f"oci://{registry.host}/manifests/app", "ref": {"tag": "v1"},
            "insecure": True})
        await sources.ready("OCIRepository", "healthy")
        assert time.monotonic() - started < 5  # not behind the stuck fetches

        for kind in ("OCIRepository", "HelmRepository"):
            obj = await sources.wait(kind, "stuck", lambda o: (
                (c := condition(o, "FetchFailed")) is not None and c["status"] == "True"),
                "FetchFailed", within=15)
            # FetchFailed stays while the next attempt runs (Ready is Unknown meanwhile).
            failed = condition(obj, "FetchFailed")
            assert failed is not None, kind
            assert any(word in failed["message"] for word in (
                "timeout after 2s", "context deadline exceeded")), (kind, failed)
        await _delete_all(sources)

        async def closed() -> bool:
            return silent.open_connections == 0

        await async_wait_for(closed, timeout=10, what="silent connections closed")


async def test_a_silent_provider_costs_only_its_own_alert(
        kubeconfig: Path, tmp_path: Path, namespace: str) -> None:
    async with SilentHost() as silent, start_harness(kubeconfig, tmp_path, namespace) as h:
        providers = {"stuck": f"http://{silent.host}:{silent.port}/hook",
                     "healthy": h.sink.url("/hook")}
        docs = []
        for name, address in providers.items():
            docs += [
                {"apiVersion": NOTIFICATION_API, "kind": "Provider",
                 "metadata": {"name": name, "namespace": namespace},
                 "spec": {"type": "generic", "address": address, "timeout": "1s"}},
                {"apiVersion": NOTIFICATION_API, "kind": "Alert",
                 "metadata": {"name": name, "namespace": namespace},
                 "spec": {"providerRef": {"name": name}, "eventSeverity": "info",
                          "eventSources": [{"kind": "Kustomization", "name": "*"}]}}]
        await h.apply(yaml.safe_dump_all(docs))
        for name in providers:
            await h.wait_cached("Alert", namespace, name)
            await h.wait_cached("Provider", namespace, name)

        started = time.monotonic()
        r = await h.post_event(event_for(namespace))
        assert r.status_code == 202, r.text
        await h.sink.wait_for(1, timeout=5)
        assert time.monotonic() - started < 1  # not behind the silent provider's second

        failed = await h.wait_event(namespace, "Alert", "stuck", lambda e: (
            e["reason"] == "NotificationDispatchFailed"), "the stuck Alert's failure")
        assert "context deadline exceeded (timeout 1s)" in failed["message"], failed
        assert silent.accepted >= 1

        async def closed() -> bool:
            return silent.open_connections == 0

        await async_wait_for(closed, timeout=10, what="the silent connection closed")
        assert not [e for e in await h.events_on(namespace, "Alert", "healthy")
                    if e["reason"] == "NotificationDispatchFailed"]


async def test_trickling_registry_and_helm_repository_are_cut_off_at_their_timeout(
        sources: Sources) -> None:
    async with TricklingHost() as host:
        address = f"{host.host}:{host.port}"
        await sources.create("OCIRepository", "slow", {
            "url": f"oci://{address}/app", "ref": {"tag": "v1"}, "timeout": "2s",
            "insecure": True})
        await sources.create("HelmRepository", "slow", {
            "url": f"http://{address}/charts", "timeout": "2s"})
        expected = {"OCIRepository": f"failed to pull artifact from 'oci://{address}/app': "
                                     "context deadline exceeded",
                    "HelmRepository": "failed to fetch Helm repository index: failed to fetch "
                                      f"http://{address}/charts/index.yaml : timeout after 2s"}
        for kind, message in expected.items():
            obj = await sources.wait(kind, "slow", lambda o: (
                (c := condition(o, "FetchFailed")) is not None and c["status"] == "True"),
                "FetchFailed", within=15)
            failed = condition(obj, "FetchFailed")
            assert failed is not None and failed["message"] == message, (kind, failed)
        await _delete_all(sources)

        async def closed() -> bool:
            return host.open_connections == 0

        await async_wait_for(closed, timeout=10, what="trickling connections closed")


async def test_an_oci_chart_on_a_silent_registry_ends_at_the_repository_timeout(
        sources: Sources) -> None:
    async with SilentHost() as silent:
        address = f"{silent.host}:{silent.port}"
        await sources.create("HelmRepository", "oci", {
            "type": "oci", "url": f"oci://{address}/charts", "timeout": "2s"})
        await sources.create("HelmChart", "podinfo", {
            "chart": "podinfo", "version": "*",
            "sourceRef": {"kind": "HelmRepository", "name": "oci"}})
        started = time.monotonic()
        obj = await sources.wait("HelmChart", "podinfo", lambda o: (
            (c := condition(o, "FetchFailed")) is not None and c["status"] == "True"),
            "FetchFailed", within=15)
        assert time.monotonic() - started < 10
        failed = condition(obj, "FetchFailed")
        assert failed is not None and failed["message"] == (
            "chart pull error: failed to get chart version for remote reference: failed to "
            f"list tags of '{address}/charts/podinfo': context deadline exceeded"), failed
        assert silent.accepted >= 1
        await _delete_all(sources)

        async def closed() -> bool:
            return silent.open_connections == 0

        await async_wait_for(closed, timeout=10, what="silent registry connections closed")


async def test_a_silent_image_registry_costs_only_its_own_scan(
        kubeconfig: Path, tmp_path: Path, namespace: str) -> None:
    from tests.image.conftest import repository_yaml, start_reflector

    async with SilentHost() as silent, DockerRegistry(tmp_path / "registry") as registry, \
            start_reflector(kubeconfig, tmp_path / "tags") as r:
        await registry.apush_image("team/app", "1.0.0")
        stuck = f"{silent.host}:{silent.port}/team/app"
        # One that hangs for 15 s, one whose deadline (2 s) passes early: a healthy
        # scan waiting behind them would not be Ready within 10 s.
        await r.apply(repository_yaml("stuck-long", stuck, timeout="15s"), namespace)
        await r.apply(repository_yaml("stuck-short", stuck, timeout="2s"), namespace)

        async def connected() -> bool:
            return silent.accepted >= 2

        await async_wait_for(connected, timeout=10, what="both scans to connect")
        await r.apply(repository_yaml("healthy", f"{registry.host}/team/app", insecure=True),
                      namespace)
        healthy = await r.wait_ready("ImageRepository", namespace, "healthy", limit=10)
        assert healthy["status"]["lastScanResult"]["tagCount"] == 1

        failed = await r.wait_ready("ImageRepository", namespace, "stuck-short", status="False",
                                    reason="ReadOperationFailed",
                                    contains="context deadline exceeded", limit=15)
        message = ready(failed)[2]  # type: ignore[index]
        assert f"GET {silent.host}:{silent.port}/v2/team/app/tags/list" in message, message

        m = await r.objects.mapping("image.toolkit.fluxcd.io/v1", "ImageRepository")
        for name in ("stuck-long", "stuck-short", "healthy"):
            await r.objects.delete(m, name, namespace)

        async def closed() -> bool:
            return silent.open_connections == 0

        # A scan running when its object is deleted ends at its deadline (as in Flux).
        await async_wait_for(closed, timeout=25, what="silent registry connections closed")


async def test_trickling_webhook_callers_do_not_hold_up_a_receiver(
        kubeconfig: Path, tmp_path: Path, namespace: str) -> None:
    import asyncio
    import hashlib
    import hmac

    import httpx

    token = "tr1ckle-t0ken"
    async with start_harness(kubeconfig, tmp_path, namespace) as h:
        await h.secret(namespace, "hook-token", {"token": token})
        await h.apply(yaml.safe_dump({
            "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
            "metadata": {"name": "github", "namespace": namespace},
            "spec": {"type": "github", "events": ["push"], "secretRef": {"name": "hook-token"},
                     "resources": [{"kind": "GitRepository", "name": "app"}]}}))
        path = "/hook/" + hashlib.sha256(f"{token}github{namespace}".encode()).hexdigest()
        await h.wait_cached("Receiver", namespace, "github")
        host, port = h.receiver_url.removeprefix("http://").rsplit(":", 1)

        # Twenty callers that promise a body and send it a byte at a time, never finishing.
        slow = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
        for _, writer in slow:
            writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-GitHub-Event: push\r\n"
                         "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
                         .encode())
            await writer.drain()
        try:
            signature = "sha256=" + hmac.new(token.encode(), b"{}", hashlib.sha256).hexdigest()

            async def answered() -> bool:
                async with httpx.AsyncClient(base_url=h.receiver_url, timeout=5) as client:
                    resp = await client.post(path, content=b"{}", headers={
                        "Content-Type": "application/json", "X-GitHub-Event": "ping",
                        "X-Hub-Signature-256": signature})
                return resp.status_code == 200

            # A signed ping is answered while the twenty trickle on (a Receiver path
            # becomes known once the Receiver is reconciled, hence the poll).
            await async_wait_for(answered, timeout=15, what="the ping answered")
            for _, writer in slow:
                writer.write(b" ")
                await writer.drain()  # still open: they were not simply dropped
        finally:
            for _, writer in slow:
                writer.close()
