"""`sluice up`: the embedded cluster and the controllers in one process, resumable."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sluice.kube.config import Connection, connect
from sluice.kube.objects import Obj, Objects
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

API = "source.toolkit.fluxcd.io/v1"


class Up:
    def __init__(self, data: Path, *extra: str) -> None:
        self.data = data
        self.extra = extra
        self.log = data.parent / f"{data.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.offset = 0

    def start(self) -> None:
        # A previous run's kubeconfig would point at the old port.
        (self.data / "kubeconfig").unlink(missing_ok=True)
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sluice.cli.main", "up", "--data-dir", str(self.data),
                 "--port", "0", "--artifact-addr", "127.0.0.1:0",
                 "--metrics-addr", "127.0.0.1:0", "--log-level", "warning",
                 "--git-http-addr", "127.0.0.1:0", "--git-ssh-addr", "127.0.0.1:0",
                 "--ui-addr", "127.0.0.1:0", "--event-server-addr", "127.0.0.1:0",
                 "--receiver-addr", "127.0.0.1:0", *self.extra],
                stdout=subprocess.DEVNULL, stderr=log)

    async def ready(self) -> None:
        async def running() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"sluice up exited:\n{self.log.read_text()}")
            return "controllers running" in self.output()

        await async_wait_for(running, timeout=60, interval=0.1, what="sluice up to start")

    def output(self) -> str:
        """What the current run printed."""
        return self.log.read_bytes()[self.offset:].decode(errors="replace")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
async def git(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    async with GitHTTPServer(tmp_path / "git") as srv:
        yield srv


async def _ready_repo(kubeconfig: Path, name: str) -> Obj:
    conn = connect(kubeconfig)
    try:
        repos = await conn_objects(conn).mapping(API, "GitRepository")

        async def ready() -> Obj | None:
            obj: Obj = await conn_objects(conn).get(repos, name, "default")
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond["type"] == "Ready" and cond["status"] == "True":
                    return obj
            return None

        result: Obj = await async_wait_for(ready, timeout=30, what=f"{name} Ready")
        return result
    finally:
        await conn.aclose()


def conn_objects(conn: Connection) -> Objects:
    return Objects(conn)


async def _download(url: str) -> bytes:
    async with httpx.AsyncClient() as http:
        resp = await http.get(url)
        resp.raise_for_status()
        return resp.content


async def test_up_runs_cluster_and_controllers_and_resumes(tmp_path: Path,
                                                          git: GitHTTPServer) -> None:
    repo = git.create_repo("app.git", {"app.yaml": "kind: ConfigMap\n"})
    up = Up(tmp_path / "data")
    try:
        up.start()
        await up.ready()
        log = up.output()
        assert f"kubeconfig written to {tmp_path / 'data' / 'kubeconfig'}" in log
        kubeconfig = tmp_path / "data" / "kubeconfig"
        conn = connect(kubeconfig)
        try:
            objects = conn_objects(conn)
            repos = await objects.mapping(API, "GitRepository")
            await objects.create(repos, {
                "apiVersion": API, "kind": "GitRepository",
                "metadata": {"name": "app", "namespace": "default"},
                "spec": {"url": git.repo_url("app.git"), "interval": "1h",
                         "ref": {"branch": "main"}}})
        finally:
            await conn.aclose()
        obj = await _ready_repo(kubeconfig, "app")
        artifact = obj["status"]["artifact"]
        assert artifact["revision"] == f"main@sha1:{repo.head()}"
        assert artifact["url"].startswith("http://127.0.0.1:")
        data = await _download(artifact["url"])
        assert "sha256:" + hashlib.sha256(data).hexdigest() == artifact["digest"]
        assert (tmp_path / "data" / "artifacts" / artifact["path"]).is_file()
        assert up.stop() == 0
        assert "◎ shutting down" in up.output()

        # Restarted from the same folder: the object and its artifact are still
        # there, and the artifact URL follows the new artifact server address.
        up.start()
        await up.ready()

        async def refreshed() -> Obj | None:
            got = await _ready_repo(tmp_path / "data" / "kubeconfig", "app")
            return got if got["status"]["artifact"]["url"] != artifact["url"] else None

        obj = await async_wait_for(refreshed, timeout=30, what="the artifact URL to follow")
        assert obj["status"]["artifact"]["digest"] == artifact["digest"]
        assert await _download(obj["status"]["artifact"]["url"]) == data
        assert up.stop() == 0
    finally:
        up.kill()
