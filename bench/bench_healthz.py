"""`/healthz` latency while the embedded cluster processes its largest requests.

Run by hand: `.venv/bin/python bench/bench_healthz.py`. Against `sluice cluster
up` in a child process (HTTPS, token), one client sends a large request while
another polls `/healthz` every 10 ms on its own connection; the bench prints
the polls' p50, p99 and max latency during each request, and, as the baseline
measured in the same run, the same figures with the server idle. Issue 15
found `/healthz` frozen for 21.8 s by one 2.7 MB YAML body. Nothing asserted.

Requests (each at or near the 3 MiB body limit):
- `yaml-list`: a HelmRelease whose `spec.values` holds a 340k-element block
  list (2.7 MB of YAML; stored, about 0.7 MB as JSON);
- `yaml-900k`: the issue's 900k-element list, as flow YAML `[1,1,...]`
  (1.8 MB; refused, too large to store as JSON);
- `json-finalizers`: a ConfigMap with 300k finalizers (refused);
- `json-string`: a ConfigMap with one 1.4 MB value (stored).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from cluster_process import ClusterProcess


def _bodies(namespace: str) -> dict[str, tuple[str, str, bytes]]:
    hr = f"/apis/helm.toolkit.fluxcd.io/v2/namespaces/{namespace}/helmreleases"
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    head = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
            "  name: {name}\nspec:\n  interval: 1m\n  chart:\n    spec:\n      chart: c\n"
            "      sourceRef: {{kind: HelmRepository, name: r}}\n  values:\n    items:\n")
    block = head.format(name="block") + "    - 1\n" * 340_000
    flow = head.format(name="flow").replace("    items:\n", "    items: [") + \
        "1," * 900_000 + "1]\n"
    finalizers = ('{"metadata":{"name":"fin","finalizers":[' +
                  ",".join(['"a.io/f"'] * 300_000) + "]}}")
    string = '{"metadata":{"name":"big"},"data":{"v":"' + "x" * 1_400_000 + '"}}'
    return {
        "yaml-list": (hr, "application/yaml", block.encode()),
        "yaml-900k": (hr, "application/yaml", flow.encode()),
        "json-finalizers": (cms, "application/json", finalizers.encode()),
        "json-string": (cms, "application/json", string.encode()),
    }


async def _poll(client: httpx.AsyncClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        r = await client.get("/healthz")
        r.raise_for_status()
        out.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)


def _figures(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (f"p50 {statistics.median(ms):7.1f} ms  p99 {p99:7.1f} ms  max {ms[-1]:7.1f} ms"
            f"  ({len(ms)} polls)")


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = ClusterProcess(Path(tmp) / "data")
        try:
            ctx = ssl.create_default_context(cafile=str(server.data / "pki" / "ca.crt"))
            headers = {"Authorization": "Bearer " + (server.data / "token").read_text().strip()}
            async with httpx.AsyncClient(base_url=server.url, verify=ctx, headers=headers,
                                         timeout=300) as poller, \
                    httpx.AsyncClient(base_url=server.url, verify=ctx, headers=headers,
                                      timeout=300) as sender:
                idle: list[float] = []
                stop = asyncio.Event()
                task = asyncio.create_task(_poll(poller, stop, idle))
                await asyncio.sleep(2)
                stop.set()
                await task
                print(f"{'idle (baseline)':16} {_figures(idle)}")
                for name, (path, ctype, body) in _bodies("default").items():
                    for i in range(rounds):
                        samples: list[float] = []
                        stop = asyncio.Event()
                        task = asyncio.create_task(_poll(poller, stop, samples))
                        await asyncio.sleep(0.2)
                        started = time.perf_counter()
                        r = await sender.post(path, content=body,
                                              headers={"Content-Type": ctype})
                        took = time.perf_counter() - started
                        stop.set()
                        await task
                        if r.status_code < 300:
                            await sender.delete(path + "/" + r.json()["metadata"]["name"])
                        print(f"{name:16} {_figures(samples)}  request {took:6.2f} s -> "
                              f"{r.status_code} ({len(body) / 1e6:.1f} MB)  "
                              f"max/idle-p50 x{max(samples) / statistics.median(idle):.0f}")
                        del i
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    asyncio.run(main(parser.parse_args().rounds))
