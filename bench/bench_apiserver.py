"""Benchmarks of the embedded cluster, run by hand: `.venv/bin/python bench/bench_apiserver.py`.

Measures, against a fresh embedded cluster over HTTPS with its token:
- create, get and list of N ConfigMaps (requests per second, 8 concurrent clients);
- watch delivery latency (p50/p99) with W watchers on one namespace;
- `kubectl apply --server-side` of M objects, and, as the baseline measured in the
  same run, `kubectl apply --dry-run=client` of the same files (kubectl's own cost
  without the server doing any work), so the ratio shows what the server adds.

Two more phases measure the write path and what the store keeps, in-process:

    .venv/bin/python bench/bench_apiserver.py --writes 1000 [--memory 1000]
        [--against /tmp/base/src] [--rounds 2]

- ``--writes N``: the requests the Kustomization controller makes for N apps of
  Flux's benchmark shape (a ServiceAccount, a Service, a Deployment, an Ingress),
  each server-side applied after a dry run, plus the Kustomization itself
  created and its status patched three times, sent through the in-process
  transport by 8 concurrent clients, then the workload simulator's own writes
  (ReplicaSets, Endpoints, Deployment status) until all are settled. Reported:
  CPU seconds of the whole process (client and server share it, as under
  ``sluice up``) and wall time.
- ``--registry N``: CPU milliseconds per write of the registry's verbs called
  directly (no HTTP, no simulator) on N Deployments: create by server-side
  apply, a status update, a dry-run re-apply (what every reconcile sends).
- ``--memory N``: the same load under tracemalloc; reported: what the
  cluster keeps (store and watch history) in MiB per 1,000 apps, and the
  share of ``managedFields`` in the stored objects.
- ``--against SRC`` runs the same phases with another tree's ``src/`` (a
  baseline) interleaved in the same session, each in a fresh process.
Numbers are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

NAMESPACE = "bench-apps"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


class ServerProcess:
    """The embedded cluster in its own process, so the load generator does not share its GIL."""

    def __init__(self, data: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.data = data
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice.cli.main", "cluster", "up", "--data-dir", str(data),
             "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (data / "kubeconfig").exists():
                try:
                    ctx = ssl.create_default_context(cafile=str(self.ca_file))
                    if httpx.get(self.url + "/healthz", verify=ctx).status_code == 200:
                        break
                except (httpx.HTTPError, OSError):
                    pass
            time.sleep(0.2)  # waiting for a subprocess to listen; nothing to await
        self.token = (data / "token").read_text().strip()

    @property
    def ca_file(self) -> Path:
        return self.data / "pki" / "ca.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.data / "kubeconfig"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def _client(bg: ServerProcess) -> httpx.AsyncClient:
    ctx = ssl.create_default_context(cafile=str(bg.ca_file))
    return httpx.AsyncClient(base_url=bg.url, verify=ctx, timeout=60,
                             headers={"Authorization": f"Bearer {bg.token}"},
                             limits=httpx.Limits(max_connections=16))


async def _pool(n: int, workers: int, fn) -> float:  # type: ignore[no-untyped-def]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await fn(queue.get_nowait())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - start


async def crud(bg: ServerProcess, n: int) -> tuple[float, float]:
    async with _client(bg) as c:
        await c.post("/api/v1/namespaces", json={"metadata": {"name": "bench"}})
        base = "/api/v1/namespaces/bench/configmaps"

        async def create(i: int) -> None:
            r = await c.post(base, json={"metadata": {"name": f"cm-{i}"}, "data": {"k": str(i)}})
            assert r.status_code == 201, r.text

        async def get(i: int) -> None:
            r = await c.get(f"{base}/cm-{i}")
            assert r.status_code == 200

        t = await _pool(n, 8, create)
        create_rate = n / t
        print(f"create {n} ConfigMaps: {create_rate:,.0f} req/s ({t:.1f} s)")
        t = await _pool(n, 8, get)
        get_rate = n / t
        print(f"get    {n} ConfigMaps: {get_rate:,.0f} req/s ({t:.1f} s)")
        start = time.perf_counter()
        r = await c.get(base)
        t = time.perf_counter() - start
        print(f"list   {len(r.json()['items'])} ConfigMaps in one request: {t * 1000:.0f} ms")
        start = time.perf_counter()
        pages, cont = 0, ""
        while True:
            r = await c.get(base, params={"limit": 500, **({"continue": cont} if cont else {})})
            pages += 1
            cont = r.json()["metadata"].get("continue", "")
            if not cont:
                break
        t = time.perf_counter() - start
        print(f"list   paged by 500: {pages} pages in {t * 1000:.0f} ms")
        return create_rate, get_rate


async def watch_latency(bg: ServerProcess, watchers: int, events: int) -> None:
    async with _client(bg) as c:
        await c.post("/api/v1/namespaces", json={"metadata": {"name": "bench-watch"}})
        base = "/api/v1/namespaces/bench-watch/configmaps"
        r = await c.get(base)
        rv = r.json()["metadata"]["resourceVersion"]
        sent: dict[str, float] = {}
        latencies: list[float] = []
        ready = asyncio.Event()
        opened = 0

        async def watcher() -> None:
            nonlocal opened
            async with _client(bg) as wc, wc.stream(
                    "GET", base, params={"watch": "true", "resourceVersion": rv}) as resp:
                opened += 1
                if opened == watchers:
                    ready.set()
                seen = 0
                async for line in resp.aiter_lines():
                    if not line:
                        continue
                    now = time.perf_counter()
                    name = line.split('"name":"', 1)[1].split('"', 1)[0]
                    latencies.append(now - sent[name])
                    seen += 1
                    if seen == events:
                        return

        tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
        await asyncio.wait_for(ready.wait(), 60)
        await asyncio.sleep(0.2)  # let the last stream's headers settle; not a sync point
        for i in range(events):
            name = f"w-{i}"
            sent[name] = time.perf_counter()
            await c.post(base, json={"metadata": {"name": name}})
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"watch: {watchers} watchers x {events} events: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def kubectl_apply(bg: ServerProcess, m: int) -> None:
    if not shutil.which("kubectl"):
        print("kubectl not installed: skipping the kubectl apply benchmark")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "objs"
        folder.mkdir()
        docs = ["apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-apply\n"]
        for i in range(m):
            docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: obj-{i}\n"
                        f"  namespace: bench-apply\ndata:\n  key: value-{i}\n")
        (folder / "all.yaml").write_text("---\n".join(docs))
        env = {**os.environ, "KUBECONFIG": str(bg.kubeconfig)}

        def run(*args: str) -> float:
            start = time.perf_counter()
            subprocess.run(["kubectl", *args, "-f", str(folder)], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            return time.perf_counter() - start

        base = run("apply", "--dry-run=client")
        first = run("apply", "--server-side")
        again = run("apply", "--server-side")
        print(f"kubectl apply --server-side of {m} objects: first {first:.2f} s, "
              f"unchanged {again:.2f} s; kubectl --dry-run=client baseline {base:.2f} s "
              f"(ratio first/baseline {first / base:.2f})")


_TRIVIAL_SERVER = """
import ssl, sys
from aiohttp import web
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
async def handle(request):
    return web.json_response({"kind": "ConfigMap", "metadata": {"name": "x"}})
app = web.Application()
app.router.add_route("*", "/{tail:.*}", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[3]), ssl_context=ctx, print=None,
            access_log=None)
"""


async def baseline(bg: ServerProcess, n: int) -> float:
    """The same client against a trivial aiohttp TLS server: the ceiling of this load generator."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pki = bg.data / "pki"
    proc = subprocess.Popen([sys.executable, "-c", _TRIVIAL_SERVER, str(pki / "apiserver.crt"),  # noqa: ASYNC220
                             str(pki / "apiserver.key"), str(port)])
    try:
        ctx = ssl.create_default_context(cafile=str(bg.ca_file))
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=ctx,
                                     limits=httpx.Limits(max_connections=16)) as c:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    await c.get("/")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)  # the subprocess is still starting

            async def get(i: int) -> None:
                await c.get(f"/api/v1/namespaces/bench/configmaps/cm-{i}")

            t = await _pool(n, 8, get)
    finally:
        proc.terminate()
        proc.wait(10)
    rate = n / t
    print(f"baseline: same client, trivial aiohttp TLS server: {rate:,.0f} req/s")
    return rate


def app_objects(i: int) -> list[dict[str, Any]]:
    """The four objects of one app of Flux's benchmark (as bench_kustomizations builds them)."""
    name = f"app-{i:04d}"
    meta = {"name": name, "namespace": NAMESPACE,
            "labels": {"kustomize.toolkit.fluxcd.io/name": name,
                       "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
         "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}}, "spec": {
                      "serviceAccountName": name,
                      "containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.9.2",
                                      "ports": [{"containerPort": 8080}]}]}}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
         "spec": {"rules": [{"host": f"{name}.example.com", "http": {"paths": [
             {"path": "/", "pathType": "Prefix", "backend": {"service": {
                 "name": name, "port": {"number": 80}}}}]}}]}},
    ]


_PLURALS = {"ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts/{name}",
            "Service": "/api/v1/namespaces/{ns}/services/{name}",
            "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            "Ingress": "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{name}"}
_KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations"


def _condition(status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-12-07T12:00:00Z", "observedGeneration": 1}


async def _app_requests(c: Any, i: int) -> None:
    """What the Kustomization controller sends for one app (dry run, apply, status)."""
    name = f"app-{i:04d}"
    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "metadata": {"name": name, "namespace": "flux-system"},
          "spec": {"interval": "1h", "path": f"./apps/{name}", "prune": True, "wait": True,
                   "sourceRef": {"kind": "GitRepository", "name": "fleet"}}}
    r = await c.post(_KS, json=ks)
    assert r.status_code == 201, r.text
    status_url = f"{_KS}/{name}/status"
    for status in ({"conditions": [_condition("Unknown", "Progressing", "Reconciliation in "
                                              "progress")]},
                   {"conditions": [_condition("Unknown", "Progressing", "Health check in "
                                              "progress")],
                    "inventory": {"entries": [{"id": f"{NAMESPACE}_{name}_{k}", "v": "v1"}
                                              for k in _PLURALS]}},
                   {"conditions": [_condition("True", "ReconciliationSucceeded",
                                              "Applied revision: main@sha1:0123456789")],
                    "lastAppliedRevision": "main@sha1:0123456789"}):
        body = {"status": status}
        r = await c.patch(status_url, content=json.dumps(body),
                          headers={"Content-Type": MERGE}, params={"fieldManager": "gotk"})
        assert r.status_code == 200, r.text
        if "inventory" in status:
            for obj in app_objects(i):
                url = _PLURALS[obj["kind"]].format(ns=NAMESPACE, name=name)
                params = {"fieldManager": "kustomize-controller", "force": "true"}
                r = await c.patch(url, content=json.dumps(obj), headers={"Content-Type": APPLY},
                                  params={**params, "dryRun": "All"})
                assert r.status_code in (200, 201), r.text
                r = await c.patch(url, content=json.dumps(obj), headers={"Content-Type": APPLY},
                                  params=params)
                assert r.status_code in (200, 201), r.text
            for obj in app_objects(i):
                r = await c.get(_PLURALS[obj["kind"]].format(ns=NAMESPACE, name=name))
                assert r.status_code == 200


async def _write_load(cluster: Any, n: int) -> None:
    import httpx2

    async with httpx2.AsyncClient(base_url=cluster.url, transport=cluster.in_process_transport(),
                                  headers={"Authorization": f"Bearer {cluster.token}"},
                                  timeout=120) as c:
        r = await c.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}})
        assert r.status_code == 201, r.text
        await _pool(n, 8, lambda i: _app_requests(c, i))
    # The simulator's own writes: every Deployment rolled out (ReplicaSet, status).
    storage = cluster.cluster.storage
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = sum(1 for d in storage.list(("apps", "deployments"), NAMESPACE)
                   if (d.get("status") or {}).get("observedGeneration") ==
                   d["metadata"].get("generation")
                   and any(c.get("type") == "Available" for c in
                           (d.get("status") or {}).get("conditions") or []))
        if done == n and storage.count(("apps", "replicasets")) >= n:
            break
        await asyncio.sleep(0.1)  # polling the store for the simulator to settle
    else:
        raise SystemExit("the simulator did not settle")


def phase_writes(n: int) -> dict[str, Any]:
    from sluice.apiserver.server import EmbeddedCluster

    async def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            async with EmbeddedCluster(Path(tmp)) as cluster:
                cpu, wall = time.process_time(), time.perf_counter()
                await _write_load(cluster, n)
                return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall,
                        "revision": cluster.cluster.storage.revision}
    return asyncio.run(run())


def _deep_size(obj: Any, seen: set[int]) -> int:
    total, stack = 0, [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    return total


def phase_registry(n: int) -> dict[str, Any]:
    """CPU milliseconds per write of the registry's verbs alone (no HTTP, no simulator)."""
    from sluice.apiserver.rest.registry import Cluster, WriteOptions
    from sluice.apiserver.server import _builtin_schema
    from sluice.apiserver.store.storage import Storage

    cluster = Cluster(Storage())
    cluster.builtin_schema = _builtin_schema
    cluster.create(cluster.resource("", "v1", "namespaces"), "",
                   {"metadata": {"name": NAMESPACE}}, WriteOptions())
    rt = cluster.resource("apps", "v1", "deployments")
    objs = [app_objects(i)[2] for i in range(n)]
    ssa = WriteOptions(manager="kustomize-controller", force=True)
    out: dict[str, Any] = {}
    start = time.process_time()
    for o in objs:
        cluster.patch(rt, NAMESPACE, o["metadata"]["name"], APPLY, o, ssa)
    out["apply_create_ms"] = (time.process_time() - start) * 1000 / n
    start = time.process_time()
    for k in range(5):
        for o in objs:
            stored = cluster.storage.get(rt.storage_key, NAMESPACE, o["metadata"]["name"])
            assert stored is not None
            body = dict(stored)
            body["status"] = {"observedGeneration": 1, "replicas": k, "conditions": [
                {"type": "Available", "status": "True", "reason": f"r{k}"}]}
            cluster.update(rt, NAMESPACE, o["metadata"]["name"], body,
                           WriteOptions(manager="kube-controller-manager"), subresource="status")
    out["status_update_ms"] = (time.process_time() - start) * 1000 / n / 5
    start = time.process_time()
    for _ in range(5):
        for o in objs:
            cluster.patch(rt, NAMESPACE, o["metadata"]["name"], APPLY, o,
                          WriteOptions(manager="kustomize-controller", force=True, dry_run=True))
    out["dry_run_apply_ms"] = (time.process_time() - start) * 1000 / n / 5
    return out


def phase_memory(n: int) -> dict[str, Any]:
    import gc
    import tracemalloc

    from sluice.apiserver.server import EmbeddedCluster

    async def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            async with EmbeddedCluster(Path(tmp)) as cluster:
                gc.collect()
                tracemalloc.start()
                before = tracemalloc.get_traced_memory()[0]
                await _write_load(cluster, n)
                cl = cluster.cluster
                # The garbage collector and simulator queue follow-ups; let them run.
                await asyncio.sleep(1.0)  # not a sync point: lets delayed timers fire
                gc.collect()
                kept = tracemalloc.get_traced_memory()[0] - before
                history = len(cl.events._history)
                cl.events._history.clear()
                gc.collect()
                store = tracemalloc.get_traced_memory()[0] - before
                tracemalloc.stop()
                seen: set[int] = set()
                objects = mf = 0
                for key in cl.storage.keys():
                    for o in cl.storage.list(key):
                        objects += 1
                        mf += _deep_size(o["metadata"].get("managedFields"), seen)
                return {"kept_mib": kept / 2**20, "store_mib": store / 2**20,
                        "history_events": history, "objects": objects,
                        "managed_fields_mib": mf / 2**20}
    return asyncio.run(run())


def _child(phase: str, n: int, src: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    out = subprocess.run([sys.executable, __file__, "--phase", phase, "--n", str(n)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def compare_phases(writes: int, memory: int, against: str | None, rounds: int,
                   registry: int = 0) -> None:
    variants = [("this tree", None)] + ([(f"against {against}", against)] if against else [])
    if registry:
        print(f"registry verbs on {registry} Deployments, CPU ms per write (no HTTP):")
        for _ in range(rounds):
            for label, src in variants:
                r = _child("registry", registry, src)
                print(f"  create by apply {r['apply_create_ms']:.3f}  status update "
                      f"{r['status_update_ms']:.3f}  dry-run apply {r['dry_run_apply_ms']:.3f}  "
                      f"{label}", flush=True)
    if writes:
        print(f"writes for {writes} apps (~{writes * 17:,} requests + the simulator's), "
              f"CPU seconds of the process:")
        for _ in range(rounds):
            for label, src in variants:
                r = _child("writes", writes, src)
                print(f"  {r['cpu']:6.2f} s CPU  {r['wall']:6.2f} s wall  "
                      f"{r['revision']:>7} revisions  {label}", flush=True)
    if memory:
        print(f"memory kept by the cluster after {memory} apps (tracemalloc):")
        for label, src in variants:
            r = _child("memory", memory, src)
            per = 1000 / memory
            print(f"  {r['kept_mib'] * per:6.1f} MiB per 1,000 apps kept "
                  f"({r['store_mib'] * per:.1f} store, "
                  f"{(r['kept_mib'] - r['store_mib']) * per:.1f} watch history of "
                  f"{r['history_events']} events); {r['objects']} objects, managedFields "
                  f"{r['managed_fields_mib'] * per:.1f} MiB per 1,000 apps  {label}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--apply", type=int, default=1_000)
    parser.add_argument("--writes", type=int, default=0, metavar="N",
                        help="only the in-process write-path phase, for N apps")
    parser.add_argument("--registry", type=int, default=0, metavar="N",
                        help="only the registry phase (verbs without HTTP), on N Deployments")
    parser.add_argument("--memory", type=int, default=0, metavar="N",
                        help="only the memory phase (tracemalloc), for N apps")
    parser.add_argument("--against", metavar="SRC", help="baseline tree's src/ for the phases")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        fn = {"writes": phase_writes, "memory": phase_memory,
              "registry": phase_registry}[args.phase]
        print(json.dumps(fn(args.n)))
        return
    if args.writes or args.memory or args.registry:
        compare_phases(args.writes, args.memory, args.against, args.rounds, args.registry)
        return
    with tempfile.TemporaryDirectory() as tmp:
        bg = ServerProcess(Path(tmp))
        try:
            ceiling = asyncio.run(baseline(bg, min(args.objects, 3000)))
            rates = asyncio.run(crud(bg, args.objects))
            print(f"ratios to the baseline: create {rates[0] / ceiling:.2f}, "
                  f"get {rates[1] / ceiling:.2f}")
            asyncio.run(watch_latency(bg, args.watchers, args.events))
            kubectl_apply(bg, args.apply)
        finally:
            bg.stop()


if __name__ == "__main__":
    main()
