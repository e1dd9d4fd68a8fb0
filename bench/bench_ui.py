"""The web UI at scale: overview render time and SSE fan-out with many objects and tabs.

Against an embedded cluster in a child process (`ClusterProcess`), with N
Kustomizations (default 1,000) and T open overview tabs (default 20), this
measures:

* ``GET /``: the overview page, rendered from the shared informers (median, p99);
* fan-out: a status patch on one Kustomization -> that row's SSE event received
  in every tab (p50/p99 over the rounds, the slowest tab of each round);
* the UI process's RSS before and after its informers hold the N objects;
* the scrubber's cost: P Providers (default 200) with webhook addresses are
  added, so every page is scrubbed of 2P remembered values, and ``GET /`` is
  timed again (ratio vs the first ``GET /`` of the same run; the page also
  grows by P rows), and the scrub alone of that page.

Run by hand (not part of the test suite):

    .venv/bin/python bench/bench_ui.py [--objects 1000] [--tabs 20] [--rounds 30] \
        [--providers 200]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from cluster_process import ClusterProcess  # type: ignore[import-not-found]

from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.testing.polling import async_wait_for
from sluice.ui.server import UIServer
from sluice.ui.views import event_name

API = "kustomize.toolkit.fluxcd.io/v1"


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _get_root(client: httpx.AsyncClient, times: int = 10) -> tuple[list[float], str]:
    renders, page = [], ""
    for _ in range(times):
        t0 = time.perf_counter()
        page = (await client.get("/")).text
        renders.append(time.perf_counter() - t0)
    return renders, page


async def _providers(objects: Objects, count: int) -> None:
    mapping = await objects.mapping("notification.toolkit.fluxcd.io/v1beta3", "Provider")
    sem = asyncio.Semaphore(16)

    async def make(i: int) -> None:
        async with sem:
            await objects.create(mapping, {
                "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
                "metadata": {"name": f"slack-{i:04d}", "namespace": "bench"},
                "spec": {"type": "slack", "address": "https://hooks.slack.com/services/"
                                                     f"T{i:08d}/B{i:08d}/token{i:020d}"}})

    await asyncio.gather(*(make(i) for i in range(count)))


async def main(n: int, tabs: int, rounds: int, providers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = ClusterProcess(Path(tmp) / "data")
        try:
            conn = connect(cluster.kubeconfig)
            objects = Objects(conn)
            ns = await objects.mapping("v1", "Namespace")
            await objects.create(ns, {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "bench"}})
            kss = await objects.mapping(API, "Kustomization")
            sem = asyncio.Semaphore(16)

            async def make(i: int) -> None:
                async with sem:
                    await objects.create(kss, {
                        "apiVersion": API, "kind": "Kustomization",
                        "metadata": {"name": f"app-{i:04d}", "namespace": "bench"},
                        "spec": {"interval": "10m", "path": "./", "prune": True,
                                 "sourceRef": {"kind": "GitRepository", "name": "apps"}}})

            await asyncio.gather(*(make(i) for i in range(n)))
            before = _rss_mib()
            ui = UIServer(conn, "127.0.0.1", 0)
            started = time.perf_counter()
            await ui.start()
            print(f"UI started with {n} Kustomizations in {time.perf_counter() - started:.2f} s, "
                  f"RSS {before:.0f} -> {_rss_mib():.0f} MiB")
            async with httpx.AsyncClient(base_url=ui.url.rstrip("/"), timeout=60) as client:
                await client.get(f"/?token={ui.security.token}")
                renders, page = await _get_root(client)
                print(f"GET / ({len(page) / 1024:.0f} KiB): median "
                      f"{statistics.median(renders) * 1000:.0f} ms, max {max(renders) * 1000:.0f} ms")
                target = "app-0500" if n > 500 else "app-0000"
                event = event_name("Kustomization", "bench", target)
                queues: list[asyncio.Queue[float]] = [asyncio.Queue() for _ in range(tabs)]
                opened = [asyncio.Event() for _ in range(tabs)]

                async def tab(i: int) -> None:
                    html = (await client.get("/")).text
                    tab_id = html.split('"X-Sluice-Tab": "')[1].split('"')[0]
                    async with client.stream("GET", "/stream", params={"tab": tab_id},
                                             timeout=None) as resp:
                        async for line in resp.aiter_lines():
                            if line.startswith(": connected"):
                                opened[i].set()
                            elif line == f"event: {event}":
                                queues[i].put_nowait(time.perf_counter())

                readers = [asyncio.create_task(tab(i)) for i in range(tabs)]
                await asyncio.gather(*(o.wait() for o in opened))
                latencies = []
                for r in range(rounds):
                    t0 = time.perf_counter()
                    await objects.patch_status(kss, target, {"status": {
                        "observedGeneration": 1, "conditions": [{
                            "type": "Ready", "status": "True" if r % 2 else "False",
                            "reason": "Bench", "message": f"round {r}",
                            "lastTransitionTime": "2026-12-06T10:00:00Z"}]}}, "bench")
                    arrivals = [await asyncio.wait_for(q.get(), 30) for q in queues]
                    latencies.append(max(arrivals) - t0)
                for task in readers:
                    task.cancel()
                print(f"fan-out to {tabs} tabs (patch -> row event in the slowest tab): "
                      f"p50 {_pct(latencies, 0.5) * 1000:.0f} ms, "
                      f"p99 {_pct(latencies, 0.99) * 1000:.0f} ms over {rounds} rounds")
                print(f"RSS after the tabs: {_rss_mib():.0f} MiB")
                if providers:
                    await _providers(objects, providers)
                    live = ui._live
                    assert live is not None
                    async def known() -> bool:  # address and its path, per Provider
                        return len(live.redactor) >= 2 * providers
                    await async_wait_for(known, timeout=60, what="the Providers' addresses")
                    scrubbed, page = await _get_root(client)
                    base, now = statistics.median(renders), statistics.median(scrubbed)
                    print(f"GET / with {len(live.redactor)} remembered secrets "
                          f"({providers} Providers, {len(page) / 1024:.0f} KiB): median "
                          f"{now * 1000:.0f} ms, max {max(scrubbed) * 1000:.0f} ms; "
                          f"ratio {now / base:.2f}x the first GET /")
                    scrubs = []
                    for _ in range(10):
                        t0 = time.perf_counter()
                        live.redactor.scrub(page)
                        scrubs.append(time.perf_counter() - t0)
                    print(f"  of which the scrub of that page: median "
                          f"{statistics.median(scrubs) * 1000:.1f} ms")
            await ui.close()
            await conn.aclose()
        finally:
            cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--tabs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--providers", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.objects, args.tabs, args.rounds, args.providers))
