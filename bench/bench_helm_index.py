"""Benchmark of Helm repository indexes, run by hand: `.venv/bin/python bench/bench_helm_index.py`.

Large ``index.yaml`` files are the source-controller complaint users raise
most (Bitnami, Artifactory: 20-100 MB). Against a loopback repository
serving a generated index of ``--charts`` charts x ``--versions`` versions,
this measures, in the same run:

- the baseline: Helm's own Go code fetching and parsing the index
  (`helm_python.repo_index`, what ``helm repo update`` does);
- Sluice's HelmRepository path with a new index: fetch + parse + JSON for
  storage (`fetch_index`, `load_index`, `to_json`);
- its no-change path: fetch + sha256 only (what a reconcile costs when the
  index did not change);
- the HelmChart side: loading the stored JSON index (cache miss) and a
  version pick from the cached index (cache hit).

Figures are printed (median of ``--repeat`` runs, ratios to the baseline);
nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sluice.controllers.source.helmauth import RepositoryAuth
from sluice.controllers.source.helmindex import (
    IndexCache,
    fetch_index,
    load_index,
    select_version,
)
from sluice.helmsdk import helm, run
from sluice.testing.helmrepo import HelmRepoServer


def generate_index(charts: int, versions: int) -> bytes:
    lines = ["apiVersion: v1", "entries:"]
    for c in range(charts):
        name = f"chart-{c:05d}"
        lines.append(f"  {name}:")
        for v in range(versions):
            version = f"{v // 10}.{v % 10}.{c % 7}"
            digest = hashlib.sha256(f"{name}-{version}".encode()).hexdigest()
            lines += [
                "  - apiVersion: v2",
                f"    appVersion: {version}",
                '    created: "2026-01-01T00:00:00.000000000Z"',
                f"    description: A Helm chart named {name} for benchmarks",
                f"    digest: {digest}",
                "    home: https://example.com/charts",
                "    maintainers:",
                "    - email: team@example.com",
                "      name: team",
                f"    name: {name}",
                "    urls:",
                f"    - https://example.com/charts/{name}-{version}.tgz",
                f"    version: {version}",
            ]
    lines.append('generated: "2026-01-01T00:00:00Z"')
    return ("\n".join(lines) + "\n").encode()


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--charts", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    auth = RepositoryAuth()
    with tempfile.TemporaryDirectory() as tmp:
        data = generate_index(args.charts, args.versions)
        async with HelmRepoServer(Path(tmp) / "repo") as repo:
            repo.serve_raw("/index.yaml", data)
            h = helm()

            async def go_helm() -> None:
                await run(h.repo_index, repo.url)

            async def new_index() -> None:
                raw = await fetch_index(repo.url, auth, timeout=60)
                index = await asyncio.to_thread(load_index, raw)
                await asyncio.to_thread(index.to_json)

            async def unchanged() -> None:
                raw = await fetch_index(repo.url, auth, timeout=60)
                hashlib.sha256(raw).hexdigest()

            stored = Path(tmp) / "index.json"
            stored.write_bytes(load_index(data).to_json())

            async def chart_miss() -> None:
                await IndexCache().get(stored, "k")

            cache = IndexCache()
            await cache.get(stored, "k")

            async def chart_hit() -> None:
                index = await cache.get(stored, "k")
                select_version(index, "chart-00042", ">=1.0.0 <2.0.0")

            base = await timed(go_helm, args.repeat)
            rows = [("helm (Go) fetch + parse [baseline]", base),
                    ("sluice HelmRepository, new index", await timed(new_index, args.repeat)),
                    ("sluice HelmRepository, unchanged", await timed(unchanged, args.repeat)),
                    ("sluice HelmChart, index cache miss", await timed(chart_miss, args.repeat)),
                    ("sluice HelmChart, cache hit + pick", await timed(chart_hit, args.repeat))]
    print(f"index: {args.charts} charts x {args.versions} versions, {len(data) / 1e6:.1f} MB")
    for label, seconds in rows:
        print(f"{label:40s} {seconds * 1000:9.1f} ms   x{seconds / base:6.3f}")


if __name__ == "__main__":
    asyncio.run(main())
