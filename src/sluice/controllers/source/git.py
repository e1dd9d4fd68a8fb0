"""The source controller's view of `sluice.git`: the same calls, its own error types.

`remote_revision` and `checkout` are `sluice.git`'s (run in killable worker
processes, see `sluice.git.pool`), with each `sluice.git.errors.GitError`
turned into the `SourceError` of the same Flux reason (`errors.py`), so the
reconciler maps failures onto conditions without knowing the Git layer's
tree. Messages are already secret-free.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sluice.controllers.source.errors import (
    AuthenticationFailed,
    GitOperationFailed,
    InvalidURL,
    SourceError,
)
from sluice.git import DEFAULT_BRANCH, Commit, GitAuth, GitRef, Signature, client
from sluice.git import errors as git_errors

__all__ = [
    "DEFAULT_BRANCH",
    "DEFAULT_TIMEOUT",
    "Commit",
    "GitAuth",
    "GitRef",
    "Signature",
    "as_source_error",
    "checkout",
    "remote_revision",
]

DEFAULT_TIMEOUT = client.DEFAULT_TIMEOUT


def as_source_error(err: git_errors.GitError) -> SourceError:
    """The source controller's error for a Git layer error (same reason, same message)."""
    if isinstance(err, git_errors.AuthenticationFailed):
        return AuthenticationFailed(err.message)
    if isinstance(err, git_errors.InvalidURL):
        return InvalidURL(err.message)
    return GitOperationFailed(err.message)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except git_errors.GitError as err:
        raise as_source_error(err) from None


async def remote_revision(
    url: str,
    ref: GitRef | None = None,
    auth: GitAuth | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the worker's deadline
    key: str = "",
) -> str:
    """The revision `checkout` would produce right now, from one ls-remote."""
    with _translated():
        return await client.remote_revision(url, ref, auth, timeout=timeout, key=key)


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
    """Check `ref` of `url` out into the empty directory `dest` (see `sluice.git.client`)."""
    with _translated():
        return await client.checkout(url, ref, auth, dest, timeout, recurse_submodules, key=key,
                                     worktree=worktree)
