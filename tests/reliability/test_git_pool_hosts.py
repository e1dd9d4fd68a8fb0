"""However many Git operations hang, an operation on a host that answers gets a worker (issue 15).

The Git pool used to let hung operations take every process it may run
(8 shared slots + 64 long-lane at the default size): with 100 GitRepositories
on a silent host, a healthy source waited one whole ``spec.timeout`` for a
worker. These tests drive `GitPool` directly, small enough that a handful of
silent hosts saturate it, against a real smart-HTTP Git server:

* one silent host with many operations holds only its share of the pool (a
  quarter of the long lane, half of the shared slots); the others wait in
  its queue and a healthy host's operation overtakes them;
* more silent hosts than the long lane holds: the healthy caller ends
  (preempts) one old hung operation instead of waiting for its deadline,
  and that one fails with `GitPreempted`, saying why.

Stuck operations get a 30 s deadline, the healthy one 10 s: a healthy call
that had to queue behind them would fail with "waiting for a free git
worker" instead of answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from sluice.git import GitAuth, GitRef
from sluice.git.errors import GitPreempted
from sluice.git.pool import GitPool, Op, PoolStats
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for
from sluice.testing.silenthost import SilentHost

MAIN = GitRef(branch="main")


def ls_remote(url: str) -> Op:
    return Op("remote_revision", (url, MAIN, GitAuth()), "unable to list references of", url)


def url_on(host: SilentHost, n: int) -> str:
    return f"http://{host.host}:{host.port}/repo-{n}.git"


@pytest.fixture
async def forge(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """A healthy Git host: (its repository's URL, the revision ls-remote must answer)."""
    async with GitHTTPServer(tmp_path / "http") as server:
        repo = server.create_repo("app.git", {"a.yaml": "a: 1\n"})
        yield server.repo_url("app.git"), f"main@sha1:{repo.head()}"


async def steady(pool: GitPool, **expected: int) -> PoolStats:
    async def reached() -> PoolStats | None:
        stats = pool.stats()
        return stats if all(getattr(stats, k) == v for k, v in expected.items()) else None

    found = await async_wait_for(reached, timeout=15, what=f"pool at {expected}")
    assert found is not None
    return found


async def stop(tasks: list[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_one_silent_host_with_many_operations_leaves_room_for_others(
        forge: tuple[str, str]) -> None:
    healthy, revision = forge
    # 4 shared slots (2 kept for hosts that answer) and a long lane of 4 (1 per host).
    pool = GitPool(max_workers=4, max_long=4, young_for=0.2)
    stuck: list[asyncio.Task[object]] = []
    try:
        async with SilentHost() as silent:
            stuck = [asyncio.create_task(pool.run(ls_remote(url_on(silent, n)), timeout=30,
                                                  key=f"stuck-{n}")) for n in range(12)]
            # The first four took the shared slots before the host was known to stall;
            # one moved to the long lane, and no more are let in: three sit in shared
            # slots (more than the stalling hosts' half), eight wait. The old pool sent
            # the silent host 8 connections and left a healthy caller nothing.
            await steady(pool, long_running=1, running=3, waiting=8, stalling_hosts=1)

            answer = await pool.run(ls_remote(healthy), timeout=10, key="healthy")

            assert answer == revision
            assert pool.stats().waiting == 8  # it overtook the silent host's queue
            assert silent.accepted == 4
            assert not any(task.done() for task in stuck)
            await stop(stuck)
        await steady(pool, running=0, long_running=0, waiting=0, stalling_hosts=0)
    finally:
        await stop(stuck)
        pool.close()


async def test_more_silent_hosts_than_the_long_lane_holds_preempt_one_for_a_healthy_caller(
        forge: tuple[str, str]) -> None:
    healthy, revision = forge
    # 2 shared slots and a long lane of 2: four silent hosts fill both.
    pool = GitPool(max_workers=2, max_long=2, young_for=0.2)
    stuck: list[asyncio.Task[object]] = []
    try:
        async with AsyncExitStack() as stack:
            hosts = [await stack.enter_async_context(SilentHost()) for _ in range(4)]
            for n, host in enumerate(hosts):
                stuck.append(asyncio.create_task(
                    pool.run(ls_remote(url_on(host, n)), timeout=30, key=f"stuck-{n}")))
                # One at a time, so which ones reach the long lane is known.
                await steady(pool, stalling_hosts=n + 1)
            await steady(pool, long_running=2, running=2, waiting=0, preempted=0)

            answer = await pool.run(ls_remote(healthy), timeout=10, key="healthy")

            assert answer == revision
            assert pool.stats().preempted == 1
            await asyncio.wait(stuck, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            done = [task for task in stuck if task.done()]
            # The oldest operation sitting in a shared slot (the third) gave way.
            assert done == [stuck[2]]
            err = done[0].exception()
            assert isinstance(err, GitPreempted)
            assert f"unable to list references of '{url_on(hosts[2], 2)}': stopped after" \
                in str(err)
            assert "to free a git worker: 4 operations were hanging at once" in str(err)
            assert pool.is_suspect("stuck-2") and not pool.is_suspect("healthy")
            await stop(stuck)
        await steady(pool, running=0, long_running=0, waiting=0, stalling_hosts=0)
    finally:
        await stop(stuck)
        pool.close()
