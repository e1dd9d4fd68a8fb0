"""Cost of a GitRepository poll that finds no change, end to end and in parts.

Most reconciles of a GitRepository find the same revision as last time.
Flux (and Sluice) answer those with one ls-remote and no clone, so their
cost should not grow with the repository. This benchmark runs the real
controller against an embedded cluster (HTTPS, in a background thread, as
under the test suite) and a loopback smart-HTTP Git server (its own
process, so it does not share our GIL), then measures:

* ``poll``: patch ``reconcile.fluxcd.io/requestedAt`` and wait until
  ``status.lastHandledReconcileAt`` shows it: the whole no-change reconcile
  (watch event, queue, ls-remote, status write, watch event back);
* ``ls-remote``: `remote_revision` alone, the Git part of that poll;
* ``new revision``: the same round trip when a commit was pushed (clone,
  archive, store, status), for comparison.

Run by hand (not part of the test suite):

    .venv/bin/python bench/bench_git_poll.py [--files 10000] [--polls 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster_process import GitServerProcess

from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.git import GitRef, remote_revision
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.kube.config import connect
from sluice.kube.objects import Obj
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.background import BackgroundCluster
from sluice.testing.gitserver import GitRepo

API = "source.toolkit.fluxcd.io/v1"


def make_files(count: int) -> dict[str, str]:
    return {f"apps/team-{n % 100:02d}/cm-{n:05d}.yaml":
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n:05d}\n" for n in range(count)}


def summary(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return (f"{name:<14} n={len(ms):<3} median {statistics.median(ms):8.1f} ms   "
            f"p90 {p90:8.1f} ms   min {ms[0]:8.1f} ms")


async def wait_until(get: Callable[[], Any], check: Callable[[Obj], bool],
                     limit: float = 120.0) -> Obj:
    deadline = time.monotonic() + limit
    while True:
        obj = await get()
        if check(obj):
            return obj
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark object did not reach the expected state")
        await asyncio.sleep(0.002)


async def run(repo: GitRepo, url: str, polls: int, work: Path) -> None:
    cluster = BackgroundCluster(work / "cluster", bookmark_interval=5.0).start()
    conn = connect(cluster.kubeconfig)
    artifacts = ArtifactServer(work / "artifacts", "127.0.0.1", 0)
    (work / "artifacts").mkdir()
    await artifacts.start()
    manager = Manager(conn, ManagerOptions(watch_namespace="default", metrics_addr=None))
    await setup_gitrepository_controller(manager, Storage(work / "artifacts", artifacts.address))
    await manager.start()
    try:
        objects = manager.objects
        repos = await objects.mapping(API, "GitRepository")
        await objects.create(repos, {
            "apiVersion": API, "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"url": url, "interval": "24h", "ref": {"branch": "main"}}})

        async def get() -> Obj:
            return await objects.get(repos, "app", "default")

        def revision(obj: Obj) -> str:
            return str(((obj.get("status") or {}).get("artifact") or {}).get("revision", ""))

        t = time.perf_counter()
        await wait_until(get, lambda o: revision(o).endswith(repo.head()))
        print(f"first artifact: {time.perf_counter() - t:.2f}s")

        async def request(value: str) -> float:
            started = time.perf_counter()
            await objects.merge_patch(repos, "app", {"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": value}}}, "default")
            await wait_until(get, lambda o: (o.get("status") or {}).get(
                "lastHandledReconcileAt") == value)
            return time.perf_counter() - started

        poll = [await request(f"poll-{i}") for i in range(polls)]
        ls = []
        for _ in range(polls):
            started = time.perf_counter()
            await remote_revision(url, GitRef(branch="main"))
            ls.append(time.perf_counter() - started)
        new = []
        for i in range(max(3, polls // 10)):
            sha = repo.commit({f"extra/{i}.yaml": f"n: {i}\n"}, f"change {i}")
            started = time.perf_counter()
            await objects.merge_patch(repos, "app", {"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": f"new-{i}"}}}, "default")
            await wait_until(get, lambda o, s=sha: revision(o).endswith(s))
            new.append(time.perf_counter() - started)
        print(summary("poll", poll))
        print(summary("ls-remote", ls))
        print(summary("new revision", new))
        print(f"no-change poll / new revision: {statistics.median(poll) / statistics.median(new):.3f}")
    finally:
        await manager.shutdown()
        await artifacts.close()
        await conn.aclose()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=None, help="working directory (tmpfs?)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        repo = GitRepo(work / "git" / "app.git")
        t = time.perf_counter()
        repo.commit(make_files(args.files), "initial")
        print(f"repository: {args.files} files, committed in {time.perf_counter() - t:.2f}s")
        server = GitServerProcess(work / "git")
        try:
            url = server.url + "/app.git"
            asyncio.run(run(repo, url, args.polls, work))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
