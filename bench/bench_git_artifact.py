"""Checkout + artifact of a 10,000-file repository vs `git clone` + `tar czf`.

What a GitRepository reconcile costs on a new revision: fetch the tip over
smart HTTP (loopback `git http-backend`), build the reproducible tar.gz and
its digest, exactly as the reconciler does (`checkout` without a work tree,
then `Storage.archive_checkout`: a Git worker archives the commit's
objects). The baseline does the same with the git CLI (`git clone --depth
1`) and GNU tar (`tar czf`, excluding `.git`), in the same run against the
same server, so only the client side differs. The server runs in its own
process so that it does not share the interpreter (and its GIL) with the
checkout being measured.

Run by hand (not part of the test suite):

    .venv/bin/python bench/bench_git_artifact.py [--files 10000] [--rounds 3] [--dir /dev/shm]
                                                 [--worktree]

`--worktree` measures the path taken when the files must exist (a
GitRepository with `spec.include`): checkout writing the tree, archive of
the files (in the worker too). Writing 10,000 small files dominates on a
slow or busy disk; `--dir` on a tmpfs measures the CPU cost instead.

Fairness: the Git worker pool is started before the first round (a running
controller has it warm: one zygote per process); the two sides alternate
which goes first, with `sync` before each, so disk writeback of one side is
not billed to the other. CPU seconds are reported besides wall time (the
machine may be shared): ours is this process plus the Git workers (read
from /proc), the baseline is git's and tar's processes (children's rusage).
The server's CPU is in neither.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.git import GitRef, checkout, remote_revision
from sluice.git.pool import default_pool
from sluice.testing.gitserver import GitHTTPServer

_TICK = os.sysconf("SC_CLK_TCK")


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


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def our_cpu() -> float:
    """CPU seconds of this process and of the Git pool's processes so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + sum(_proc_cpu(p) for p in default_pool().pids())


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


Row = tuple[float, float, float]  # checkout, artifact, CPU seconds


async def ours(url: str, work: Path, storage: Storage, worktree: bool) -> tuple[Row, str]:
    cpu = our_cpu()
    started = time.perf_counter()
    commit = await checkout(url, GitRef(branch="main"), None, work, timeout=300,
                            worktree=worktree)
    fetched = time.perf_counter()
    artifact = await storage.archive_checkout(
        "GitRepository", "bench", "app", f"{commit.hash}.tar.gz", work, commit.revision,
        from_disk=worktree)
    done = time.perf_counter()
    return (fetched - started, done - fetched, our_cpu() - cpu), artifact.digest


def baseline(url: str, work: Path, out: Path) -> Row:
    cpu = children_cpu()
    started = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--depth", "1", url, str(work)], check=True)
    cloned = time.perf_counter()
    subprocess.run(["tar", "czf", str(out), "--exclude=.git", "-C", str(work), "."], check=True)
    return cloned - started, time.perf_counter() - cloned, children_cpu() - cpu


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
    parser.add_argument("--worktree", action="store_true",
                        help="write the files and archive them (the spec.include path)")
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
        await remote_revision(url, GitRef(branch="main"))  # the pool's zygote and a worker
        rows: list[tuple[Row, Row]] = []
        digests = set()
        try:
            for n in range(args.rounds):
                # Alternate who goes first; flush the disk before each side.
                mine: Row | None = None
                theirs: Row | None = None
                for side in (("ours", "cli") if n % 2 == 0 else ("cli", "ours")):
                    await asyncio.to_thread(os.sync)
                    if side == "ours":
                        mine, digest = await ours(url, root / f"ours-{n}", storage,
                                                  args.worktree)
                        digests.add(digest)
                    else:
                        theirs = await asyncio.to_thread(
                            baseline, url, root / f"cli-{n}", root / f"cli-{n}.tar.gz")
                assert mine is not None and theirs is not None
                rows.append((mine, theirs))
                print(
                    f"round {n + 1}: sluice checkout {mine[0]:.2f}s + artifact {mine[1]:.2f}s"
                    f" = {mine[0] + mine[1]:.2f}s, {mine[2]:.2f}s CPU | git clone {theirs[0]:.2f}s"
                    f" + tar czf {theirs[1]:.2f}s = {theirs[0] + theirs[1]:.2f}s,"
                    f" {theirs[2]:.2f}s CPU"
                )
                shutil.rmtree(root / f"ours-{n}")
                shutil.rmtree(root / f"cli-{n}")
        finally:
            server.stdin.close()
            await server.wait()

    ours_total = statistics.median(r[0][0] + r[0][1] for r in rows)
    cli_total = statistics.median(r[1][0] + r[1][1] for r in rows)
    ours_cpu = statistics.median(r[0][2] for r in rows)
    cli_cpu = statistics.median(r[1][2] for r in rows)
    variant = "files written" if args.worktree else "from the objects"
    print(
        f"median ({variant}): sluice {ours_total:.2f}s, git+tar {cli_total:.2f}s, "
        f"ratio {ours_total / cli_total:.2f}x | CPU sluice {ours_cpu:.2f}s, git+tar "
        f"{cli_cpu:.2f}s, ratio {ours_cpu / cli_cpu:.2f}x"
    )
    print(f"artifact digest identical across rounds: {len(digests) == 1}")


if __name__ == "__main__":
    asyncio.run(main())
