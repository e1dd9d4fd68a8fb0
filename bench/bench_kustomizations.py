"""Flux's Kustomization benchmark shape: N Kustomizations until all are Ready, and peak memory.

    .venv/bin/python bench/bench_kustomizations.py [--sizes 100,500,1000] [--concurrent 10]

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
  the resident set before the controllers started.

Each N runs in its own process so that peak memory is per size. Nothing is
asserted; the table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
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

from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.reconciler import KustomizationOptions
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.kube.config import connect
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitHTTPServer

NAMESPACE = "flux-system"
TARGET = "bench-apps"


def rss_mib() -> float:
    """Current resident set of this process."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


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


async def measure(kubeconfig: Path, url: str, n: int, concurrent: int, work: Path
                  ) -> dict[str, Any]:
    baseline = rss_mib()
    conn = connect(kubeconfig)
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
        return {"n": n, "seconds": round(elapsed, 2), "create_seconds": round(created, 2),
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


def run_one(n: int, concurrent: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sluice-bench-ks-"))
    cluster = ClusterProcess(work / "cluster")
    git = subprocess.Popen([sys.executable, __file__, "--serve", str(work / "git"), "--n",
                            str(n)], stdout=subprocess.PIPE, text=True)
    try:
        assert git.stdout is not None
        url = git.stdout.readline().strip()
        if not url:
            raise SystemExit("the git server did not start")
        return asyncio.run(measure(cluster.kubeconfig, url, n, concurrent, work))
    finally:
        git.terminate()
        git.wait(30)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve), args.n))
        return
    if args.n:
        print(json.dumps(run_one(args.n, args.concurrent)), flush=True)
        return
    print(f"{'N':>6} {'all Ready':>10} {'created in':>10} {'peak RSS':>10} {'start RSS':>10}")
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--n", str(size), "--concurrent",
                              str(args.concurrent)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{size:>6} failed:\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>6} {r['seconds']:>9.1f}s {r['create_seconds']:>9.1f}s "
              f"{r['peak_rss_mib']:>7.0f} MiB {r['baseline_rss_mib']:>6.0f} MiB", flush=True)
    print(f"(--concurrent {args.concurrent}; Flux: 1,000 in 4m13s / 223 MiB on 16 cores)")


if __name__ == "__main__":
    main()
