"""The blocking Git operations, as a worker process runs them (pygit2/libgit2).

Three operations, each a plain function of picklable arguments returning a
picklable value, so that `sluice.git.worker` can run them in a process a
deadline can kill:

* `remote_revision`: one ls-remote, answering "which revision would a
  checkout give now?" so unchanged sources skip the fetch;
* `checkout`: fetch the smallest history that answers the ref (depth 1
  except for commits), write the tree into `dest`, return the `Commit`;
* `commit_push`: commit everything changed in a checkout onto a branch and
  push it, and when the remote moved meanwhile (a non-fast-forward
  rejection) fetch the new tip, re-apply the commit's changes on it (a
  three-way merge of the trees, as a cherry-pick) and push again.

A commit with a branch fetches that branch and requires the commit to be on
it; a commit alone fetches all branches and tags. `semver` picks the highest
tag matching the Masterminds range (`sluice.core.semver`).

Everything raised leaves as a `sluice.git.errors` error whose message has
been scrubbed of secrets (`_translated`).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pygit2

from sluice.core import semver
from sluice.git import archiving
from sluice.git.auth import GitAuth, Scrubber, safe_url
from sluice.git.errors import (
    AuthenticationFailed,
    GitError,
    GitOperationFailed,
    GitTimeout,
    PushRejected,
    RefNotFound,
)
from sluice.git.refs import DEFAULT_BRANCH, Author, Commit, GitRef, PushResult, Signature, revision
from sluice.git.session import Cancelled, Refused, Session
from sluice.git.signing import CommitSigner, sign

__all__ = ["checkout", "commit_push", "remote_revision"]

_FETCHED = "refs/sluice/fetched"
_REMOTE_TIP = "refs/sluice/remote-tip"
_HEX40 = re.compile(r"^[0-9a-f]{40}$")

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
_NON_FAST_FORWARD = (
    "non-fastforwardable",
    "non-fast-forward",
    "not present locally",
    "fetch first",
    "stale info",
)


@contextmanager
def _translated(session: Session, step: str, scrub: Scrubber) -> Iterator[None]:
    """Turn anything raised by libgit2 or the callbacks into GitErrors."""
    where = f"{step} '{safe_url(session.url)}'"
    try:
        yield
    except GitError:
        raise
    except Refused as err:
        cls = AuthenticationFailed if err.auth else GitOperationFailed
        raise cls(f"{where}: {scrub(str(err))}") from None
    except Cancelled:
        raise GitTimeout(f"{where}: operation cancelled") from None
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
        if any(h in lowered for h in _NON_FAST_FORWARD):
            raise PushRejected(f"{where}: {detail}", non_fast_forward=True) from None
        cls = AuthenticationFailed if any(h in lowered for h in _AUTH_HINTS) else GitOperationFailed
        raise cls(f"{where}: {detail}") from None


def _session(url: str, auth: GitAuth, timeout: float) -> Session:
    return Session(url, auth, time.monotonic() + timeout)


# ------------------------------------------------------------------ ls-remote


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


def remote_revision(url: str, ref: GitRef, auth: GitAuth, timeout: float) -> str:
    """The revision `checkout` would produce right now, from one ls-remote."""
    if ref.commit:
        commit = _check_commit(ref.commit)
        return revision(f"refs/heads/{ref.branch}" if ref.branch else "", commit, False)
    session = _session(url, auth, timeout)
    scrub = Scrubber(url, auth)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="sluice-ls-") as tmp,
            _translated(session, "unable to list references of", scrub),
        ):
            refs = _list_refs(session, pygit2.init_repository(tmp, bare=True))
    finally:
        session.close()
    if ref.semver and not ref.name:
        tag = _semver_tag(refs, ref.semver)
        return revision(f"refs/tags/{tag}", refs[f"refs/tags/{tag}"], False)
    name, absolute = _target(ref)
    if name not in refs:
        raise RefNotFound(
            f"unable to list references of '{safe_url(url)}': couldn't find remote ref \"{name}\""
        )
    return revision(name, refs[name], absolute)


# -------------------------------------------------------------------- checkout


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


def _commit_value(commit: pygit2.Commit, reference: str, absolute: bool) -> Commit:
    sha = str(commit.id)
    return Commit(
        hash=sha,
        reference=reference,
        revision=revision(reference, sha, absolute),
        message=commit.message,
        author=_signature(commit.author),
        committer=_signature(commit.committer),
    )


def checkout(url: str, ref: GitRef, auth: GitAuth, dest: str, recurse: bool, worktree: bool,
             timeout: float) -> Commit:
    """Check `ref` of `url` out into the empty directory `dest` (plus its `.git`).

    Without `worktree` only the objects are fetched and ``HEAD`` set: the
    files are not written (`sluice.git.archiving` reads the blobs instead).
    """
    path = Path(dest)
    session = _session(url, auth, timeout)
    try:
        return _checkout(session, ref, path, recurse, worktree, Scrubber(url, auth))
    finally:
        session.close()


def _checkout(session: Session, ref: GitRef, dest: Path, recurse: bool, worktree: bool,
              scrub: Scrubber) -> Commit:
    where = f"unable to clone '{safe_url(session.url)}'"
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
                    raise RefNotFound(f'{where}: couldn\'t find remote ref "{reference}"')
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
                raise RefNotFound(f'{where}: couldn\'t find remote ref "{reference}"')
            commit = repo.references[_FETCHED].peel(pygit2.Commit)
        if worktree or recurse or not archiving.plain_tree(repo, commit.tree):
            repo.checkout_tree(  # type: ignore[no-untyped-call]
                commit.tree, strategy=pygit2.enums.CheckoutStrategy.FORCE
            )
        repo.set_head(commit.id)
        if recurse:
            _update_submodules(session, repo)
    return _commit_value(commit, reference, absolute)


# ----------------------------------------------------------------- commit, push


def _stage_all(repo: pygit2.Repository) -> pygit2.Oid:
    index = repo.index
    index.add_all()  # as `git add -A`: new, changed and deleted files
    index.write()
    tree: pygit2.Oid = index.write_tree()
    return tree


def _push(session: Session, repo: pygit2.Repository, specs: list[str],
          options: Sequence[str]) -> None:
    remote = repo.remotes.create_anonymous(session.url)
    try:
        with session.connection() as callbacks:
            remote.push(specs, callbacks=callbacks, push_options=list(options) or None)
    except pygit2.GitError as err:
        if not options or "push-options not supported" not in str(err):
            raise
        # go-git (Flux) sends push options only to a server that advertises
        # them and pushes without them otherwise; libgit2 refuses instead.
        with session.connection() as callbacks:
            remote.push(specs, callbacks=callbacks)
    if callbacks.rejected:
        refname, reason = sorted(callbacks.rejected.items())[0]
        non_ff = any(h in reason.lower() for h in _NON_FAST_FORWARD)
        raise PushRejected(
            f"failed to push to '{safe_url(session.url)}': the remote rejected "
            f"'{refname}': {reason}", non_fast_forward=non_ff)


def _create_commit(repo: pygit2.Repository, sig: pygit2.Signature, message: str,
                   tree: pygit2.Oid, parents: list[pygit2.Oid | str],
                   signing: CommitSigner | None) -> pygit2.Oid:
    """A commit object (no ref moved); with `signing`, carrying a ``gpgsig`` header.

    A signed commit is built as ``git commit -S`` builds it: the commit's
    bytes are signed as they are, and the armored signature is inserted as
    the ``gpgsig`` header.
    """
    if signing is None:
        oid: pygit2.Oid = repo.create_commit(None, sig, sig, message, tree, parents)
        return oid
    # pygit2's stub says Oid; it returns the commit's text.
    content: object = repo.create_commit_string(sig, sig, message, tree, list(parents))
    assert isinstance(content, str)
    signature = sign(signing, content.encode())
    signed: pygit2.Oid = repo.create_commit_with_signature(content, signature, "gpgsig")
    return signed


def _rebase(session: Session, repo: pygit2.Repository, ours: pygit2.Commit, branch: str,
            author: pygit2.Signature, signing: CommitSigner | None) -> pygit2.Commit | None:
    """Re-apply `ours` on the remote's new tip of `branch`; None when nothing is left."""
    remote = repo.remotes.create_anonymous(session.url)
    _fetch(session, remote, [f"+refs/heads/{branch}:{_REMOTE_TIP}"], 1)
    tip = repo.references[_REMOTE_TIP].peel(pygit2.Commit)
    base = ours.parents[0]
    index = repo.merge_trees(base.tree, tip.tree, ours.tree)
    if index.conflicts is not None:
        paths = sorted({(e.path) for entries in index.conflicts for e in entries if e is not None})
        raise PushRejected(
            f"failed to push to '{safe_url(session.url)}': branch '{branch}' moved and the "
            f"update conflicts with it in {', '.join(paths)}", non_fast_forward=True)
    tree = index.write_tree(repo)
    if tree == tip.tree.id:
        return None  # the remote already has these changes
    oid = _create_commit(repo, author, ours.message, tree, [tip.id], signing)
    commit = repo.get(oid)
    assert isinstance(commit, pygit2.Commit)
    repo.references.create(f"refs/heads/{branch}", oid, force=True)
    repo.checkout_tree(  # type: ignore[no-untyped-call]
        commit.tree, strategy=pygit2.enums.CheckoutStrategy.FORCE
    )
    return commit


def commit_push(workdir: str, url: str, auth: GitAuth, branch: str, message: str,
                author: Author, force: bool, refspecs: Sequence[str],
                push_options: Sequence[str], rebase_attempts: int,
                signing: CommitSigner | None, timeout: float) -> PushResult:
    """Commit the changes in `workdir` on `branch` and push (see the module docs).

    With `signing`, every commit made (including one re-applied on a moved
    branch) carries a signature (`sluice.git.signing`).
    """
    session = _session(url, auth, timeout)
    scrub = Scrubber(url, auth)
    try:
        with _translated(session, "unable to push to", scrub):
            repo = pygit2.Repository(workdir)
            head = repo.head.peel(pygit2.Commit)
            tree = _stage_all(repo)
            if tree == head.tree.id:
                return PushResult(pushed=False, branch=branch, base=str(head.id))
            sig = pygit2.Signature(author.name, author.email)
            oid = _create_commit(repo, sig, message, tree, [head.id], signing)
            ours = repo.get(oid)
            assert isinstance(ours, pygit2.Commit)
            local = f"refs/heads/{branch}"
            previous = repo.references.get(local)
            repo.references.create(local, oid, force=True)
            repo.set_head(local)
            try:
                return _push_retrying(session, repo, ours, branch, sig, force, refspecs,
                                      push_options, rebase_attempts, signing)
            except BaseException:
                # Leave the work tree as it was given (edits uncommitted on the
                # original commit) so that the caller may simply try again.
                repo.set_head(head.id)
                if previous is None:
                    repo.references.delete(local)
                else:
                    repo.references.create(local, previous.target, force=True)
                raise
    finally:
        session.close()


def _push_retrying(session: Session, repo: pygit2.Repository, ours: pygit2.Commit, branch: str,
                   sig: pygit2.Signature, force: bool, refspecs: Sequence[str],
                   push_options: Sequence[str], rebase_attempts: int,
                   signing: CommitSigner | None) -> PushResult:
    local = f"refs/heads/{branch}"
    specs = [f"{'+' if force else ''}{local}:{local}", *refspecs]
    attempts = 0
    while True:
        attempts += 1
        try:
            _push(session, repo, specs, push_options)
            break
        except pygit2.GitError as err:
            lowered = str(err).lower()
            if (force or attempts > rebase_attempts
                    or not any(h in lowered for h in _NON_FAST_FORWARD)):
                raise
        except PushRejected as err:
            if force or attempts > rebase_attempts or not err.non_fast_forward:
                raise
        rebased = _rebase(session, repo, ours, branch, sig, signing)
        if rebased is None:
            tip = repo.references[_REMOTE_TIP].target
            return PushResult(pushed=False, branch=branch, base=str(tip),
                              attempts=attempts)
        ours = rebased
    return PushResult(pushed=True, commit=str(ours.id), branch=branch,
                      refspecs=tuple(refspecs), attempts=attempts,
                      base=str(ours.parents[0].id))
