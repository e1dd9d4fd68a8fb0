"""What a Git operation is asked for and what it answers: refs, commits, revisions.

Ref precedence is Flux's: `commit` > `name` > `semver` > `tag` > `branch`,
and `master` when nothing is set. Revisions read `main@sha1:<40 hex>`
(branch), `v1.0.0@sha1:<hex>` (tag, semver), `refs/heads/main@sha1:<hex>`
(`name`) and `sha1:<hex>` (commit alone). Every type here is a frozen,
picklable value: they cross the pipe to and from the worker processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["DEFAULT_BRANCH", "Author", "Commit", "GitRef", "PushResult", "Signature", "revision"]

DEFAULT_BRANCH = "master"


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
class Author:
    """Who a new commit is by (`spec.git.commit.author` of an automation)."""

    name: str
    email: str


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


@dataclass(frozen=True)
class PushResult:
    """What `commit_and_push` did.

    `pushed` is False when the work tree had nothing to commit (Flux's no-op:
    no commit, no push). `attempts` counts pushes made (more than one after a
    rejected non-fast-forward push was retried on the new remote tip).
    """

    pushed: bool
    commit: str = ""  # the full hash of the pushed commit
    branch: str = ""
    refspecs: tuple[str, ...] = ()
    attempts: int = 0
    base: str = ""  # the commit the pushed one sits on


def revision(reference: str, sha: str, absolute: bool) -> str:
    """Flux's revision string for `sha` reached through `reference`."""
    if not reference:
        return f"sha1:{sha}"
    if absolute:
        return f"{reference}@sha1:{sha}"
    parts = reference.split("/", 2)
    short = parts[2] if len(parts) == 3 else reference
    return f"{short}@sha1:{sha}"
