"""Notification pipeline throughput, and push -> webhook -> fetch -> apply latency.

    .venv/bin/python bench/bench_notifications.py [--events 5000] [--objects 1000] [--queue N]

1. *Events per second*: this process runs the notification controller (its
   informers, event server, dispatcher) against an embedded cluster in a
   child process; 20 Alerts (10 matching ``Kustomization/*``, 10 for other
   kinds) and a ``generic`` Provider pointing at a local sink. Events for
   ``--objects`` distinct Kustomizations (so the rate limiter lets each
   through) are posted concurrently to the event server over HTTP, then
   handed in-process (the ``sluice up`` path); the clock stops when the sink
   has every notification (or they were dropped: ``--queue`` bounds the
   queue per provider address; by default the whole burst fits, so the
   figures are delivery, not drops). Reported: events/s, the end-to-end
   p50/p99 (event POSTed -> notification received by the sink) and the
   process's peak RSS. Baseline in the same run: the same client posting
   the same bodies straight to the sink (HTTP cost alone).
2. *Push to apply*: a GitRepository (interval 10m, so polling plays no
   part), a Kustomization and a GitHub Receiver; a commit is pushed, the
   signed push webhook is sent, and the clock stops when the Kustomization
   reports the new revision applied. Baseline: the same with the
   GitRepository annotated directly (what the webhook saves is the
   interval; the rest is the fetch and apply).

Nothing is asserted; figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from cluster_process import ClusterProcess

from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.reconciler import KustomizationOptions
from sluice.controllers.notification.controller import (
    NotificationOptions,
    setup_notification_controller,
)
from sluice.controllers.notification.lanes import LaneLimits
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for
from sluice.testing.webhook_sink import WebhookSink

NS = "bench"
TOKEN = "bench-token"


async def create(objects: Objects, doc: dict[str, Any]) -> None:
    m = await objects.mapping(doc["apiVersion"], doc["kind"])
    await objects.create(m, doc)


def event(i: int, n: int) -> dict[str, Any]:
    return {"involvedObject": {"kind": "Kustomization", "namespace": NS, "name": f"app-{i % n}",
                               "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
            "severity": "info", "timestamp": "2026-08-07T12:00:00Z",
            "message": f"Applied revision: main@sha1:{i:040x}", "reason": "ReconciliationSucceeded",
            "metadata": {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{i:040x}"},
            "reportingController": "kustomize-controller"}


async def post_all(url: str, bodies: list[bytes], concurrency: int = 32,
                   sent: dict[int, float] | None = None) -> float:
    """POST every body with ``concurrency`` workers; ``sent[i]``: when body i left."""
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        queue = list(enumerate(bodies))
        queue.reverse()
        start = time.perf_counter()

        async def worker() -> None:
            while queue:
                i, body = queue.pop()
                if sent is not None:
                    sent[i] = time.monotonic()
                await client.post(url, content=body,
                                  headers={"Content-Type": "application/json"})

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


def _index(body: bytes) -> int:
    return int(json.loads(body)["message"].rpartition(":")[2], 16)


def end_to_end(sink: WebhookSink, sent: dict[int, float]) -> str:
    """p50/p99 of event sent -> notification received by the sink, over every notification."""
    waits = sorted(r.at - sent[_index(r.body)] for r in sink.requests)
    if not waits:
        return "no notification arrived"
    return (f"p50 {waits[len(waits) // 2] * 1000:.0f} ms, "
            f"p99 {waits[min(len(waits) - 1, len(waits) * 99 // 100)] * 1000:.0f} ms")


def peak_rss() -> str:
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


async def throughput(objects: Objects, manager: Manager, notification: Any, sink: WebhookSink,
                     total: int, n_objects: int) -> None:
    await create(objects, {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
                           "kind": "Provider", "metadata": {"name": "sink", "namespace": NS},
                           "spec": {"type": "generic", "address": sink.url("/hook")}})
    for i in range(20):
        kind = "Kustomization" if i < 10 else "HelmRelease"
        await create(objects, {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
                               "kind": "Alert", "metadata": {"name": f"a{i}", "namespace": NS},
                               "spec": {"providerRef": {"name": "sink"},
                                        "eventSources": [{"kind": kind, "name": "*"}],
                                        "exclusionList": ["^never$"]}})
    informers = {i.mapping.kind: i for i in manager._informers.values()}
    await async_wait_for(lambda: _true(len(informers["Alert"].list(NS)) == 20
                                       and informers["Provider"].get(NS, "sink") is not None),
                         timeout=30, what="alerts cached")
    bodies = [json.dumps(event(i, n_objects)).encode() for i in range(total)]
    expected = total * 10
    dispatcher = notification.dispatcher
    print(f"peak RSS before: {peak_rss()}")

    base = await post_all(sink.url("/direct"), bodies)
    sink.clear()
    sent: dict[int, float] = {}
    start = time.perf_counter()
    intake = await post_all(notification.event_server.url, bodies, sent=sent)
    await dispatcher.drain()
    http = time.perf_counter() - start
    http_got, http_latency = len(sink.requests), end_to_end(sink, sent)
    dropped_http = dispatcher.stats().dropped
    rss_http = peak_rss()
    sink.clear()

    pipeline = notification.pipeline
    local = [event(i + total, n_objects) for i in range(total)]
    sent = {}
    start = time.perf_counter()
    for i, body in enumerate(local):
        sent[i + total] = time.monotonic()
        await pipeline.handle(body)
    await dispatcher.drain()
    inproc = time.perf_counter() - start
    local_got, local_latency = len(sink.requests), end_to_end(sink, sent)
    dropped_local = dispatcher.stats().dropped - dropped_http
    limits = dispatcher.options.lanes
    print(f"events/s, {total} events x 10 matching alerts (20 alerts) over {n_objects} objects, "
          f"one provider address ({limits.in_flight} in flight, queue {limits.queued}):")
    print(f"  baseline: same bodies POSTed straight to the sink   {total / base:8.0f} req/s")
    print(f"  event server over HTTP -> sink (notifications)     {total / http:8.0f} events/s"
          f"  ({http_got / http:.0f} notifications/s, {base / http:.2f}x baseline speed)")
    print(f"    intake alone (all {total} events answered)      {total / intake:8.0f} events/s")
    print(f"    delivered {http_got}/{expected}, dropped {dropped_http}; event -> sink "
          f"{http_latency}; peak RSS {rss_http}")
    print(f"  in-process (sluice up path) -> sink                {total / inproc:8.0f} events/s"
          f"  ({local_got / inproc:.0f} notifications/s)")
    print(f"    delivered {local_got}/{expected}, dropped {dropped_local}; event -> sink "
          f"{local_latency}; peak RSS {peak_rss()}")


async def latency(objects: Objects, manager: Manager, notification: Any, root: Path,
                  rounds: int) -> None:
    async with GitHTTPServer(root / "git") as git:
        repo = git.create_repo("app.git", {"app/cm.yaml": _cm(0)})
        await create(objects, {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                               "metadata": {"name": "app", "namespace": NS},
                               "spec": {"interval": "10m", "url": git.repo_url("app.git"),
                                        "ref": {"branch": "main"}}})
        await create(objects, {"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                               "kind": "Kustomization", "metadata": {"name": "app", "namespace": NS},
                               "spec": {"interval": "10m", "path": "./app", "prune": True,
                                        "targetNamespace": NS,
                                        "sourceRef": {"kind": "GitRepository", "name": "app"}}})
        await create(objects, {"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": "token", "namespace": NS},
                               "data": {"token": base64.b64encode(TOKEN.encode()).decode()}})
        await create(objects, {"apiVersion": "notification.toolkit.fluxcd.io/v1",
                               "kind": "Receiver", "metadata": {"name": "gh", "namespace": NS},
                               "spec": {"type": "github", "events": ["push"],
                                        "secretRef": {"name": "token"},
                                        "resources": [{"kind": "GitRepository", "name": "app"}]}})
        path = "/hook/" + hashlib.sha256(f"{TOKEN}gh{NS}".encode()).hexdigest()
        informers = {i.mapping.kind: i for i in manager._informers.values()}
        await async_wait_for(lambda: _true(bool(informers["Receiver"].by_index("webhookPath",
                                                                                path))),
                             timeout=30, what="receiver ready")
        await applied(informers, repo.head())
        ks_m = await objects.mapping("source.toolkit.fluxcd.io/v1", "GitRepository")
        via_hook, direct = [], []
        async with httpx.AsyncClient(base_url=notification.receiver_server.url) as client:
            for i in range(1, rounds + 1):
                commit = repo.commit({"app/cm.yaml": _cm(2 * i)}, f"c{i}")
                start = time.perf_counter()
                body = json.dumps({"after": commit}).encode()
                sig = "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
                resp = await client.post(path, content=body, headers={
                    "Content-Type": "application/json", "X-GitHub-Event": "push",
                    "X-Hub-Signature-256": sig})
                assert resp.status_code == 200, resp.status_code
                await applied(informers, commit)
                via_hook.append(time.perf_counter() - start)

                commit = repo.commit({"app/cm.yaml": _cm(2 * i + 1)}, f"d{i}")
                start = time.perf_counter()
                await objects.merge_patch(ks_m, "app", {"metadata": {"annotations": {
                    "reconcile.fluxcd.io/requestedAt": f"direct-{i}"}}}, NS)
                await applied(informers, commit)
                direct.append(time.perf_counter() - start)
    via_hook.sort()
    direct.sort()
    print(f"push -> webhook -> GitRepository fetched -> Kustomization applied, {rounds} rounds:")
    print(f"  via the GitHub receiver: median {via_hook[len(via_hook) // 2] * 1000:6.0f} ms, "
          f"max {via_hook[-1] * 1000:6.0f} ms (goal < 1000 ms)")
    print(f"  baseline, GitRepository annotated directly: median "
          f"{direct[len(direct) // 2] * 1000:6.0f} ms (receiver overhead "
          f"{via_hook[len(via_hook) // 2] / direct[len(direct) // 2]:.2f}x)")
    print("  Flux without a receiver waits for the GitRepository interval (seed: 1m).")


def _cm(i: int) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  round: '{i}'\n"


async def _true(value: bool) -> bool:
    return value


async def applied(informers: dict[str, Any], commit: str) -> None:
    def done() -> bool:
        ks = informers["Kustomization"].get(NS, "app") or {}
        return str((ks.get("status") or {}).get("lastAppliedRevision", "")).endswith(commit)

    await async_wait_for(lambda: _true(done()), timeout=60, interval=0.005, what="applied")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cluster = ClusterProcess(root / "cluster")
        try:
            conn = connect(cluster.kubeconfig)
            objects = Objects(conn)
            await create(objects, {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": NS}})
            server = ArtifactServer(root / "artifacts", "127.0.0.1", 0)
            (root / "artifacts").mkdir()
            await server.start()
            manager = Manager(conn, ManagerOptions(metrics_addr=None, concurrent=4))
            await setup_gitrepository_controller(manager, Storage(root / "artifacts",
                                                                  server.address))
            await setup_kustomization_controller(manager, KustomizationOptions())
            notification = await setup_notification_controller(manager, NotificationOptions(
                event_server_addr="127.0.0.1:0", receiver_addr="127.0.0.1:0",
                record_deliveries=False,
                lanes=LaneLimits(queued=args.queue or args.events * 10)))
            await manager.start()
            async with WebhookSink() as sink:
                await throughput(objects, manager, notification, sink, args.events,
                                 args.objects)
            await latency(objects, manager, notification, root, args.rounds)
            await manager.shutdown()
            await server.close()
            await conn.aclose()
        finally:
            cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queue", type=int, default=0,
                        help="notifications queued per provider address before the oldest are "
                             "dropped (default: the whole burst, events x 10; Sluice's default "
                             "is 20000)")
    asyncio.run(main(parser.parse_args()))
