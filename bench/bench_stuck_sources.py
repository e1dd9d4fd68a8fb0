"""Latency of an unrelated GitRepository reconcile while N sources hang on a silent host.

Issue 15 (finding 5): with 20 GitRepositories on a host that accepts TCP and
never answers (``timeout: 60s``), an unrelated healthy one took 295 s to
become Ready instead of 0.28 s, and every timed-out fetch leaked a thread and
a socket. This bench runs the real GitRepository controller in this process
(its Git work in the pool's worker processes) against ``sluice cluster up``
in a child process and a smart-HTTP Git server in another, and for each N
(0 first: the baseline of the same run):

1. creates N SSH GitRepositories spread over ``--hosts`` `SilentHost`s (one
   by default; ``spec.timeout`` ``--timeout``, 60 s as in the issue) and
   waits until their fetches hang: every one handed to the Git pool, and the
   connections to the silent hosts steady for 3 s (the pool admits only part
   of one host's operations, the others wait in its queue);
2. creates a healthy GitRepository and measures the time until it is
   Ready (``ready``), then the round trip of ``--polls`` reconcile requests
   on it (``reconcile``: annotation patched -> lastHandledReconcileAt);
3. deletes everything and, once the silent host saw every connection
   closed (and killed workers were reaped, 15 s at most), prints what is
   left over the stock taken before: threads, sockets to the silent host,
   processes beyond the Git pool's. Also printed: hung operations admitted
   (``hung``), and operations the pool ended early to free a slot
   (``preempted``, when more hosts hang than its long lane holds).

Run by hand (not part of the test suite):

    .venv/bin/python bench/bench_stuck_sources.py [--counts 0,1,20,100] [--timeout 60] [--hosts 1]

Nothing is asserted; ratios are against N = 0.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cluster_process import ClusterProcess, GitServerProcess

from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.core.sshkeys import generate_key_pair
from sluice.git.pool import default_pool
from sluice.kube.config import connect
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitRepo
from sluice.testing.leaks import descendants, own_threads, sockets_to
from sluice.testing.silenthost import SilentHost

API = "source.toolkit.fluxcd.io/v1"
NS = "default"

async def until(check: Callable[[], Awaitable[Any]], limit: float, what: str) -> Any:
    deadline = time.monotonic() + limit
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: {what} not reached within {limit:g}s")
        await asyncio.sleep(0.005)


def ready(obj: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


class Bench:
    def __init__(self, objects: Objects, repos: ResourceMapping, secrets: ResourceMapping,
                 healthy_url: str, silent: list[SilentHost], timeout: int) -> None:
        self.objects, self.repos, self.secrets = objects, repos, secrets
        self.healthy_url, self.silent, self.timeout = healthy_url, silent, timeout
        key = generate_key_pair("ed25519")
        host_key = generate_key_pair("ed25519").public_key
        self.ssh_data = {k: base64.b64encode(
            v if isinstance(v, bytes) else v.encode()).decode() for k, v in {
            "identity": key.private_key, "identity.pub": key.public_key,
            "known_hosts": "\n".join(h.known_hosts(host_key) for h in silent)}.items()}

    @property
    def accepted(self) -> int:
        return sum(h.accepted for h in self.silent)

    @property
    def open_connections(self) -> int:
        return sum(h.open_connections for h in self.silent)

    async def create(self, name: str, url: str, within: str, secret: str | None) -> None:
        spec: dict[str, Any] = {"url": url, "interval": "1h", "timeout": within,
                                "ref": {"branch": "main"}}
        if secret:
            spec["secretRef"] = {"name": secret}
        await self.objects.create(self.repos, {"apiVersion": API, "kind": "GitRepository",
                                               "metadata": {"name": name, "namespace": NS},
                                               "spec": spec})

    async def get(self, name: str) -> Obj:
        return await self.objects.get(self.repos, name, NS)

    async def round(self, n: int, polls: int) -> tuple[float, list[float], int]:
        if n:
            await self.objects.create(self.secrets, {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "silent-ssh", "namespace": NS}, "data": self.ssh_data})
        before = self.accepted
        for i in range(n):
            host = self.silent[i % len(self.silent)]
            await self.create(f"stuck-{i:03d}", host.ssh_url(f"repo-{i}.git"),
                              f"{self.timeout}s", "silent-ssh")
        pool = default_pool()
        steady = [-1, time.monotonic()]  # connections seen, since when

        async def hung() -> bool:
            stats, seen = pool.stats(), self.accepted - before
            if seen != steady[0]:
                steady[:] = [seen, time.monotonic()]
            return (stats.running + stats.long_running + stats.waiting >= n
                    and seen >= stats.running + stats.long_running
                    and time.monotonic() - steady[1] >= 3)

        await until(hung, 60, f"{n} fetches hanging")
        hanging = self.accepted - before
        started = time.perf_counter()
        await self.create("healthy", self.healthy_url, "60s", None)
        await until(lambda: self._ready("healthy"), 600, "healthy Ready")
        first = time.perf_counter() - started
        trips = []
        for i in range(polls):
            value = f"poll-{n}-{i}"
            started = time.perf_counter()
            await self.objects.merge_patch(self.repos, "healthy", {"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": value}}}, NS)

            async def handled(value: str = value) -> bool:
                return (await self.get("healthy")).get("status", {}).get(
                    "lastHandledReconcileAt") == value

            await until(handled, 600, "reconcile request handled")
            trips.append(time.perf_counter() - started)
        return first, trips, hanging

    async def _ready(self, name: str) -> bool:
        return ready(await self.get(name))

    async def clean(self) -> None:
        items, _ = await self.objects.list(self.repos, NS)
        for item in items:
            await self.objects.delete(self.repos, item["metadata"]["name"], NS)
        secrets, _ = await self.objects.list(self.secrets, NS)
        for item in secrets:
            if item["metadata"]["name"] == "silent-ssh":
                await self.objects.delete(self.secrets, "silent-ssh", NS)

        async def gone() -> bool:
            pool = default_pool().stats()
            return (not (await self.objects.list(self.repos, NS))[0]
                    and self.open_connections == 0
                    and pool.running == pool.long_running == pool.waiting == 0)

        await until(gone, 120, "objects deleted and connections closed")


async def run(healthy_url: str, counts: list[int], within: int, polls: int, hosts: int,
              work: Path) -> None:
    cluster = ClusterProcess(work / "cluster")
    conn = connect(cluster.kubeconfig)
    (work / "artifacts").mkdir()
    artifacts = ArtifactServer(work / "artifacts", "127.0.0.1", 0)
    await artifacts.start()
    manager = Manager(conn, ManagerOptions(watch_namespace=NS, metrics_addr=None))
    await setup_gitrepository_controller(manager, Storage(work / "artifacts", artifacts.address))
    await manager.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            silent = [await stack.enter_async_context(SilentHost()) for _ in range(hosts)]
            objects = manager.objects
            bench = Bench(objects, await objects.mapping(API, "GitRepository"),
                          await objects.mapping("v1", "Secret"), healthy_url, silent, within)
            # Warm up the Git workers, the watches and the executor, then take stock.
            await bench.create("healthy", healthy_url, "60s", None)
            await until(lambda: bench._ready("healthy"), 60, "warm-up Ready")
            await bench.clean()
            threads, processes = own_threads(), descendants()
            pool = default_pool()
            print(f"pool: {pool.max_workers} shared slots, {pool.max_long} long-lane; "
                  f"stuck sources' spec.timeout {within}s on {hosts} silent host(s); "
                  f"{polls} reconcile requests per N")
            base_ready = base_trip = 0.0
            for n in counts:
                preempted = pool.stats().preempted
                first, trips, hung = await bench.round(n, polls)
                preempted = pool.stats().preempted - preempted
                trip = statistics.median(trips) if trips else 0.0
                if n == counts[0]:
                    base_ready, base_trip = first, trip
                await bench.clean()

                async def reaped() -> bool:
                    # Killed workers take a moment to be reaped by the zygote.
                    return not descendants() - processes - pool.pids()

                with contextlib.suppress(TimeoutError):
                    await until(reaped, 15, "killed workers reaped")
                left_threads = len(own_threads()) - len(threads)
                left_procs = len(descendants() - processes - pool.pids())
                print(f"N={n:<4} ready {first * 1000:8.1f} ms (x{first / base_ready:5.1f})  "
                      f"reconcile median {trip * 1000:7.1f} ms max {max(trips) * 1000:7.1f} ms "
                      f"(x{trip / base_trip:5.1f})  hung {hung}, preempted {preempted}  "
                      f"left: threads {left_threads:+d}, "
                      f"sockets {sockets_to({h.port for h in silent})}, processes {left_procs}, "
                      f"connections {bench.open_connections}")
    finally:
        await manager.shutdown()
        await artifacts.close()
        await conn.aclose()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="0,1,20,100")
    parser.add_argument("--timeout", type=int, default=60, help="stuck sources' spec.timeout")
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--hosts", type=int, default=1,
                        help="silent hosts the stuck sources are spread over")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        GitRepo(work / "git" / "app.git").commit({"app.yaml": "a: 1\n"}, "initial")
        server = GitServerProcess(work / "git")
        try:
            url = server.url + "/app.git"
            asyncio.run(run(url, counts, args.timeout, args.polls, args.hosts, work))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
