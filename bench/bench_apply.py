"""Staged server-side apply of 1,000 objects, against kubectl, run by hand.

    .venv/bin/python bench/bench_apply.py [--objects 1000] [--concurrency 4]

A fresh embedded cluster runs in its own process (HTTPS, token). The same
build (one Namespace, then ConfigMaps, Secrets, ServiceAccounts, Services
and Deployments scaled to zero, as in Flux's benchmark) is applied twice:

- by Sluice's `ResourceManager` (dry run of every object, then a write of the
  ones that change; owner labels; stages), into namespace ``bench-sluice``;
- by ``kubectl apply --server-side`` of the same files, into
  ``bench-kubectl`` (same objects, other namespace, so both start empty).

The first run creates everything; the second changes nothing (Sluice writes
nothing; kubectl patches every object, which the server finds unchanged).
Times and the Sluice/kubectl ratio are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from cluster_process import ClusterProcess

from sluice.kube.apply import ApplyOptions, Owner, ResourceManager
from sluice.kube.config import connect
from sluice.kube.objects import Objects

Obj = dict[str, Any]


def build(ns: str, total: int) -> list[Obj]:
    """One Namespace and ``total - 1`` namespaced objects of five kinds."""
    objs: list[Obj] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    kinds = ["ConfigMap", "Secret", "ServiceAccount", "Service", "Deployment"]
    for i in range(total - 1):
        kind = kinds[i % len(kinds)]
        name = f"app-{i:04d}"
        meta = {"name": name, "namespace": ns, "labels": {"app": name, "bench": "apply"}}
        if kind == "ConfigMap":
            objs.append({"apiVersion": "v1", "kind": kind, "metadata": meta,
                         "data": {"index": str(i), "payload": "x" * 200}})
        elif kind == "Secret":
            objs.append({"apiVersion": "v1", "kind": kind, "metadata": meta,
                         "type": "Opaque", "data": {"token": "c2VjcmV0"}})
        elif kind == "ServiceAccount":
            objs.append({"apiVersion": "v1", "kind": kind, "metadata": meta})
        elif kind == "Service":
            objs.append({"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": {
                "selector": {"app": name}, "ports": [{"name": "http", "port": 80,
                                                      "targetPort": 8080}]}})
        else:
            objs.append({"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": {
                "replicas": 0, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                    {"name": "app", "image": "registry.k8s.io/e2e-test-images/agnhost:2.39",
                     "ports": [{"containerPort": 8080}]}]}}}})
    return objs


def write_files(objs: list[Obj], folder: Path, per_file: int = 100) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(objs), per_file):
        chunk = objs[start:start + per_file]
        (folder / f"{start // per_file:03d}.yaml").write_text(yaml.safe_dump_all(chunk))


async def sluice_runs(kubeconfig: Path, objs: list[Obj], concurrency: int) -> list[float]:
    conn = connect(kubeconfig)
    try:
        manager = ResourceManager(Objects(conn), Owner("bench", "flux-system"),
                                  concurrency=concurrency)
        opts = ApplyOptions(wait_timeout=60, wait_poll=0.1)
        times = []
        for expected in ("created", "unchanged"):
            start = time.perf_counter()
            changes = await manager.apply_all_staged(objs, opts)
            times.append(time.perf_counter() - start)
            actions = {e.action for e in changes}
            if actions != {expected}:
                raise SystemExit(f"unexpected actions {actions}, wanted {expected}")
        return times
    finally:
        await conn.aclose()


def kubectl_runs(kubeconfig: Path, folder: Path, home: Path) -> list[float]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return []
    env = {"KUBECONFIG": str(kubeconfig), "HOME": str(home), "KUBECACHEDIR": str(home / "cache"),
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    times = []
    for _ in range(2):
        start = time.perf_counter()
        proc = subprocess.run([kubectl, "apply", "--server-side", "--field-manager=bench",
                               "-f", str(folder)], env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"kubectl failed: {proc.stderr[-2000:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cluster = ClusterProcess(root / "cluster")
        try:
            sluice_objs = build("bench-sluice", args.objects)
            kubectl_objs = build("bench-kubectl", args.objects)
            write_files(kubectl_objs, root / "files")
            (root / "home").mkdir()
            s_first, s_again = asyncio.run(sluice_runs(cluster.kubeconfig, sluice_objs,
                                                       args.concurrency))
            k_times = kubectl_runs(cluster.kubeconfig, root / "files", root / "home")
        finally:
            cluster.stop()
    n = args.objects
    print(f"{n} objects, concurrency {args.concurrency}, embedded cluster in its own process")
    print(f"  sluice ResourceManager  first apply {s_first:7.2f}s ({n / s_first:6.0f} obj/s)"
          f"   no-change apply {s_again:7.2f}s ({n / s_again:6.0f} obj/s)")
    if k_times:
        k_first, k_again = k_times
        print(f"  kubectl --server-side   first apply {k_first:7.2f}s ({n / k_first:6.0f} obj/s)"
              f"   second apply    {k_again:7.2f}s ({n / k_again:6.0f} obj/s)")
        print(f"  ratio sluice/kubectl    first apply {s_first / k_first:7.2f}x"
              f"              no-change {s_again / k_again:7.2f}x")
    else:
        print("  kubectl is not installed: no comparison")


if __name__ == "__main__":
    main()
