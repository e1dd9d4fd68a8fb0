"""A Git worker process that dies costs one operation, never the process (issue 14).

libssh2 is known to crash on some RSA keys; libgit2 runs in worker processes
so such a crash (here: SIGSEGV sent to the busy worker, as a real crash would
end it) fails that operation with `WorkerCrashed`, while operations running
beside it finish and the next one gets a fresh worker.
"""

from __future__ import annotations

import asyncio
import os
import signal

from sluice.git import GitAuth, GitRef
from sluice.git.errors import WorkerCrashed
from sluice.git.pool import GitPool, Op
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for
from sluice.testing.silenthost import SilentHost

MAIN = GitRef(branch="main")


def ls_remote(url: str) -> Op:
    return Op("remote_revision", (url, MAIN, GitAuth()), "unable to list references of", url)


async def test_a_crashed_worker_fails_only_its_own_operation(http_server: GitHTTPServer) -> None:
    repo = http_server.create_repo("app.git", {"a.yaml": "a: 1\n"})
    healthy = http_server.repo_url("app.git")
    pool = GitPool(max_workers=4)
    try:
        async with SilentHost() as silent:
            doomed = ls_remote(f"http://{silent.host}:{silent.port}/x.git")
            stuck = asyncio.create_task(pool.run(doomed, timeout=60, key="doomed"))

            async def one_busy() -> bool:
                return len(pool.busy_pids()) == 1

            await async_wait_for(one_busy, timeout=30, what="the stuck operation to start")
            (victim,) = pool.busy_pids()
            # An operation beside the doomed one is not disturbed by it.
            beside = await pool.run(ls_remote(healthy), timeout=60, key="beside")
            assert beside == f"main@sha1:{repo.head()}"
            assert pool.busy_pids() == {victim}
            os.kill(victim, signal.SIGSEGV)
            try:
                await asyncio.wait_for(stuck, timeout=30)
            except WorkerCrashed as err:
                assert "the git worker process exited unexpectedly" in str(err)
            else:
                raise AssertionError("the crashed operation reported success")
        # This process, its pool and other sources go on.
        revision = await pool.run(ls_remote(healthy), timeout=60, key="healthy")
        assert revision == f"main@sha1:{repo.head()}"
        assert victim not in pool.pids()
    finally:
        pool.close()
