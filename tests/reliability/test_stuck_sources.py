"""Remotes that accept TCP and never answer cost only their own objects (issue 15, 1 and 5).

Reproduces, with the real GitRepository controller on the embedded cluster:

* one SSH host that never sends its banner used to stop every SSH
  GitRepository of the process (its fetch thread blocked in libgit2 holding
  the lock around the SSH home directory): a healthy SSH source must still
  be Ready in its usual time;
* twenty such hosts (``timeout: 3s``) used to starve an unrelated healthy
  source for tens of seconds and leak a blocked thread and a socket per
  timed-out fetch: the healthy one must be Ready in under 5 s, each stuck
  one must report its timeout, and once they are deleted no thread, socket
  or process of theirs may be left (threads by name, this process's
  sockets to the silent hosts, descendant processes, and the silent hosts
  see every connection closed).

The controller runs with two reconcile workers (the manager's default).
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.core.sshkeys import KeyPair, generate_key_pair
from sluice.git.pool import default_pool
from sluice.kube.config import connect
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.leaks import descendants, own_threads, sockets_to
from sluice.testing.polling import async_wait_for
from sluice.testing.silenthost import SilentHost
from sluice.testing.sshgit import GitSSHServer

API = "source.toolkit.fluxcd.io/v1"


@dataclass
class Sources:
    objects: Objects
    repos: ResourceMapping
    secrets: ResourceMapping
    namespace: str

    async def create(self, name: str, url: str, *, within: str = "20s",
                     secret: dict[str, str | bytes] | None = None) -> None:
        """A GitRepository on `url` whose `spec.timeout` is `within`."""
        spec: dict[str, Any] = {"url": url, "interval": "1h", "timeout": within,
                                "ref": {"branch": "main"}}
        if secret is not None:
            await self.objects.create(self.secrets, {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": self.namespace},
                "data": {k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
                         for k, v in secret.items()}})
            spec["secretRef"] = {"name": name}
        await self.objects.create(self.repos, {
            "apiVersion": API, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": self.namespace}, "spec": spec})

    async def ready_condition(self, name: str, type_: str = "Ready") -> dict[str, Any] | None:
        obj = await self.objects.get(self.repos, name, self.namespace)
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] == type_:
                return dict(cond)
        return None

    async def ready_within(self, name: str, within: float) -> float:
        """Seconds until `name` is Ready=True, failing past `within`."""
        started = time.monotonic()

        async def ready() -> bool:
            cond = await self.ready_condition(name)
            return cond is not None and cond["status"] == "True"

        await async_wait_for(ready, timeout=within, what=f"{name} Ready=True")
        return time.monotonic() - started

    async def delete_all(self) -> None:
        items, _ = await self.objects.list(self.repos, self.namespace)
        for item in items:
            await self.objects.delete(self.repos, item["metadata"]["name"], self.namespace)

        async def gone() -> bool:
            return not (await self.objects.list(self.repos, self.namespace))[0]

        await async_wait_for(gone, timeout=20, what="GitRepositories finalized")


@pytest.fixture
async def sources(kubeconfig: Path, namespace: str, tmp_path: Path) -> AsyncIterator[Sources]:
    conn = connect(kubeconfig, field_manager="pytest")
    (tmp_path / "artifacts").mkdir()
    server = ArtifactServer(tmp_path / "artifacts", "127.0.0.1", 0)
    await server.start()
    manager = Manager(conn, ManagerOptions(watch_namespace=namespace, metrics_addr=None))
    await setup_gitrepository_controller(manager, Storage(tmp_path / "artifacts", server.address))
    await manager.start()
    objects = manager.objects
    s = Sources(objects, await objects.mapping(API, "GitRepository"),
                await objects.mapping("v1", "Secret"), namespace)
    try:
        yield s
        await s.delete_all()
    finally:
        await manager.shutdown()
        await server.close()
        await conn.aclose()


@pytest.fixture(scope="module")
def deploy_key() -> KeyPair:
    return generate_key_pair()


def ssh_secret(key: KeyPair, known_hosts: str) -> dict[str, str | bytes]:
    return {"identity": key.private_key, "identity.pub": key.public_key,
            "known_hosts": known_hosts}


# --------------------------------------------------------------------- tests


async def test_a_silent_ssh_host_does_not_stop_other_ssh_sources(
        sources: Sources, deploy_key: KeyPair, tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        silent = await stack.enter_async_context(SilentHost())
        forge = await stack.enter_async_context(
            GitSSHServer(tmp_path / "ssh", [deploy_key.public_key]))
        forge.create_repo("app.git", {"app.yaml": "a: 1\n"})

        await sources.create("stuck", silent.ssh_url(), within="30s", secret=ssh_secret(
            deploy_key, silent.known_hosts(forge.host_public_key)))

        async def connected() -> bool:
            return silent.accepted > 0

        await async_wait_for(connected, timeout=10, what="the stuck fetch to connect")

        await sources.create("healthy", forge.repo_url("app.git"),
                             secret=ssh_secret(deploy_key, forge.known_hosts))
        took = await sources.ready_within("healthy", 5)
        assert took < 5
        stuck = await sources.ready_condition("stuck")
        assert stuck is None or stuck["status"] != "True"


async def test_twenty_silent_hosts_neither_starve_a_healthy_source_nor_leak(
        sources: Sources, deploy_key: KeyPair, tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(GitHTTPServer(tmp_path / "http"))
        http.create_repo("app.git", {"app.yaml": "a: 1\n"})
        hosts = [await stack.enter_async_context(SilentHost()) for _ in range(20)]
        host_key = generate_key_pair("ed25519").public_key

        # Warm up (the Git workers, the executor, the watches), then take stock.
        await sources.create("warm-up", http.repo_url("app.git"))
        await sources.ready_within("warm-up", 20)
        await sources.delete_all()
        threads, processes = own_threads(), descendants()
        ports = {h.port for h in hosts}

        for n, host in enumerate(hosts):
            await sources.create(f"stuck-{n:02d}", host.ssh_url(), within="3s",
                                 secret=ssh_secret(deploy_key, host.known_hosts(host_key)))

        async def some_connected() -> bool:
            return any(h.accepted > 0 for h in hosts)

        await async_wait_for(some_connected, timeout=10, what="stuck fetches to connect")
        assert sockets_to(ports) == 0  # the stuck connections live in the Git workers
        await sources.create("healthy", http.repo_url("app.git"))
        assert await sources.ready_within("healthy", 5) < 5

        # Each stuck source reports its own timeout, as Flux does (FetchFailed stays
        # while the next attempt runs; Ready says "building artifact" meanwhile).
        async def all_timed_out() -> list[dict[str, Any] | None] | None:
            conds = [await sources.ready_condition(f"stuck-{n:02d}", "FetchFailed")
                     for n in range(20)]
            done = all(c is not None and c["status"] == "True"
                       and c["reason"] == "GitOperationFailed" and "timed out after 3s"
                       in c["message"] for c in conds)
            return conds if done else None

        conds = await async_wait_for(all_timed_out, timeout=20, what="every stuck source failed")
        assert conds is not None and all(h.accepted > 0 for h in hosts)

        await sources.delete_all()
        pool = default_pool()

        async def settled() -> bool:
            stats = pool.stats()
            return (all(h.open_connections == 0 for h in hosts)
                    and stats.running == stats.long_running == stats.waiting == 0
                    and descendants() - processes <= pool.pids())

        # Every connection to a silent host was closed by the client, every
        # killed worker is gone (killed processes take a moment to be reaped).
        await async_wait_for(settled, timeout=10, what="stuck connections closed")
        assert own_threads() == threads
        assert not any(name.startswith("sluice-git") for name in own_threads())
        workers = pool.pids() - processes
        assert descendants() - processes <= pool.pids()
        assert len(workers) <= pool.max_idle
        assert sockets_to(ports) == 0
