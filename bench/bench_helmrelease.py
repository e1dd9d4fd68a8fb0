"""Flux's HelmRelease benchmark shape: N HelmReleases of a small chart to Ready, peak memory.

    .venv/bin/python bench/bench_helmrelease.py [--sizes 100,300] [--concurrent 10]

Flux's published figure (flux-benchmark, 16-core runner): 1,000
HelmReleases Ready in 4 min 39 s with the controllers using 361 MiB. Here,
for each N, in its own process (so peak memory is per size):

- a fresh embedded cluster runs in a child process (HTTPS, token) and the
  Helm repository (``index.yaml`` and one small chart: a ServiceAccount, a
  Service and a Deployment scaled to zero, as Flux's benchmark) is served
  from another child process, so neither shares the measured interpreter;
- this process runs the HelmRepository, HelmChart and HelmRelease
  controllers (manager, informers, artifact server, Helm's SDK workers), as
  ``sluice controllers run`` does;
- the N HelmReleases are created at once, each with ``spec.chart`` (so N
  HelmCharts are generated and pulled too, as in Flux) and its own
  ``releaseName`` in one target namespace; the clock runs from the first
  creation until every one is ``Ready=True`` (read from the controller's
  informer cache: polling costs no API call);
- **no-change reconcile**: then every HelmRelease gets a new
  ``reconcile.fluxcd.io/requestedAt``; the wall time until all have handled
  it and this process's CPU time per reconcile are reported (nothing to
  release: no Helm action runs);
- **baseline**, same run, same cluster, same chart: N plain Helm installs
  through the SDK (``Config.install``, same worker bound, no controller),
  the floor any Helm-driving controller stands on; the ratio is printed.

Memory is the process's peak resident set (``ru_maxrss``), with the resident
set before the controllers started. Nothing is asserted.
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

from cluster_process import ClusterProcess

from sluice.controllers.helmrelease.controller import setup_helmrelease_controller
from sluice.controllers.helmrelease.reconciler import HelmReleaseOptions
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.helmchart import setup_helmchart_controller
from sluice.controllers.source.helmrepository import setup_helmrepository_controller
from sluice.kube.config import connect
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.helmrepo import HelmRepoServer, build_chart

NAMESPACE = "flux-system"
TARGET = "bench-apps"
HR_API = "helm.toolkit.fluxcd.io/v2"

CHART_FILES = {
    "templates/all.yaml": """apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 0
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      serviceAccountName: {{ .Release.Name }}
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.9.2
          ports:
            - containerPort: 8080
""",
}


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def serve(root: Path) -> None:
    """Child process: the Helm repository with the one chart; prints its URL."""
    archive = build_chart(root / "charts", "bench", "1.0.0", CHART_FILES)
    async with HelmRepoServer(root / "repo") as server:
        server.add_chart(archive)
        print(server.url, flush=True)
        await asyncio.Event().wait()


def _ready(obj: dict[str, Any]) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


async def _until(check: Any, interval: float = 0.2) -> None:
    while True:
        if check():
            return
        await asyncio.sleep(interval)  # polling the informer cache: no API call


async def baseline(kubeconfig: Path, n: int, chart: Path) -> float:
    """N plain Helm installs of the same chart, through the SDK's bounded workers."""
    from sluice.helmsdk import helm
    from sluice.helmsdk import run as helm_run

    sdk = helm()
    cfg = sdk.Config(kubeconfig_path=str(kubeconfig), namespace="bench-baseline")
    loaded = sdk.Chart.load(str(chart))
    try:
        started = time.perf_counter()
        await asyncio.gather(*(helm_run(cfg.install, loaded, f"base-{i:04d}", {},
                                        namespace="bench-baseline", wait="watcher",
                                        timeout=300)
                               for i in range(n)))
        return time.perf_counter() - started
    finally:
        loaded.close()
        cfg.close()


async def measure(kubeconfig: Path, url: str, n: int, concurrent: int, work: Path,
                  chart: Path) -> dict[str, Any]:
    base_rss = rss_mib()
    conn = connect(kubeconfig)
    (work / "artifacts").mkdir()
    server = ArtifactServer(work / "artifacts", "127.0.0.1", 0)
    await server.start()
    storage = Storage(work / "artifacts", server.address)
    manager = Manager(conn, ManagerOptions(metrics_addr=None, concurrent=concurrent))
    try:
        await setup_helmrepository_controller(manager, storage)
        await setup_helmchart_controller(manager, storage)
        hr_controller = await setup_helmrelease_controller(
            manager, HelmReleaseOptions(concurrent=concurrent, source_retry=1.0))
        await manager.start()
        objects = manager.objects
        ns_map = await objects.mapping("v1", "Namespace")
        for ns in (NAMESPACE, TARGET, "bench-baseline"):
            if await objects.get_or_none(ns_map, ns) is None:
                await objects.create(ns_map, {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": ns}})
        repo_map = await objects.mapping("source.toolkit.fluxcd.io/v1", "HelmRepository")
        await objects.create(repo_map, {
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "bench", "namespace": NAMESPACE},
            "spec": {"interval": "1h", "url": url}})
        hr_map = await objects.mapping(HR_API, "HelmRelease")
        sem = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with sem:
                await objects.create(hr_map, {
                    "apiVersion": HR_API, "kind": "HelmRelease",
                    "metadata": {"name": f"app-{i:04d}", "namespace": NAMESPACE},
                    "spec": {"interval": "1h", "releaseName": f"app-{i:04d}",
                             "targetNamespace": TARGET, "timeout": "5m",
                             "chart": {"spec": {"chart": "bench", "version": "*",
                                                "interval": "1h", "sourceRef": {
                                                    "kind": "HelmRepository",
                                                    "name": "bench"}}}}})

        informer = hr_controller.informer
        started = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(n)))
        created = time.perf_counter() - started
        await _until(lambda: sum(1 for o in informer.list(NAMESPACE) if _ready(o)) >= n)
        elapsed = time.perf_counter() - started
        peak_install = peak_rss_mib()

        # No-change reconciles: every HelmRelease asked once; nothing to release.
        stamp = f"bench-{time.time_ns()}"
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(objects.merge_patch(hr_map, f"app-{i:04d}", {
            "metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
            NAMESPACE) for i in range(n)))

        def handled() -> bool:
            return sum(1 for o in informer.list(NAMESPACE)
                       if (o.get("status") or {}).get("lastHandledReconcileAt") == stamp) >= n

        await _until(handled, 0.05)
        noop_wall = time.perf_counter() - wall0
        noop_cpu = time.process_time() - cpu0
        revisions = {(o.get("status") or {}).get("history", [{}])[0].get("version")
                     for o in informer.list(NAMESPACE)}
        base = await baseline(kubeconfig, n, chart)
        return {"n": n, "seconds": round(elapsed, 2), "create_seconds": round(created, 2),
                "peak_rss_mib": round(peak_install, 1), "baseline_rss_mib": round(base_rss, 1),
                "noop_wall": round(noop_wall, 2), "noop_cpu_ms": round(noop_cpu / n * 1000, 2),
                "revisions_after_noop": sorted(str(r) for r in revisions),
                "helm_baseline": round(base, 2), "concurrent": concurrent}
    finally:
        await manager.shutdown()
        await server.close()
        await conn.aclose()


def run_one(n: int, concurrent: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sluice-bench-hr-"))
    cluster = ClusterProcess(work / "cluster")
    repo = subprocess.Popen([sys.executable, __file__, "--serve", str(work / "repo")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert repo.stdout is not None
        url = repo.stdout.readline().strip()
        if not url:
            raise SystemExit("the Helm repository did not start")
        chart = build_chart(work / "chart", "bench", "1.0.0", CHART_FILES)
        return asyncio.run(measure(cluster.kubeconfig, url, n, concurrent, work, chart))
    finally:
        repo.terminate()
        repo.wait(30)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300")
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve)))
        return
    if args.n:
        print(json.dumps(run_one(args.n, args.concurrent)), flush=True)
        return
    print(f"{'N':>6} {'all Ready':>10} {'helm only':>10} {'ratio':>6} {'peak RSS':>9} "
          f"{'start RSS':>9} {'no-change: all':>15} {'CPU/reconcile':>14}")
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--n", str(size), "--concurrent",
                              str(args.concurrent)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{size:>6} failed:\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>6} {r['seconds']:>9.1f}s {r['helm_baseline']:>9.1f}s "
              f"{r['seconds'] / r['helm_baseline']:>5.2f}x {r['peak_rss_mib']:>5.0f} MiB "
              f"{r['baseline_rss_mib']:>5.0f} MiB {r['noop_wall']:>14.2f}s "
              f"{r['noop_cpu_ms']:>11.1f} ms  (revisions after: {r['revisions_after_noop']})",
              flush=True)
    print(f"(--concurrent {args.concurrent}, SLUICE_HELM_WORKERS="
          f"{os.environ.get('SLUICE_HELM_WORKERS', '4')}; "
          "Flux: 1,000 in 4m39s / 361 MiB on 16 cores)")


if __name__ == "__main__":
    main()
