"""The async Git API every controller uses: ls-remote, checkout, commit and push.

Each call is one operation run by `sluice.git.pool` in a worker process
with a deadline (`timeout`) that really ends it: past it the worker is
killed, its connection closed, and the call fails with `GitTimeout`. No lock
is held in this process while the network is used.

`key` names who asks (e.g. ``GitRepository/flux-system/podinfo``): the pool
shares its workers fairly between keys, so one object's stuck remote cannot
hold up another's. Errors are `sluice.git.errors` errors with secret-free
messages.

Pushing (`commit_and_push`) takes a work tree made by `checkout`, commits
whatever changed in it on `branch` and pushes. When the remote branch moved
meanwhile (the push is not a fast-forward), the change is re-applied on the
new tip and pushed again, up to `attempts` times: by default as a three-way
merge of the commit onto the new tip (refused on conflicts); with
`reapply`, by checking the new tip out afresh and calling
``await reapply(worktree)`` to redo the edit there (what an image
automation wants: its setters run again on the new files). `force=True`
(Flux's "switch branch" push) overwrites instead and never retries.
`signing` (an OpenPGP or SSH key) signs every commit made (`sluice.git.signing`).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from sluice.core.tarwriter import ArchiveSummary
from sluice.git.auth import GitAuth, validate
from sluice.git.changes import FileChange
from sluice.git.errors import PushRejected
from sluice.git.pool import Op, default_pool
from sluice.git.refs import Author, Commit, GitRef, PushResult
from sluice.git.signing import CommitSigner

__all__ = ["DEFAULT_TIMEOUT", "archive", "checkout", "commit_and_push", "commit_changes",
           "remote_revision"]

DEFAULT_TIMEOUT = 60.0

Reapply = Callable[[Path], Awaitable[bool]]


async def remote_revision(
    url: str,
    ref: GitRef | None = None,
    auth: GitAuth | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the worker's deadline
    key: str = "",
) -> str:
    """The revision `checkout` would produce right now, from one ls-remote."""
    ref, auth = ref or GitRef(), auth or GitAuth()
    validate(url, auth)
    op = Op("remote_revision", (url, ref, auth), "unable to list references of", url)
    result = await default_pool().run(op, timeout=timeout, key=key, trust=auth.ca_digest)
    assert isinstance(result, str)
    return result


async def checkout(
    url: str,
    ref: GitRef | None,
    auth: GitAuth | None,
    dest: Path | str,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the worker's deadline
    recurse_submodules: bool = False,
    *,
    key: str = "",
    worktree: bool = True,
) -> Commit:
    """Check `ref` of `url` out into the empty directory `dest`.

    `dest` receives the working tree plus a `.git` directory (which the
    default ignore rules keep out of artifacts). With ``worktree=False``
    only `.git` is written (the objects, ``HEAD`` at the commit): enough for
    `archive`, which then reads the blobs instead of files. Submodules
    always get a work tree.
    """
    ref, auth = ref or GitRef(), auth or GitAuth()
    validate(url, auth)
    op = Op("checkout", (url, ref, auth, str(dest), recurse_submodules, worktree),
            "unable to clone", url)
    result = await default_pool().run(op, timeout=timeout, key=key, trust=auth.ca_digest)
    assert isinstance(result, Commit)
    return result


async def archive(
    workdir: Path | str,
    out: Path | str,
    *,
    spec_ignore: str | None = None,
    from_disk: bool = False,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the worker's deadline
    key: str = "",
) -> ArchiveSummary:
    """Write the reproducible artifact (tar.gz) of the checkout in `workdir` to `out`.

    In a worker, from ``HEAD``'s objects when that gives the same bytes as
    archiving the files, else from the files (`sluice.git.archiving`); with
    `from_disk` from the work tree as the caller left it (includes copied
    in). `spec_ignore` is the object's ``spec.ignore``. Local, like
    `commit_changes`. Failures are `ArchiveFailed` (``ArchiveOperationFailed``).
    """
    op = Op("archive", (str(workdir), str(out), spec_ignore, from_disk),
            "unable to archive", str(workdir))
    result = await default_pool().run(op, timeout=timeout, key=key)
    assert isinstance(result, ArchiveSummary)
    return result


async def commit_changes(
    workdir: Path | str,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the worker's deadline
    key: str = "",
) -> tuple[list[FileChange], bool]:
    """What ``HEAD`` of the checkout in `workdir` changed, file by file (`changes`), and
    whether more files changed than are listed. Local: no remote is asked, so the pool
    counts it against no host's share (its "URL" is the directory)."""
    op = Op("commit_changes", (str(workdir),), "unable to read the changes in", str(workdir))
    result = await default_pool().run(op, timeout=timeout, key=key)
    assert isinstance(result, tuple)
    return result


async def commit_and_push(
    workdir: Path | str,
    url: str,
    auth: GitAuth | None = None,
    *,
    branch: str,
    message: str,
    author: Author,
    force: bool = False,
    refspecs: Sequence[str] = (),
    push_options: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - each push's deadline
    attempts: int = 3,
    reapply: Reapply | None = None,
    signing: CommitSigner | None = None,
    key: str = "",
) -> PushResult:
    """Commit what changed in `workdir` on `branch` and push it (see the module docs)."""
    auth = auth or GitAuth()
    validate(url, auth)
    pool = default_pool()
    rebase_attempts = 0 if (reapply is not None or force) else max(attempts - 1, 0)
    tree, fresh_dirs, pushes = Path(workdir), [], 0
    try:
        while True:
            op = Op("commit_push", (str(tree), url, auth, branch, message, author, force,
                                    tuple(refspecs), tuple(push_options), rebase_attempts,
                                    signing),
                    "unable to push to", url)
            try:
                result = await pool.run(op, timeout=timeout, key=key, trust=auth.ca_digest)
                assert isinstance(result, PushResult)
                return _counted(result, pushes)
            except PushRejected as err:
                pushes += 1
                if reapply is None or force or not err.non_fast_forward or pushes >= attempts:
                    raise
            fresh = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sluice-push-"))
            fresh_dirs.append(fresh)
            tip = await checkout(url, GitRef(branch=branch), auth, fresh / "tree", timeout,
                                 key=key)
            if not await reapply(fresh / "tree"):
                return PushResult(pushed=False, branch=branch, base=tip.hash, attempts=pushes)
            tree = fresh / "tree"
    finally:
        for path in fresh_dirs:
            await asyncio.to_thread(shutil.rmtree, path, True)


def _counted(result: PushResult, earlier: int) -> PushResult:
    if not earlier:
        return result
    return PushResult(result.pushed, result.commit, result.branch, result.refspecs,
                      result.attempts + earlier, result.base)
