"""The image CLI against the running reflector: create (applied, waited for), get, reconcile,
suspend/resume, as a user of the seed types them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sluice.controllers.run import Controllers, ControllerSettings
from sluice.kube.config import connect
from sluice.runtime.manager import ManagerOptions
from sluice.testing.registry import FixtureRegistry

from ..cli.conftest import release, run_sluice
from .conftest import AGNHOST_TAGS


class Background:
    """The image-reflector group and a fixture registry on a loop in a daemon thread."""

    def __init__(self, kubeconfig: Path, store: Path, namespace: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.kubeconfig, self.store, self.namespace = kubeconfig, store, namespace
        self.registry = FixtureRegistry(bearer=True, page_size=20)

    async def _start(self) -> None:
        await self.registry.start()
        self.registry.set_tags("e2e-test-images/agnhost", AGNHOST_TAGS)
        self.conn = connect(self.kubeconfig, field_manager="pytest")
        self.ctrls = await Controllers.create(self.conn, ControllerSettings(
            storage_path=self.store, artifact_addr="127.0.0.1:0",
            manager=ManagerOptions(watch_namespace=self.namespace, metrics_addr=None),
            controllers=frozenset({"image-reflector"})))
        await self.ctrls.manager.start()

    async def _stop(self) -> None:
        try:
            await self.ctrls.manager.shutdown()
        finally:
            await self.ctrls.artifact_server.close()
            await self.conn.aclose()
            await self.registry.close()

    def __enter__(self) -> Background:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


def test_create_get_reconcile_suspend_resume(kubeconfig: Path, namespace: str,
                                             tmp_path: Path) -> None:
    ns = ("-n", namespace)
    with Background(kubeconfig, tmp_path / "artifacts", namespace) as bg:
        image = f"{bg.registry.host}/e2e-test-images/agnhost"
        created = run_sluice(kubeconfig, "create", "image", "repository", "agnhost",
                             f"--image={image}", "--interval=5m", *ns)
        assert created.ok, created
        assert "✔ ImageRepository reconciliation completed" in created.stderr
        assert "scan fetched 33 tags" in created.stderr
        pol = run_sluice(kubeconfig, "create", "image", "policy", "agnhost", "--image-ref=agnhost",
                         "--select-numeric=desc", r"--filter-regex=\d\.\d\d", *ns)
        assert pol.ok, pol
        assert f"selected ref {image}:2.10" in pol.stderr

        repos = run_sluice(kubeconfig, "get", "images", "repository", *ns)
        assert repos.ok, repos
        header, row = repos.stdout.splitlines()[:2]
        assert header.split() == ["NAME", "LAST", "SCAN", "SUSPENDED", "READY", "MESSAGE"]
        assert row.split()[0] == "agnhost" and "successful scan: found 33 tags" in row
        every = run_sluice(kubeconfig, "get", "images", "all", *ns)
        assert every.ok, every
        assert "imagerepository/agnhost" in every.stdout
        assert "imagepolicy/agnhost" in every.stdout and f"{image}" in every.stdout

        asyncio.run_coroutine_threadsafe(
            asyncio.to_thread(bg.registry.add_tag, "e2e-test-images/agnhost", "2.58"),
            bg.loop).result(10)
        again = run_sluice(kubeconfig, "reconcile", "image", "repository", "agnhost", *ns)
        assert again.ok, again
        assert "scan fetched 34 tags" in again.stderr
        policies = run_sluice(kubeconfig, "get", "images", "policy", *ns)
        assert policies.stdout.splitlines()[0].split() == ["NAME", "IMAGE", "TAG", "READY",
                                                           "MESSAGE"]
        assert policies.stdout.splitlines()[1].split()[:3] == ["agnhost", image, "2.10"]

        for verb in ("suspend", "resume"):
            out = run_sluice(kubeconfig, verb, "image", "policy", "agnhost", *ns)
            assert out.ok, out
        suspended = run_sluice(kubeconfig, "suspend", "image", "repository", "agnhost", *ns)
        assert suspended.ok, suspended
        listed = run_sluice(kubeconfig, "get", "images", "repository", *ns)
        assert listed.stdout.splitlines()[1].split()[2] == "True"  # SUSPENDED
        resumed = run_sluice(kubeconfig, "resume", "image", "repository", "agnhost", *ns)
        assert resumed.ok, resumed
        assert "scan fetched 34 tags" in resumed.stderr
    release(kubeconfig, namespace)
