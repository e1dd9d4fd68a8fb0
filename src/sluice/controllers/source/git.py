"""Fetch a Flux GitRepository `ref` and report its revision (pygit2).

Two coroutines serve the GitRepository reconciler:

* `remote_revision(url, ref, auth)`: one ls-remote, answering "which
  revision would a checkout give now?" so unchanged sources skip the fetch.
* `checkout(url, ref, auth, dest, timeout)`: fetch the smallest history that
  answers the ref (depth 1 except for commits), write the tree into `dest`
  and return a `Commit` whose `revision` is the Flux revision string.

Ref precedence is Flux's: `commit` > `name` > `semver` > `tag` > `branch`,
and `master` when nothing is set. A commit with a branch fetches that branch
and requires the commit to be on it; a commit alone fetches all branches and
tags. Revisions read `main@sha1:<40 hex>` (branch), `v1.0.0@sha1:<hex>`
(tag, semver), `refs/heads/main@sha1:<hex>` (`name`) and `sha1:<hex>`
(commit alone). `semver` picks the highest tag matching the Masterminds
range (`sluice.core.semver`).

Credentials, SSH host-key pinning and secret scrubbing live in
`gitauth.py` (`GitAuth.from_secret` reads a Flux Git Secret).

libgit2 calls block, so each operation runs on its own daemon thread; on
timeout the coroutine fails at once and the thread is told to abort at its
next progress callback (a thread stuck in a silent socket read cannot be
interrupted and is abandoned rather than waited for).

Errors are `AuthenticationFailed` or `GitOperationFailed` (`errors.py`),
whose messages never contain credentials.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pygit2

from sluice.controllers.source.errors import AuthenticationFailed, GitOperationFailed, InvalidURL
from sluice.controllers.source.gitauth import (
    Cancelled,
    GitAuth,
    Refused,
    Scrubber,
    Session,
    safe_url,
)
from sluice.core import semver

__all__ = [
    "DEFAULT_BRANCH",
    "Commit",
    "GitAuth",
    "GitRef",
    "Signature",
    "checkout",
    "remote_revision",
]

DEFAULT_BRANCH = "master"
DEFAULT_TIMEOUT = 60.0
_FETCHED = "refs/sluice/fetched"
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_T = TypeVar("_T")


@dataclass(frozen=True)
class GitRef:
    """`spec.ref` of a GitRepository; empty strings mean "not set"."""

    branch: str = ""
    tag: str = ""
    semver: str = ""
    name: str = ""
    commit: str = ""

    @classmethod
    def from_spec(cls, ref: Mapping[str, Any] | None) -> GitRef:
        ref = ref or {}
        return cls(
            **{
                key: str(ref.get(key) or "")
                for key in ("branch", "tag", "semver", "name", "commit")
            }
        )


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    when: datetime


@dataclass(frozen=True)
class Commit:
    """The checked-out commit and the Flux revision string naming it."""

    hash: str
    reference: str  # "refs/heads/main", "refs/tags/v1.0.0", or "" for a bare commit
    revision: str
    message: str
    author: Signature
    committer: Signature

    @property
    def short_message(self) -> str:
        """The subject line, cut at 50 characters as in Flux events."""
        subject = self.message.split("\n", 1)[0]
        return subject[:50] + "..." if len(subject) > 50 else subject


def _revision(reference: str, sha: str, absolute: bool) -> str:
    if not reference:
        return f"sha1:{sha}"
    if absolute:
        return f"{reference}@sha1:{sha}"
    parts = reference.split("/", 2)
    short = parts[2] if len(parts) == 3 else reference
    return f"{short}@sha1:{sha}"


# ------------------------------------------------------------ error mapping

_AUTH_HINTS = (
    "authentication",
    "401",
    "403",
    "unauthorized",
    "permission denied",
    "hostkey",
    "publickey",
    "credentials",
)


@contextmanager
def _translated(session: Session, step: str, scrub: Scrubber) -> Iterator[None]:
    """Turn anything raised by libgit2 or the callbacks into SourceErrors."""
    where = f"{step} '{safe_url(session.url)}'"
    try:
        yield
    except (AuthenticationFailed, GitOperationFailed, InvalidURL):
        raise
    except Refused as err:
        cls = AuthenticationFailed if err.auth else GitOperationFailed
        raise cls(f"{where}: {scrub(str(err))}") from None
    except Cancelled:
        raise GitOperationFailed(f"{where}: operation cancelled") from None
    except (pygit2.GitError, OSError, ValueError, KeyError, TypeError) as err:
        detail = scrub(str(err)) or type(err).__name__
        if "too many redirects or authentication replays" in detail:
            detail = "authentication failed: the server rejected the credentials"
        elif "requires authentication that we do not support" in detail:
            # An HTTP challenge libgit2 cannot answer, e.g. `Bearer` after a token.
            detail = (
                "authentication failed: the server rejected the bearer token"
                if session.auth.bearer_token
                else "authentication required"
            )
        lowered = detail.lower()
        cls = AuthenticationFailed if any(h in lowered for h in _AUTH_HINTS) else GitOperationFailed
        raise cls(f"{where}: {detail}") from None


# --------------------------------------------------------- blocking work


def _list_refs(session: Session, repo: pygit2.Repository) -> dict[str, str]:
    """ls-remote: ref name -> commit id (annotated tags peeled)."""
    remote = repo.remotes.create_anonymous(session.url)
    with session.connection() as callbacks:
        heads = remote.list_heads(callbacks=callbacks)
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for head in heads:
        name = head.name or ""
        if name.endswith("^{}"):
            peeled[name[:-3]] = str(head.oid)
        elif name:
            refs[name] = str(head.oid)
    return {name: peeled.get(name, oid) for name, oid in refs.items()}


def _semver_tag(refs: Mapping[str, str], constraint: str) -> str:
    try:
        con = semver.parse_constraint(constraint)
    except semver.SemverError as err:
        raise GitOperationFailed(f"semver parse error: {err}") from None
    tags = sorted(n.removeprefix("refs/tags/") for n in refs if n.startswith("refs/tags/"))
    tag = semver.latest(tags, con)
    if tag is None:
        raise GitOperationFailed(f"no match found for semver: {constraint}")
    return tag


def _target(ref: GitRef) -> tuple[str, bool]:
    """(full ref name to fetch, absolute revision?) for non-commit refs."""
    if ref.name:
        if not ref.name.startswith("refs/"):
            raise GitOperationFailed(f"ref name '{ref.name}' must be a full reference (refs/...)")
        return ref.name, True
    if ref.tag:
        return f"refs/tags/{ref.tag}", False
    return f"refs/heads/{ref.branch or DEFAULT_BRANCH}", False


def _check_commit(commit: str) -> str:
    commit = commit.strip().lower()
    if not _HEX40.match(commit):
        raise GitOperationFailed(f"commit '{commit}' is not a full 40-character SHA-1")
    return commit


def _remote_revision_sync(url: str, ref: GitRef, auth: GitAuth, session: Session) -> str:
    scrub = Scrubber(url, auth)
    if ref.commit:
        commit = _check_commit(ref.commit)
        return _revision(f"refs/heads/{ref.branch}" if ref.branch else "", commit, False)
    with (
        tempfile.TemporaryDirectory(prefix="sluice-ls-") as tmp,
        _translated(session, "unable to list references of", scrub),
    ):
        refs = _list_refs(session, pygit2.init_repository(tmp, bare=True))
    if ref.semver and not ref.name:
        tag = _semver_tag(refs, ref.semver)
        return _revision(f"refs/tags/{tag}", refs[f"refs/tags/{tag}"], False)
    name, absolute = _target(ref)
    if name not in refs:
        raise GitOperationFailed(
            f"unable to list references of '{safe_url(url)}': couldn't find remote ref \"{name}\""
        )
    return _revision(name, refs[name], absolute)


def _signature(sig: pygit2.Signature) -> Signature:
    tz = timezone(timedelta(minutes=sig.offset))
    return Signature(sig.name, sig.email, datetime.fromtimestamp(sig.time, tz))


def _fetch(session: Session, remote: pygit2.Remote, refspecs: list[str], depth: int) -> None:
    with session.connection() as callbacks:
        remote.fetch(refspecs, callbacks=callbacks, depth=depth)


def _update_submodules(session: Session, repo: pygit2.Repository) -> None:
    for submodule in repo.submodules:
        with session.connection() as callbacks:
            repo.submodules.update([submodule.path], init=True, callbacks=callbacks)
        _update_submodules(session, submodule.open())


def _checkout_sync(
    url: str, ref: GitRef, auth: GitAuth, dest: Path, recurse: bool, session: Session
) -> Commit:
    scrub = Scrubber(url, auth)
    where = f"unable to clone '{safe_url(url)}'"
    if dest.exists() and any(dest.iterdir()):
        raise GitOperationFailed(f"{where}: destination '{dest}' is not empty")
    with _translated(session, "unable to clone", scrub):
        repo = pygit2.init_repository(str(dest))
        remote = repo.remotes.create_anonymous(session.url)
        if ref.commit:
            sha = _check_commit(ref.commit)
            reference = f"refs/heads/{ref.branch}" if ref.branch else ""
            if reference:
                _fetch(session, remote, [f"+{reference}:{_FETCHED}"], 0)
                if _FETCHED not in repo.references:
                    raise GitOperationFailed(f'{where}: couldn\'t find remote ref "{reference}"')
            else:
                _fetch(
                    session,
                    remote,
                    ["+refs/heads/*:refs/sluice/heads/*", "+refs/tags/*:refs/sluice/tags/*"],
                    0,
                )
            obj = repo.get(sha)
            tip = repo.references[_FETCHED].target if reference else None
            on_branch = (
                tip is None
                or str(tip) == sha
                or (obj is not None and repo.descendant_of(tip, obj.id))
            )
            if not isinstance(obj, pygit2.Commit) or not on_branch:
                raise GitOperationFailed(
                    f"{where}: unable to resolve commit object for '{sha}': object not found"
                )
            commit, absolute = obj, False
        else:
            if ref.semver and not ref.name:
                tag = _semver_tag(_list_refs(session, repo), ref.semver)
                reference, absolute = f"refs/tags/{tag}", False
            else:
                reference, absolute = _target(ref)
            _fetch(session, remote, [f"+{reference}:{_FETCHED}"], 1)
            if _FETCHED not in repo.references:
                raise GitOperationFailed(f'{where}: couldn\'t find remote ref "{reference}"')
            commit = repo.references[_FETCHED].peel(pygit2.Commit)
        repo.checkout_tree(  # type: ignore[no-untyped-call]
            commit.tree, strategy=pygit2.enums.CheckoutStrategy.FORCE
        )
        repo.set_head(commit.id)
        if recurse:
            _update_submodules(session, repo)
    sha = str(commit.id)
    return Commit(
        hash=sha,
        reference=reference,
        revision=_revision(reference, sha, absolute),
        message=commit.message,
        author=_signature(commit.author),
        committer=_signature(commit.committer),
    )


# ------------------------------------------------------------ async wrappers


async def _run(
    work: Callable[[Session], _T],
    url: str,
    auth: GitAuth,
    timeout: float,  # noqa: ASYNC109 - bounds blocking libgit2 work on a thread
    step: str,
) -> _T:
    """Run `work` on a daemon thread, failing after `timeout` seconds."""
    cancel = threading.Event()
    session = Session(url, auth, time.monotonic() + timeout, cancel)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result, error = work(session), None
        except BaseException as err:  # handed over to the awaiting coroutine
            result, error = None, err
        finally:
            session.close()
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the event loop is gone; nobody is waiting any more

    threading.Thread(target=target, name="sluice-git", daemon=True).start()
    try:
        async with asyncio.timeout(timeout):
            return await future
    except TimeoutError:
        cancel.set()
        raise GitOperationFailed(
            f"{step} '{safe_url(url)}': timed out after {timeout:g}s"
        ) from None
    except asyncio.CancelledError:
        cancel.set()
        raise


async def remote_revision(
    url: str,
    ref: GitRef | None = None,
    auth: GitAuth | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounds the libgit2 thread
) -> str:
    """The revision `checkout` would produce right now, from one ls-remote."""
    ref, auth = ref or GitRef(), auth or GitAuth()
    return await _run(
        lambda s: _remote_revision_sync(url, ref, auth, s),
        url,
        auth,
        timeout,
        "unable to list references of",
    )


async def checkout(
    url: str,
    ref: GitRef | None,
    auth: GitAuth | None,
    dest: Path | str,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounds the libgit2 thread
    recurse_submodules: bool = False,
) -> Commit:
    """Check `ref` of `url` out into the empty directory `dest`.

    `dest` receives the working tree plus a `.git` directory (which the
    default ignore rules keep out of artifacts).
    """
    ref, auth, path = ref or GitRef(), auth or GitAuth(), Path(dest)
    return await _run(
        lambda s: _checkout_sync(url, ref, auth, path, recurse_submodules, s),
        url,
        auth,
        timeout,
        "unable to clone",
    )
