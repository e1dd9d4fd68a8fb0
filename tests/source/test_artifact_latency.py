"""The API server keeps answering while a 10,000-file repository is checked out and archived.

Under ``sluice up`` the embedded cluster and the source controller share one
process and one event loop. Here both are on the test's loop: the cluster
(`EmbeddedCluster`, HTTPS) and what a GitRepository reconcile does on a new
revision (`checkout` without a work tree, then `Storage.archive_checkout`,
the tar.gz written by a Git worker). Meanwhile a client thread GETs a
ConfigMap over and over and a probe on the loop measures how late its
5 ms sleeps wake up. No timed asserts: requests must be *answered while the
work is in progress* (ordering), and the loop's longest stall during the work
must stay small against the work itself and against the same probe's idle
baseline, taken in this test. Archiving on the loop (or holding the GIL for
the whole tree) fails both.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from pathlib import Path

import httpx

from sluice.apiserver.rest.registry import WriteOptions
from sluice.apiserver.server import EmbeddedCluster
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.git import GitRef, checkout
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

FILES = 10_000
PROBE = "/api/v1/namespaces/default/configmaps/probe"


def _files() -> dict[str, str]:
    return {f"apps/team-{n % 100:02d}/cm-{n:05d}.yaml":
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n:05d}\n" for n in range(FILES)}


class _Prober(threading.Thread):
    """A client of the cluster in its own thread: (sent, answered) of every GET."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        super().__init__(name="api-prober", daemon=True)
        self.url, self.token = cluster.url, cluster.token
        self.ctx = ssl.create_default_context(cafile=str(cluster.ca_file))
        self.answers: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, verify=self.ctx, timeout=30,
                              headers={"Authorization": f"Bearer {self.token}"}) as client:
                while not self.stop.is_set():
                    sent = time.perf_counter()
                    client.get(PROBE).raise_for_status()
                    self.answers.append((sent, time.perf_counter()))
                    self.stop.wait(0.002)
        except BaseException as err:
            self.failure = err


async def _lag_probe(stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    """(when, how late) of each 5 ms sleep on this loop."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        out.append((started, time.perf_counter() - started - 0.005))


async def test_api_answers_during_a_big_checkout_and_archive(
        http_server: GitHTTPServer, tmp_path: Path) -> None:
    repo = await asyncio.to_thread(http_server.create_repo, "big.git", _files())
    # Packed, as forges serve them (loose objects make the server's side dominate).
    repack = await asyncio.create_subprocess_exec("git", "-C", str(repo.path), "repack", "-a",
                                                  "-d", "-q")
    assert await repack.wait() == 0
    storage = Storage(tmp_path / "store")
    async with EmbeddedCluster(tmp_path / "cluster", install_flux_crds=False) as cluster:
        assert cluster.cluster is not None
        cluster.cluster.create(cluster.cluster.resource("", "v1", "configmaps"), "default",
                               {"metadata": {"name": "probe"}, "data": {"k": "v"}},
                               WriteOptions())
        prober = _Prober(cluster)
        prober.start()
        stop = asyncio.Event()
        lags: list[tuple[float, float]] = []
        lag_task = asyncio.create_task(_lag_probe(stop, lags))
        try:
            # Idle baseline first: the same probes with nothing else going on.
            idle_from = time.perf_counter()
            async def baseline_taken() -> bool:
                return len(prober.answers) >= 50 or prober.failure is not None

            await async_wait_for(baseline_taken, interval=0.01, what="50 idle GETs answered")
            idle_until = time.perf_counter()

            started = time.perf_counter()
            commit = await checkout(http_server.repo_url("big.git"), GitRef(branch="main"),
                                    None, tmp_path / "co", worktree=False)
            fetched = time.perf_counter()
            artifact = await storage.archive_checkout(
                "GitRepository", "default", "big", f"{commit.hash}.tar.gz", tmp_path / "co",
                commit.revision)
            ended = time.perf_counter()
        finally:
            prober.stop.set()
            stop.set()
            await asyncio.to_thread(prober.join, 30)
            await lag_task
    assert prober.failure is None, prober.failure
    assert artifact.size > 0 and storage.exists(artifact.path)

    idle_lag = max(lag for t, lag in lags if idle_from <= t < idle_until)
    for step, since, until in (("checkout", started, fetched), ("archive", fetched, ended)):
        # Ordering: requests sent after the step began were answered before it ended.
        answered = [a for s, a in prober.answers if s > since and a < until]
        assert len(answered) >= 5, (step, len(answered), until - since)
        # The loop never stalled for long: against the step's own length and
        # against the idle baseline (a loaded machine slows both alike).
        # No probe started within the step: the loop was stalled all along.
        stall = max((lag for t, lag in lags if since <= t < until), default=until - since)
        assert stall < max((until - since) / 4, 3 * idle_lag), (step, stall, idle_lag)
