"""Image reflector costs at 10,000 tags: choosing a tag, and scanning a paged repository.

    .venv/bin/python bench/bench_image_policy.py [--tags 10000] [--rounds 5]

1. **Policy**: `latest_tag` (what an ImagePolicy reconcile computes once it
   has the stored tags) over N tags shaped like real repositories (semver
   releases and prereleases, build tags ``main-<sha>-<ts>``), for a semver
   range, numerical over an extracted timestamp (``filterTags`` with
   ``extract``), and alphabetical. Baseline, same run and same list: one
   plain ``sorted()`` of the tags, the least any ordering policy can do.
2. **Scan**: an ImageRepository's scan (ping, every ``tags/list`` page
   through ``Link``, exclusion list, descending sort, Adler-32 revision,
   tags written to disk) against the fixture registry serving N tags in
   pages of 100 (Docker Hub's cap) and 1000 (GHCR's). Baseline, same run,
   same server: fetching the same pages with a bare httpx client and no
   processing (the network floor of any client).

Medians of ``--rounds`` runs are printed with the ratio to their baseline.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from sluice.api.image import ImagePolicyChoice, TagFilter
from sluice.controllers.image_reflector.policies import latest_tag
from sluice.controllers.image_reflector.scanning import compile_exclusions, summarise
from sluice.controllers.image_reflector.tagstore import TagStore
from sluice.oci.client import RegistryClient
from sluice.oci.names import parse_image
from sluice.testing.registry import FixtureRegistry


def make_tags(n: int) -> list[str]:
    tags: list[str] = []
    i = 0
    while len(tags) < n:
        major, minor, patch = i // 400, (i // 20) % 20, i % 20
        tags.append(f"{major}.{minor}.{patch}")
        if i % 5 == 0:
            tags.append(f"{major}.{minor}.{patch}-rc.{i % 3}")
        if i % 2 == 0:
            tags.append(f"main-{i:07x}-{1_700_000_000 + i}")
        i += 1
    return tags[:n]


def timed(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def atimed(fn: Callable[[], Awaitable[object]], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_policies(tags: list[str], rounds: int) -> None:
    base = timed(lambda: sorted(tags), rounds)
    cases = {
        "semver >=1.0.0 <20.0.0": (ImagePolicyChoice.from_dict(
            {"semver": {"range": ">=1.0.0 <20.0.0"}}), None),
        "numerical asc, extract $ts": (ImagePolicyChoice.from_dict(
            {"numerical": {"order": "asc"}}), TagFilter.from_dict(
            {"pattern": r"^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"})),
        "alphabetical asc": (ImagePolicyChoice.from_dict({"alphabetical": {"order": "asc"}}),
                             None),
    }
    print(f"policy over {len(tags)} tags (baseline: sorted() {base * 1000:.2f} ms)")
    for name, (choice, filt) in cases.items():
        winner = latest_tag(choice, filt, tags)
        t = timed(lambda c=choice, f=filt: latest_tag(c, f, tags), rounds)
        print(f"  {name:30s} {t * 1000:8.2f} ms  x{t / base:6.1f}  -> {winner}")


async def bench_scan(tags: list[str], rounds: int, page: int) -> None:
    async with FixtureRegistry(page_size=page) as reg:
        reg.set_tags("org/app", tags)
        repo = parse_image(f"{reg.host}/org/app")
        exclusions = compile_exclusions(["^.*\\.sig$"])
        with tempfile.TemporaryDirectory() as tmp:
            store = TagStore(Path(tmp))

            async def scan() -> None:
                async with RegistryClient(repo) as client:
                    found = await client.list_tags()
                result = await asyncio.to_thread(summarise, found, exclusions)
                await asyncio.to_thread(store.write, "ns", "app", result.tags)

            async def floor() -> None:
                async with httpx.AsyncClient(base_url=reg.url) as client:
                    await client.get("/v2/")
                    url: str | None = "/v2/org/app/tags/list?n=1000"
                    while url:
                        resp = await client.get(url)
                        link = resp.headers.get("Link")
                        url = link.split(";")[0].strip("<>") if link else None

            base = await atimed(floor, rounds)
            t = await atimed(scan, rounds)
            calls = reg.tag_list_calls // (2 * rounds)
        print(f"scan of {len(tags)} tags, pages of {page} ({calls} pages): "
              f"{t * 1000:8.1f} ms  (bare httpx {base * 1000:.1f} ms, x{t / base:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tags = make_tags(args.tags)
    bench_policies(tags, args.rounds)
    for page in (100, 1000):
        asyncio.run(bench_scan(tags, args.rounds, page))
    return 0


if __name__ == "__main__":
    sys.exit(main())
