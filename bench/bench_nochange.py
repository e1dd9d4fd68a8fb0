"""The no-change reconcile and drift correction of one 1,000-object Kustomization, run by hand.

    .venv/bin/python bench/bench_nochange.py [--objects 1000] [--rounds 5]

One process: an embedded cluster (HTTPS, in a thread, so its requests can be
counted), a Git server, the GitRepository and Kustomization controllers
(``interval: 1h``, so only watches can trigger a correction). The build is
bench_apply's (a Namespace, ConfigMaps, Secrets, ServiceAccounts, Services,
Deployments). Printed, each against its baseline in the same run:

- first apply: Kustomization created -> Ready, vs ``kubectl apply
  --server-side`` of the same objects (other namespace);
- no-change reconcile (the interval's timer firing), median of ``--rounds``,
  as a ratio of the first apply, with the object writes and dry runs it made
  (and the Events: Flux's "Reconciliation finished", one per reconcile);
- drift correction latency: ``kubectl scale`` returns -> replicas back, p50,
  re-applying only the drifted Deployment vs the full path (the last build
  dropped before each scale, as after a controller restart), alternating
  (drift pacing off: every correction is let through at once);
- live-state memory per 1,000 objects (tracemalloc, a fresh `LiveState` fed
  the live objects), and the compressed last build kept for drift correction.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml
from bench_apply import build, kubectl_runs, write_files

from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.options import KustomizationOptions
from sluice.controllers.kustomization.reconciler import KustomizationReconciler
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.kube.config import connect
from sluice.kube.ordering import ObjectRef
from sluice.runtime.livestate import LiveState
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.runtime.reconciler import Request
from sluice.testing.background import BackgroundCluster
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.requests import RequestCounter

NS = "bench-ks"


async def until(check: Any, timeout: float = 300.0,  # noqa: ASYNC109
                interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {check}")
        await asyncio.sleep(interval)


async def run(args: argparse.Namespace, root: Path, cluster: BackgroundCluster) -> None:
    objs = build(NS, args.objects)
    kube_objs = build("bench-kubectl", args.objects)
    write_files(kube_objs, root / "files")
    k_first = kubectl_runs(cluster.kubeconfig, root / "files", root / "home")[0] \
        if shutil.which("kubectl") else None

    async with GitHTTPServer(root / "git") as git:
        files = {f"app/{i:03d}.yaml": yaml.safe_dump_all(objs[i:i + 100])
                 for i in range(0, len(objs), 100)}
        git.create_repo("bench.git", files)
        conn = connect(cluster.kubeconfig, field_manager="bench")
        (root / "artifacts").mkdir()
        server = ArtifactServer(root / "artifacts", "127.0.0.1", 0)
        await server.start()
        manager = Manager(conn, ManagerOptions(metrics_addr=None, concurrent=4))
        await setup_gitrepository_controller(manager, Storage(root / "artifacts",
                                                              server.address))
        controller = await setup_kustomization_controller(
            manager, KustomizationOptions(health_poll=0.2, min_timeout=5.0,
                                          drift_quick_corrections=1000))
        reconciler = controller.reconciler
        assert isinstance(reconciler, KustomizationReconciler)
        await manager.start()
        objects = manager.objects
        try:
            git_m = await objects.mapping("source.toolkit.fluxcd.io/v1", "GitRepository")
            ks_m = await objects.mapping("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
            await objects.create(git_m, {
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "bench", "namespace": "default"},
                "spec": {"interval": "1h", "url": git.repo_url("bench.git"),
                         "ref": {"branch": "main"}}})

            async def source_ready() -> bool:
                got = await objects.get_or_none(git_m, "bench", "default")
                return bool(((got or {}).get("status") or {}).get("artifact"))

            await until(source_ready)

            async def ks_ready() -> bool:
                got = await objects.get_or_none(ks_m, "bench", "default")
                conds = ((got or {}).get("status") or {}).get("conditions") or []
                return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

            start = time.perf_counter()
            await objects.create(ks_m, {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "bench", "namespace": "default"},
                "spec": {"interval": "1h", "path": "./app", "prune": True,
                         "sourceRef": {"kind": "GitRepository", "name": "bench"}}})
            await until(ks_ready)
            first = time.perf_counter() - start
            owner = "Kustomization/default/bench"
            await until(lambda: reconciler.live.is_clean(owner))
            build_bytes = reconciler.builds.size

            metric = manager.metrics.reconcile_total
            times: list[float] = []
            with RequestCounter(cluster) as seen:
                for _ in range(args.rounds):
                    count = metric.value("Kustomization", "unchanged")
                    start = time.perf_counter()
                    controller.queue.add(Request("default", "bench"))
                    await until(lambda c=count: metric.value("Kustomization", "unchanged")
                                > c, interval=0.001)
                    times.append(time.perf_counter() - start)
                writes = [r for r in seen.snapshot() if r.write and not r.watch
                          and "/events" not in r.path]
                events = [r for r in seen.snapshot() if r.write and "/events" in r.path]
                dry_runs = seen.dry_runs()

            latencies: dict[str, list[float]] = {"partial": [], "full": []}
            kubectl = shutil.which("kubectl")
            deploy_m = await objects.mapping("apps/v1", "Deployment")
            env = {"KUBECONFIG": str(cluster.kubeconfig), "HOME": str(root / "home"),
                   "KUBECACHEDIR": str(root / "home" / "cache"),
                   "PATH": "/usr/bin:/bin:/usr/local/bin"}
            target = next(o["metadata"]["name"] for o in objs if o["kind"] == "Deployment")
            for round_ in range(2 * args.rounds if kubectl else 0):
                mode = "full" if round_ % 2 else "partial"
                await until(lambda: reconciler.live.is_clean(owner))
                await until(lambda: len(reconciler.builds) > 0)
                if mode == "full":
                    reconciler.builds.drop(("default", "bench"))
                assert kubectl is not None
                proc = await asyncio.to_thread(subprocess.run, [
                    kubectl, "-n", NS, "scale", f"deployment/{target}", "--replicas=2"],
                    env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr)
                start = time.perf_counter()

                async def reverted() -> bool:
                    got = await objects.get_or_none(deploy_m, target, NS)
                    return bool(got and got["spec"].get("replicas") == 0)

                await until(reverted, interval=0.01)
                latencies[mode].append(time.perf_counter() - start)

            # Memory: a fresh LiveState given the 1,000 live objects.
            live_objs: list[dict[str, Any]] = []
            refs: list[ObjectRef] = []
            for obj in objs:
                m = await objects.mapping(obj["apiVersion"], obj["kind"])
                got = await objects.get_or_none(m, obj["metadata"]["name"],
                                                obj["metadata"].get("namespace"))
                if got is not None:
                    got.setdefault("apiVersion", obj["apiVersion"])
                    got.setdefault("kind", obj["kind"])
                    live_objs.append(got)
                    refs.append(ObjectRef.of(got))
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            fresh = LiveState(objects, "kustomize-controller",
                              selector="kustomize.toolkit.fluxcd.io/name")
            observe = fresh.begin("bench")
            for got in live_objs:
                observe(got)
            await fresh.commit("bench", refs)
            held = tracemalloc.get_traced_memory()[0] - base
            tracemalloc.stop()
            await fresh.close()
        finally:
            await manager.shutdown()
            await server.close()
            await conn.aclose()

    n = args.objects
    print(f"one Kustomization of {n} objects ({args.rounds} rounds)")
    if k_first is not None:
        print(f"  first apply             sluice {first:7.2f}s  kubectl --server-side "
              f"{k_first:7.2f}s  ratio {first / k_first:5.2f}x")
    else:
        print(f"  first apply             sluice {first:7.2f}s  (no kubectl)")
    median = statistics.median(times)
    print(f"  no-change reconcile     median {median * 1000:7.1f}ms  ratio to first apply "
          f"{median / first:7.4f}  object writes {len(writes)}  dry runs {len(dry_runs)}  "
          f"events {len(events)}")
    for w in writes[:5]:
        print(f"    write: {w}")
    if latencies["partial"]:
        part, full = (statistics.median(latencies[m]) for m in ("partial", "full"))
        print(f"  drift after kubectl scale: drifted object only p50 {part * 1000:7.1f}ms "
              f"(max {max(latencies['partial']) * 1000:.1f}ms); full path p50 "
              f"{full * 1000:7.1f}ms (max {max(latencies['full']) * 1000:.1f}ms); "
              f"ratio {part / full:.3f}")
    print(f"  live state: {held / len(live_objs) * 1000 / 1024:7.1f} KiB per 1,000 objects "
          f"({held / len(live_objs):.0f} B per object, tracemalloc)")
    print(f"  last build kept (compressed): {build_bytes / n * 1000 / 1024:7.1f} KiB per 1,000 "
          f"objects (bench objects are alike: real manifests compress less)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-nochange-") as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        with BackgroundCluster(root / "cluster", pod_ready_delay=0.1) as cluster:
            asyncio.run(run(args, root, cluster))


if __name__ == "__main__":
    main()
