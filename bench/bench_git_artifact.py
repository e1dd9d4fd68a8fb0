"""Checkout + artifact of a 10,000-file repository vs `git clone` + `tar czf`.

What a GitRepository reconcile costs on a new revision: fetch the tip over
smart HTTP (loopback `git http-backend`), write the tree, build the
reproducible tar.gz and its digest. The baseline does the same with the git
CLI (`git clone --depth 1`) and GNU tar (`tar czf`, excluding `.git`), in
the same run against the same server, so only the client side differs. The
server runs in its own process so that it does not share the interpreter
(and its GIL) with the checkout being measured.

Run by hand (not part of the test suite):

    .venv/bin/python bench/bench_git_artifact.py [--files 10000] [--rounds 3] [--dir /dev/shm]

Writing 10,000 small files dominates both sides on a slow or busy disk;
`--dir` on a tmpfs measures the CPU cost instead.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.git import GitRef, checkout
from sluice.core.sourceignore import load_ignore_rules
from sluice.testing.gitserver import GitHTTPServer


def make_files(count: int) -> dict[str, str]:
    """`count` small manifests spread over 100 directories."""
    files = {}
    for n in range(count):
        files[f"apps/team-{n % 100:02d}/cm-{n:05d}.yaml"] = (
            "apiVersion: v1\nkind: ConfigMap\n"
            f"metadata:\n  name: cm-{n:05d}\n  namespace: team-{n % 100:02d}\n"
            f'data:\n  index: "{n}"\n  owner: team-{n % 100:02d}\n'
        )
    return files


async def ours(url: str, work: Path, storage: Storage) -> tuple[float, float, str]:
    started = time.perf_counter()
    commit = await checkout(url, GitRef(branch="main"), None, work, timeout=300)
    fetched = time.perf_counter()
    artifact = await storage.archive(
        "GitRepository",
        "bench",
        "app",
        f"{commit.hash}.tar.gz",
        work,
        commit.revision,
        load_ignore_rules(work),
    )
    done = time.perf_counter()
    return fetched - started, done - fetched, artifact.digest


def baseline(url: str, work: Path, out: Path) -> tuple[float, float]:
    started = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--depth", "1", url, str(work)], check=True)
    cloned = time.perf_counter()
    subprocess.run(["tar", "czf", str(out), "--exclude=.git", "-C", str(work), "."], check=True)
    return cloned - started, time.perf_counter() - cloned


async def serve(root: Path, files: int) -> None:
    """Child process: author the repository, serve it, print its URL."""
    async with GitHTTPServer(root / "srv") as server:
        t = time.perf_counter()
        repo = server.create_repo("app.git", make_files(files))
        # Forges serve packed repositories; loose objects would make the
        # server's pack generation dominate both measurements.
        repack = await asyncio.create_subprocess_exec(
            "git", "-C", str(repo.path), "repack", "-a", "-d", "-q"
        )
        assert await repack.wait() == 0
        print(f"repository: {files} files, authored in {time.perf_counter() - t:.2f}s")
        print(server.repo_url("app.git"), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: $TMPDIR)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        await serve(args.serve, args.files)
        return

    with tempfile.TemporaryDirectory(prefix="sluice-bench-", dir=args.dir) as tmp:
        root = Path(tmp)
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            str(root),
            "--files",
            str(args.files),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert server.stdout is not None and server.stdin is not None
        print((await server.stdout.readline()).decode().strip())
        url = (await server.stdout.readline()).decode().strip()
        storage = Storage(root / "store")
        rows: list[tuple[float, float, float, float]] = []
        digests = set()
        try:
            for n in range(args.rounds):
                fetch, archive, digest = await ours(url, root / f"ours-{n}", storage)
                digests.add(digest)
                clone, tar = await asyncio.to_thread(
                    baseline, url, root / f"cli-{n}", root / f"cli-{n}.tar.gz"
                )
                rows.append((fetch, archive, clone, tar))
                print(
                    f"round {n + 1}: sluice checkout {fetch:.2f}s + artifact {archive:.2f}s"
                    f" = {fetch + archive:.2f}s | git clone {clone:.2f}s + tar czf {tar:.2f}s"
                    f" = {clone + tar:.2f}s"
                )
                shutil.rmtree(root / f"ours-{n}")
                shutil.rmtree(root / f"cli-{n}")
        finally:
            server.stdin.close()
            await server.wait()

    ours_total = statistics.median(r[0] + r[1] for r in rows)
    cli_total = statistics.median(r[2] + r[3] for r in rows)
    print(
        f"median: sluice {ours_total:.2f}s, git+tar {cli_total:.2f}s, "
        f"ratio {ours_total / cli_total:.2f}x"
    )
    print(f"artifact digest identical across rounds: {len(digests) == 1}")


if __name__ == "__main__":
    asyncio.run(main())
