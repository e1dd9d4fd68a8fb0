"""API server GET latency while a 10,000-file checkout and its artifact are made, vs idle.

    .venv/bin/python bench/bench_artifact_latency.py [--files 10000] [--rounds 3]
                                                     [--paths objects,thread]

Under ``sluice up`` the embedded cluster and the source controller share one
process and one event loop. The checkout runs in a git worker process and
the archive (tar, gzip, digest) in a worker thread; neither may stall the
loop, or every client of the cluster (kubectl, the controllers) waits. Here:

- the embedded cluster runs in this process (HTTPS, token), as under
  ``sluice up``;
- a prober in a child process (its own interpreter, so its timing is not
  the thing measured) GETs one ConfigMap over HTTPS every 10 ms and records
  each answer's latency;
- busy phase: this process checks out the repository's tip (served by
  ``git http-backend`` from another child process) and archives it, while
  the prober runs, by one of two paths (``--paths``, interleaved per round):
  ``objects``, what the GitRepository reconciler does (`checkout` without a
  work tree, then `Storage.archive_checkout`: a Git worker writes the
  tar.gz from the commit's objects), and ``thread``, what it did before
  (checkout writing the files, then `Storage.archive` on a thread of this
  process, whose Python work shares this interpreter with the API server);
- idle phase, right after each busy one: the prober runs as long again.

The Git pool is started before the first round (one ls-remote), as it is
in a running controller: its first start (a zygote importing pygit2) is
not what is measured.

Reported per path and phase: requests answered, p50, p99 and max latency,
and the loop's own stalls (how late 5 ms sleeps on it wake up): the prober's
latency also grows when the machine's cores are busy, the loop lag only when
this interpreter is.
Nothing is asserted; the ratio busy/idle is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sluice.apiserver.rest.registry import WriteOptions
from sluice.apiserver.server import EmbeddedCluster
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.git import GitRef, checkout, remote_revision
from sluice.core.sourceignore import load_ignore_rules

_PROBER = """
import json, ssl, sys, threading, time
import httpx
url, ca, token, path = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
headers = {"Authorization": "Bearer " + token}
with httpx.Client(base_url=url, verify=ctx, headers=headers) as client:
    client.get(path).raise_for_status()
    print("ready", flush=True)
    while sys.stdin.readline():  # "go": probe until the next line ("stop")
        stop = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
        out = []
        while not stop.is_set():
            t = time.perf_counter()
            client.get(path).raise_for_status()
            out.append(time.perf_counter() - t)
            time.sleep(0.01)
        print(json.dumps(out), flush=True)
"""


class Prober:
    """The child process probing the API server, one phase at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc, self.stdin, self.stdout = proc, proc.stdin, proc.stdout

    async def go(self) -> None:
        self.stdin.write(b"go\n")
        await self.stdin.drain()

    async def stop(self) -> list[float]:
        self.stdin.write(b"stop\n")
        await self.stdin.drain()
        return list(json.loads(await self.stdout.readline()))


class LoopLag:
    """How late 5 ms sleeps on this loop wake up, while the block runs (the loop's stalls)."""

    def __init__(self, out: list[float]) -> None:
        self.out = out
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _probe(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.out.append(time.perf_counter() - started - 0.005)

    async def __aenter__(self) -> LoopLag:
        self.task = asyncio.create_task(self._probe())
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task


def summary(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (f"{len(ms):>5} requests  p50 {statistics.median(ms):6.1f} ms  p99 {p99:6.1f} ms  "
            f"max {ms[-1]:6.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paths", default="objects,thread",
                        help="comma-separated: objects (today's reconciler), thread (before)")
    args = parser.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    bench_dir = Path(__file__).parent
    with tempfile.TemporaryDirectory(prefix="sluice-bench-lat-") as tmp:
        root = Path(tmp)
        git = await asyncio.create_subprocess_exec(
            sys.executable, str(bench_dir / "bench_git_artifact.py"), "--serve", str(root),
            "--files", str(args.files), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        assert git.stdout is not None and git.stdin is not None
        print((await git.stdout.readline()).decode().strip())
        url = (await git.stdout.readline()).decode().strip()
        async with EmbeddedCluster(root / "cluster", install_flux_crds=False) as cluster:
            assert cluster.cluster is not None
            cm = cluster.cluster.resource("", "v1", "configmaps")
            cluster.cluster.create(cm, "default", {"metadata": {"name": "probe"},
                                                   "data": {"k": "v"}}, WriteOptions())
            prober = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _PROBER, cluster.url, str(cluster.ca_file), cluster.token,
                "/api/v1/namespaces/default/configmaps/probe",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            assert prober.stdout is not None
            await prober.stdout.readline()
            probe = Prober(prober)
            storage = Storage(root / "store")

            async def work(dest: Path, path: str) -> float:
                """A GitRepository reconcile's work on a new revision; its duration."""
                started = time.perf_counter()
                if path == "objects":
                    commit = await checkout(url, GitRef(branch="main"), None, dest, timeout=300,
                                            worktree=False)
                    await storage.archive_checkout("GitRepository", "bench", "app",
                                                   f"{commit.hash}.tar.gz", dest,
                                                   commit.revision)
                else:
                    commit = await checkout(url, GitRef(branch="main"), None, dest, timeout=300)
                    await storage.archive("GitRepository", "bench", "app",
                                          f"{commit.hash}.tar.gz", dest, commit.revision,
                                          load_ignore_rules(dest))
                return time.perf_counter() - started

            # A running controller has its Git pool up (zygote and a worker): start
            # it now, not inside the first measured window.
            await remote_revision(url, GitRef(branch="main"))
            idle: dict[str, list[float]] = {p: [] for p in paths}
            busy: dict[str, list[float]] = {p: [] for p in paths}
            lag_idle: dict[str, list[float]] = {p: [] for p in paths}
            lag_busy: dict[str, list[float]] = {p: [] for p in paths}
            try:
                for n in range(args.rounds):
                    for path in paths:
                        dest = root / f"co-{n}-{path}"
                        await probe.go()
                        async with LoopLag(lag_busy[path]):
                            took = await work(dest, path)
                        busy[path] += await probe.stop()
                        await asyncio.to_thread(shutil.rmtree, dest)
                        await probe.go()
                        async with LoopLag(lag_idle[path]):
                            await asyncio.sleep(took)
                        idle[path] += await probe.stop()
                        print(f"round {n + 1} ({path}): checkout + artifact {took:.2f}s",
                              flush=True)
            finally:
                assert prober.stdin is not None
                prober.stdin.close()
                await prober.wait()
                git.stdin.close()
                await git.wait()
    for path in paths:
        print(f"{path:>7} idle:                      {summary(idle[path])}")
        print(f"{path:>7} during checkout + archive: {summary(busy[path])}")
        print(f"{path:>7} p99 ratio busy/idle: {_p99(busy[path]) / _p99(idle[path]):.2f}x")
        print(f"{path:>7} event-loop lag (5 ms sleeps) idle: max {max(lag_idle[path]) * 1000:.1f} ms"
              f" | busy: max {max(lag_busy[path]) * 1000:.1f} ms,"
              f" p99 {_p99(lag_busy[path]) * 1000:.1f} ms")


def _p99(latencies: list[float]) -> float:
    ms = sorted(latencies)
    return ms[min(len(ms) - 1, int(len(ms) * 0.99))]


if __name__ == "__main__":
    asyncio.run(main())
