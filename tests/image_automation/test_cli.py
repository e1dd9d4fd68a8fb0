"""The CLI on automations: create (applied and waited for), get, reconcile, suspend/resume.

The commands run in-process (`run_sluice`) while the source and
image-automation controllers run on a loop of their own, as under ``sluice
up``; the user-visible lines are checked.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pygit2
import pytest

from sluice.controllers.run import Controllers, ControllerSettings
from sluice.kube.config import connect
from sluice.runtime.manager import ManagerOptions
from sluice.testing.gitserver import GitHTTPServer

from ..cli.conftest import BackgroundGit, release, run_sluice

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost"


class Background:
    """`Controllers` (source + image-automation) on a loop in a daemon thread."""

    def __init__(self, kubeconfig: Path, store: Path, namespace: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.kubeconfig, self.store, self.namespace = kubeconfig, store, namespace

    async def _start(self) -> None:
        self.conn = connect(self.kubeconfig, field_manager="pytest")
        self.ctrls = await Controllers.create(self.conn, ControllerSettings(
            storage_path=self.store, artifact_addr="127.0.0.1:0",
            manager=ManagerOptions(watch_namespace=self.namespace, metrics_addr=None),
            controllers=frozenset({"source", "image-automation"})))
        await self.ctrls.manager.start()

    async def _stop(self) -> None:
        try:
            await self.ctrls.manager.shutdown()
        finally:
            await self.ctrls.artifact_server.close()
            await self.conn.aclose()

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


@pytest.fixture
def git(tmp_path: Path) -> Iterator[GitHTTPServer]:
    bg = BackgroundGit(GitHTTPServer(tmp_path / "git"))
    server = bg.start()
    try:
        yield server
    finally:
        bg.stop()


def test_create_get_reconcile_suspend_resume(kubeconfig: Path, namespace: str, tmp_path: Path,
                                             api: httpx.Client, git: GitHTTPServer) -> None:
    repo = git.create_repo("fleet.git", {"app.yaml": (
        f'image: {AGNHOST}:2.39 # {{"$imagepolicy": "{namespace}:agnhost"}}\n')})
    base = f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}"
    assert api.post(f"{base}/gitrepositories", json={
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"interval": "10m", "url": git.repo_url("fleet.git"),
                 "ref": {"branch": "main"}}}).status_code == 201
    images = f"/apis/image.toolkit.fluxcd.io/v1/namespaces/{namespace}/imagepolicies"
    assert api.post(images, json={
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
        "metadata": {"name": "agnhost"},
        "spec": {"imageRepositoryRef": {"name": "agnhost"},
                 "policy": {"numerical": {"order": "desc"}}}}).status_code == 201
    assert api.patch(f"{images}/agnhost/status", json={
        "status": {"latestRef": {"name": AGNHOST, "tag": "2.10"}}},
        headers={"Content-Type": "application/merge-patch+json"}).status_code == 200
    try:
        with Background(kubeconfig, tmp_path / "artifacts", namespace):
            created = run_sluice(
                kubeconfig, "create", "image", "update", "agnhost", "-n", namespace,
                "--git-repo-ref=repo", "--checkout-branch=main", "--push-branch=main",
                "--author-name=FluxCD", "--author-email=flux@example.com",
                "--commit-template={{range .Updated.Images}}{{println .}}{{end}}",
                "--interval=10m")
            assert created.ok, created
            head = pygit2.Repository(str(repo.path)).revparse_single("main")
            assert head.message == f"{AGNHOST}:2.10\n"
            assert "✔ ImageUpdateAutomation reconciliation completed" in created.stderr
            assert f"committed and pushed {str(head.id)[:7]}" in created.stderr

            listed = run_sluice(kubeconfig, "get", "images", "update", "-n", namespace)
            assert listed.ok, listed
            header, row = listed.stdout.splitlines()[:2]
            assert header.split() == ["NAME", "LAST", "RUN", "SUSPENDED", "READY", "MESSAGE"]
            assert row.split()[0] == "agnhost"
            assert row.split()[-4:] == ["False", "True", "repository", "up-to-date"]

            again = run_sluice(kubeconfig, "reconcile", "image", "update", "agnhost",
                               "-n", namespace)
            assert again.ok, again
            assert again.stderr.splitlines()[-2:] == [
                "◎ waiting for ImageUpdateAutomation reconciliation",
                f"✔ committed and pushed {str(head.id)[:7]} at "
                f"{created.stderr.rsplit(' at ', 1)[1].strip()}"]

            suspended = run_sluice(kubeconfig, "suspend", "image", "update", "agnhost",
                                   "-n", namespace)
            assert suspended.ok and "✔ image update automation suspended" in suspended.stderr
            listed = run_sluice(kubeconfig, "get", "images", "update", "-n", namespace)
            assert listed.stdout.splitlines()[1].split()[-4] == "True"
            resumed = run_sluice(kubeconfig, "resume", "image", "update", "agnhost",
                                 "-n", namespace)
            assert resumed.ok, resumed
            assert f"committed and pushed {str(head.id)[:7]}" in resumed.stderr
    finally:
        release(kubeconfig, namespace)
