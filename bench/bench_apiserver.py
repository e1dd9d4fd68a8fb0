"""Benchmarks of the embedded cluster, run by hand: `.venv/bin/python bench/bench_apiserver.py`.

Measures, against a fresh embedded cluster over HTTPS with its token:
- create, get and list of N ConfigMaps (requests per second, 8 concurrent clients);
- watch delivery latency (p50/p99) with W watchers on one namespace;
- `kubectl apply --server-side` of M objects, and, as the baseline measured in the
  same run, `kubectl apply --dry-run=client` of the same files (kubectl's own cost
  without the server doing any work), so the ratio shows what the server adds.
Numbers are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
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

import httpx


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--apply", type=int, default=1_000)
    args = parser.parse_args()
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
