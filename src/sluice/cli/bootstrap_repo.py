"""The Git side of ``sluice bootstrap``: clone one branch, commit files when they change, push.

`BootstrapRepo` works in a temporary clone (pygit2) with the credentials
and host-key pinning of `sluice.git.session` (the same code
that fetches a GitRepository, so what works for the CLI works for the
controller):

* `clone`: the remote is cloned; the wanted branch is checked out, or started
  empty when the remote does not have it yet (an empty repository included);
* `commit`: the given files are written and committed on the branch with
  flux's author (``Flux``), unless the tree would not change: a re-run of
  bootstrap commits nothing (`commit` returns None);
* `push`: the branch is pushed to ``origin``.

Errors are `CommandError` lines with secrets (passwords, tokens, keys)
scrubbed out of the library's messages.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pygit2

from sluice.cli.failing import CommandError
from sluice.controllers.source.errors import SourceError
from sluice.git.auth import GitAuth, Scrubber, safe_url
from sluice.git.errors import GitError
from sluice.git.session import Cancelled, Refused, Session

__all__ = ["BootstrapRepo"]

# What a clone or push can raise: libgit2 errors, and our callbacks' refusals.
_GIT_ERRORS = (pygit2.GitError, Refused, Cancelled, SourceError, GitError, KeyError, ValueError,
               OSError)


class BootstrapRepo:
    """A temporary clone of ``url`` at ``branch``."""

    def __init__(self, url: str, auth: GitAuth, branch: str, timeout: float) -> None:
        self.url = url
        self.auth = auth
        self.branch = branch
        self.timeout = timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="sluice-bootstrap-")
        self.path = Path(self._tmp.name) / "repo"
        self._repo: pygit2.Repository | None = None
        self._scrub = Scrubber(url, auth)

    def _session(self) -> Session:
        try:
            return Session(self.url, self.auth, time.monotonic() + self.timeout,
                           threading.Event())
        except (SourceError, GitError) as exc:
            raise CommandError(self._scrub(str(exc))) from None

    def _fail(self, what: str, exc: BaseException) -> CommandError:
        return CommandError(f"{what} {safe_url(self.url)}: {self._scrub(str(exc))}")

    @property
    def repo(self) -> pygit2.Repository:
        if self._repo is None:
            raise RuntimeError("clone() first")
        return self._repo

    def clone(self) -> None:
        session = self._session()
        try:
            with session.connection() as callbacks:
                self._repo = pygit2.clone_repository(self.url, str(self.path),
                                                     callbacks=callbacks)
        except _GIT_ERRORS as exc:
            raise self._fail("failed to clone", exc) from None
        finally:
            session.close()
        repo = self.repo
        local = f"refs/heads/{self.branch}"
        remote = repo.references.get(f"refs/remotes/origin/{self.branch}")
        if remote is not None:
            commit = remote.peel(pygit2.Commit)
            if local in repo.references:
                repo.references[local].set_target(commit.id)
            else:
                repo.references.create(local, commit.id)
            repo.checkout(local, strategy=pygit2.enums.CheckoutStrategy.FORCE)
        else:
            # A new branch (or an empty repository): start from an empty tree.
            repo.references.create("HEAD", local, force=True)
            repo.index.clear()
            repo.index.write()

    def head_commit(self) -> pygit2.Commit | None:
        ref = self.repo.references.get(f"refs/heads/{self.branch}")
        return None if ref is None else ref.peel(pygit2.Commit)

    def read(self, relpath: str) -> str | None:
        """A file's content on the branch (None when absent)."""
        commit = self.head_commit()
        if commit is None:
            return None
        try:
            entry = commit.tree[relpath]
        except KeyError:
            return None
        blob = self.repo[entry.id]
        return blob.data.decode("utf-8") if isinstance(blob, pygit2.Blob) else None

    def commit(self, files: Mapping[str, str], message: str, author_name: str,
               author_email: str) -> str | None:
        """Commit ``files`` (path -> content) on the branch; None when nothing changed."""
        repo = self.repo
        index = repo.index
        for relpath, content in files.items():
            target = self.path / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            index.add(relpath)
        index.write()
        tree = index.write_tree()
        parent = self.head_commit()
        if parent is not None and parent.tree_id == tree:
            return None
        parents = [parent.id] if parent is not None else []
        if author_email:
            signature = pygit2.Signature(author_name, author_email)
            oid = repo.create_commit(f"refs/heads/{self.branch}", signature, signature,
                                     message, tree, parents)
            return str(oid)
        # flux commits as "Flux <>"; libgit2 refuses an empty e-mail in a Signature,
        # so the commit object is written as Git stores it.
        stamp = f"{int(time.time())} +0000"
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents),
                 f"author {author_name} <> {stamp}", f"committer {author_name} <> {stamp}",
                 "", message]
        oid = repo.odb.write(pygit2.enums.ObjectType.COMMIT, "\n".join(lines).encode())
        ref = f"refs/heads/{self.branch}"
        if ref in repo.references:
            repo.references[ref].set_target(oid)
        else:
            repo.references.create(ref, oid)
        return str(oid)

    def push(self) -> None:
        session = self._session()
        refspec = f"refs/heads/{self.branch}:refs/heads/{self.branch}"
        try:
            with session.connection() as callbacks:
                self.repo.remotes["origin"].push([refspec], callbacks=callbacks)
        except _GIT_ERRORS as exc:
            raise self._fail("failed to push to", exc) from None
        finally:
            session.close()

    def close(self) -> None:
        self._repo = None
        self._tmp.cleanup()
