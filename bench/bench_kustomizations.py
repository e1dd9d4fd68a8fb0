"""Flux's Kustomization benchmark shape: N Kustomizations until all are Ready, and peak memory.

    .venv/bin/python bench/bench_kustomizations.py [--sizes 100,500,1000] [--concurrent 10]
        [--against ../main/src] [--up https,inprocess] [--rounds 2]

Flux's published figure (flux-benchmark, 16-core runner): 1,000
Kustomizations, each applying a ServiceAccount, a Service, a Deployment
scaled to zero and an Ingress from one source, all Ready in 4 min 13 s with
the controllers using 223 MiB. Here, for each N:

- a fresh embedded cluster runs in a child process (HTTPS, token), and the
  Git repository (one folder of four objects per Kustomization) is served
  by ``git http-backend`` from another child process, so neither shares the
  measured interpreter;
- this process runs the source and Kustomization controllers (manager,
  informers, artifact server), as ``sluice controllers run`` does;
- a GitRepository is created and waited for, then the N Kustomizations
  (``wait: true``, ``prune: true``) are created at once; the clock runs
  from the first creation until every one is ``Ready=True`` (read from the
  controllers' own informer cache, so polling costs no API calls);
- memory is the process's peak resident set (``ru_maxrss``), reported with
  the resident set before the controllers started;
- CPU seconds spent from the first creation until all are Ready, by this
  process (the controllers) and by the API server's process: on a shared,
  loaded machine wall time varies with the neighbours, CPU time much less,
  so compare levers by both.

Each N runs in its own process so that peak memory is per size. Nothing is
asserted; the table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from cluster_process import ClusterProcess

from sluice.apiserver.server import EmbeddedCluster
from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.reconciler import KustomizationOptions
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.kube.config import Connection, connect
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitHTTPServer

NAMESPACE = "flux-system"
# The client `sluice controllers run` builds (aiohttp's HTTP client under httpx), when the
# code under test has it; a tree from before it (--against) runs with httpx's own.
FAST = {"fast_http": True} if "fast_http" in inspect.signature(connect).parameters else {}
TARGET = "bench-apps"


def rss_mib() -> float:
    """Current resident set of this process."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of this process (all threads), or of process `pid`."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def app_files(n: int) -> dict[str, str]:
    """The four objects of Flux's benchmark, one folder per Kustomization."""
    files = {}
    for i in range(n):
        name = f"app-{i:04d}"
        objs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": name, "namespace": TARGET}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": name, "namespace": TARGET},
             "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}},
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": name, "namespace": TARGET},
             "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                      "template": {"metadata": {"labels": {"app": name}}, "spec": {
                          "serviceAccountName": name,
                          "containers": [{"name": "app",
                                          "image": "ghcr.io/stefanprodan/podinfo:6.9.2",
                                          "ports": [{"containerPort": 8080}]}]}}}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
             "metadata": {"name": name, "namespace": TARGET},
             "spec": {"rules": [{"host": f"{name}.example.com", "http": {"paths": [
                 {"path": "/", "pathType": "Prefix", "backend": {"service": {
                     "name": name, "port": {"number": 80}}}}]}}]}},
        ]
        files[f"apps/{name}/manifests.yaml"] = yaml.safe_dump_all(objs)
    return files


async def serve(root: Path, n: int) -> None:
    """Child process: author and serve the repository, print its URL, run until killed."""
    async with GitHTTPServer(root) as server:
        repo = server.create_repo("fleet.git", app_files(n))
        await asyncio.to_thread(subprocess.run, ["git", "-C", str(repo.path), "gc", "-q"],
                                check=True)
        print(server.repo_url("fleet.git"), flush=True)
        await asyncio.Event().wait()


async def measure_up(url: str, n: int, concurrent: int, work: Path, up: str
                     ) -> dict[str, Any]:
    """As under ``sluice up``: the cluster in this process, its client HTTPS or in-process."""
    async with EmbeddedCluster(work / "cluster") as cluster:
        transport = cluster.in_process_transport() if up == "inprocess" else None
        return await measure(connect(cluster.kubeconfig, transport=transport, **FAST), url, n,
                             concurrent, work, None)


async def measure(conn: Connection, url: str, n: int, concurrent: int, work: Path,
                  server_pid: int | None) -> dict[str, Any]:
    baseline = rss_mib()
    server = ArtifactServer(work / "artifacts", "127.0.0.1", 0)
    (work / "artifacts").mkdir()
    await server.start()
    manager = Manager(conn, ManagerOptions(metrics_addr=None, concurrent=concurrent))
    try:
        await setup_gitrepository_controller(manager, Storage(work / "artifacts", server.address))
        ks_controller = await setup_kustomization_controller(
            manager, KustomizationOptions(concurrent=concurrent, health_poll=1.0,
                                          work_dir=work))
        await manager.start()
        objects = manager.objects
        ns_map = await objects.mapping("v1", "Namespace")
        for ns in (NAMESPACE, TARGET):
            if await objects.get_or_none(ns_map, ns) is None:
                await objects.create(ns_map, {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": ns}})
        git_map = await objects.mapping("source.toolkit.fluxcd.io/v1", "GitRepository")
        await objects.create(git_map, {
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": NAMESPACE},
            "spec": {"interval": "1h", "url": url, "ref": {"branch": "main"}}})
        while True:
            repo = await objects.get(git_map, "fleet", NAMESPACE)
            if (repo.get("status") or {}).get("artifact"):
                break
            await asyncio.sleep(0.2)

        ks_map = await objects.mapping("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
        sem = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with sem:
                await objects.create(ks_map, {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": f"app-{i:04d}", "namespace": NAMESPACE},
                    "spec": {"interval": "1h", "path": f"./apps/app-{i:04d}", "prune": True,
                             "wait": True, "timeout": "5m",
                             "sourceRef": {"kind": "GitRepository", "name": "fleet"}}})

        started = time.perf_counter()
        cpu_before = cpu_seconds()
        server_before = cpu_seconds(server_pid) if server_pid else 0.0
        await asyncio.gather(*(create(i) for i in range(n)))
        created = time.perf_counter() - started
        informer = ks_controller.informer
        ready = 0
        while True:
            ready = sum(1 for o in informer.list(NAMESPACE) if _ready(o))
            if ready >= n:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_before
        server_cpu = cpu_seconds(server_pid) - server_before if server_pid else 0.0
        return {"n": n, "seconds": round(elapsed, 2), "create_seconds": round(created, 2),
                "cpu_seconds": round(cpu, 1), "server_cpu_seconds": round(server_cpu, 1),
                "peak_rss_mib": round(peak_rss_mib(), 1), "baseline_rss_mib": round(baseline, 1),
                "concurrent": concurrent}
    finally:
        await manager.shutdown()
        await server.close()
        await conn.aclose()


def _ready(obj: dict[str, Any]) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def run_one(n: int, concurrent: int, up: str | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sluice-bench-ks-"))
    cluster = None if up else ClusterProcess(work / "cluster")
    git = subprocess.Popen([sys.executable, __file__, "--serve", str(work / "git"), "--n",
                            str(n)], stdout=subprocess.PIPE, text=True)
    try:
        assert git.stdout is not None
        url = git.stdout.readline().strip()
        if not url:
            raise SystemExit("the git server did not start")
        if cluster is None:
            return asyncio.run(measure_up(url, n, concurrent, work, str(up)))
        return asyncio.run(measure(connect(cluster.kubeconfig, **FAST), url, n, concurrent,
                                   work, cluster.proc.pid))
    finally:
        git.terminate()
        git.wait(30)
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--against", metavar="SRC",
                        help="also run each size with PYTHONPATH=SRC (another tree's src/), "
                             "interleaved with this tree's, as the baseline of the same run")
    parser.add_argument("--up", metavar="https,inprocess",
                        help="run the cluster in this process as `sluice up` does, its client "
                             "over HTTPS and/or through the in-process transport (comma list: "
                             "one variant each; 'CPU ctrl' then counts both sides)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per size and variant")
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve), args.n))
        return
    if args.n:
        print(json.dumps(run_one(args.n, args.concurrent, args.up)), flush=True)
        return
    # (label, environment, extra arguments) of each variant, run interleaved per size.
    variants: list[tuple[str, dict[str, str], list[str]]] = []
    for up in (args.up.split(",") if args.up else [""]):
        extra = ["--up", up] if up else []
        label = f"sluice up, {up}" if up else "cluster in a child process, HTTPS"
        if args.against:
            # The same bench driving another checkout's code (e.g. main's src/): the
            # baseline runs in the same session, interleaved, so both see the same load.
            env = dict(os.environ, PYTHONPATH=str(Path(args.against).resolve()))
            variants.append((f"{label} (against {args.against})", env, extra))
        variants.append((label, dict(os.environ), extra))
    print(f"{'N':>6} {'all Ready':>10} {'created in':>10} {'peak RSS':>10} {'start RSS':>10} "
          f"{'CPU ctrl':>9} {'CPU api':>9}  variant")
    for size in (int(s) for s in args.sizes.split(",")):
        for _ in range(args.rounds):
            for label, env, extra in variants:
                out = subprocess.run([sys.executable, __file__, "--n", str(size), "--concurrent",
                                      str(args.concurrent), *extra],
                                     capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    print(f"{size:>6} failed ({label}):\n{out.stderr[-2000:]}")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"{r['n']:>6} {r['seconds']:>9.1f}s {r['create_seconds']:>9.1f}s "
                      f"{r['peak_rss_mib']:>7.0f} MiB {r['baseline_rss_mib']:>6.0f} MiB "
                      f"{r['cpu_seconds']:>8.1f}s {r['server_cpu_seconds']:>8.1f}s  {label}",
                      flush=True)
    print(f"(--concurrent {args.concurrent}; Flux: 1,000 in 4m13s / 223 MiB on 16 cores)")


if __name__ == "__main__":
    main()
