"""What the loopback forge holds: accounts, repositories and what clients did to them.

`sluice.testing.forge.Forge` serves these records through two REST dialects
(`sluice.testing.forge_github`, `sluice.testing.forge_gitlab`); tests read them
back as plain attributes (`Repository.statuses`, `Repository.pulls`,
`Repository.deploy_keys`, `Forge.calls`...). They carry no behaviour beyond
small lookups, so both dialects and the server can share them without
importing each other.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pygit2

from sluice.testing.gitserver import GitRepo

__all__ = [
    "PERMISSIONS",
    "Account",
    "ApiCall",
    "Comment",
    "CommitStatus",
    "DeployKey",
    "Dialect",
    "ForgeError",
    "Json",
    "PullRequest",
    "RateLimit",
    "Repository",
    "key_line",
    "now_iso",
]

Dialect = Literal["github", "gitlab"]
Json = dict[str, Any]


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Account:
    """A user, or an organisation (GitHub) / group (GitLab) when `kind` is "Organization"."""

    id: int
    login: str
    kind: Literal["User", "Organization"]
    name: str
    email: str = ""
    # Organisation members and their role ("admin" or "member").
    members: dict[str, str] = field(default_factory=dict)
    # Organisation teams: slug -> member logins.
    teams: dict[str, set[str]] = field(default_factory=dict)
    ssh_keys: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)


@dataclass
class DeployKey:
    id: int
    title: str
    key: str  # "<type> <base64>" as registered (comment stripped)
    read_only: bool
    created_at: str = field(default_factory=now_iso)


@dataclass
class CommitStatus:
    id: int
    sha: str
    state: str  # as the dialect spells it: success/failure/error/pending, or GitLab's
    context: str  # GitHub "context", GitLab "name"
    description: str
    target_url: str
    creator: str
    dialect: Dialect
    ref: str = ""
    created_at: str = field(default_factory=now_iso)


@dataclass
class PullRequest:
    """A GitHub pull request or a GitLab merge request (`number` is GitLab's iid)."""

    id: int
    number: int
    title: str
    body: str
    head: str
    base: str
    author: str
    state: Literal["open", "closed", "merged"] = "open"
    draft: bool = False
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Comment:
    id: int
    number: int  # pull request / issue / merge request it is on
    body: str
    author: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class Repository:
    id: int
    owner: str
    name: str
    visibility: Literal["public", "private", "internal"]
    default_branch: str
    description: str
    git: GitRepo
    deploy_keys: list[DeployKey] = field(default_factory=list)
    statuses: list[CommitStatus] = field(default_factory=list)
    pulls: list[PullRequest] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    # GitHub team slug -> permission (pull, triage, push, maintain, admin).
    teams: dict[str, str] = field(default_factory=dict)
    # GitHub repository_dispatch events received (githubdispatch provider).
    dispatches: list[Json] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def private(self) -> bool:
        return self.visibility != "public"

    def statuses_for(self, sha: str) -> list[CommitStatus]:
        return [s for s in self.statuses if s.sha == sha]

    def branches(self) -> list[str]:
        repo = pygit2.Repository(str(self.git.path))
        return sorted(name.removeprefix("refs/heads/") for name in repo.references
                      if name.startswith("refs/heads/"))

    def head(self, branch: str | None = None) -> str | None:
        repo = pygit2.Repository(str(self.git.path))
        ref = f"refs/heads/{branch or self.default_branch}"
        if ref not in repo.references:
            return None
        return str(repo.references[ref].peel(pygit2.Commit).id)

    def commit_of(self, ref: str) -> str | None:
        """The commit a sha, branch or tag names here (None when it names none)."""
        repo = pygit2.Repository(str(self.git.path))
        try:
            return str(repo.revparse_single(ref).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError):
            return None

    def files(self, branch: str | None = None) -> dict[str, str]:
        """The text files at the tip of `branch` (what a `git clone` would check out)."""
        repo = pygit2.Repository(str(self.git.path))
        ref = f"refs/heads/{branch or self.default_branch}"
        if ref not in repo.references:
            return {}
        out: dict[str, str] = {}

        def walk(tree: pygit2.Tree, prefix: str) -> None:
            for entry in tree:
                obj = repo[entry.id]
                if isinstance(obj, pygit2.Tree):
                    walk(obj, f"{prefix}{entry.name}/")
                elif isinstance(obj, pygit2.Blob):
                    out[f"{prefix}{entry.name}"] = obj.data.decode("utf-8", "replace")

        walk(repo.references[ref].peel(pygit2.Commit).tree, "")
        return out

    def log(self, branch: str | None = None) -> list[tuple[str, str, str]]:
        """(sha, author name, message) of the commits on `branch`, newest first."""
        repo = pygit2.Repository(str(self.git.path))
        head = self.head(branch)
        if head is None:
            return []
        return [(str(c.id), c.author.name, c.message)
                for c in repo.walk(pygit2.Oid(hex=head), pygit2.enums.SortMode.TOPOLOGICAL)]


@dataclass
class ApiCall:
    dialect: Dialect
    method: str
    path: str  # path and query, as requested
    status: int
    login: str | None  # who the token belonged to (None when anonymous)


@dataclass
class RateLimit:
    """The core rate limit both dialects report; set `remaining` to 0 to refuse calls."""

    limit: int = 5000
    remaining: int = 5000
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)

    @property
    def used(self) -> int:
        return self.limit - self.remaining


class ForgeError(Exception):
    """An API answer other than success: the dialect renders it in its own shape."""

    def __init__(self, status: int, message: str, errors: Sequence[Json] = (),
                 gitlab_message: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)
        self.gitlab_message = gitlab_message


# GitHub repository permissions, weakest first.
PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")


def key_line(key: str) -> str:
    """A public key as ``<type> <base64>`` (no comment)."""
    return " ".join(key.split()[:2])
