"""The loopback forge's state and the questions both REST dialects ask of it.

Who exists (`add_user`, `add_org`), which tokens they hold, which
repositories they own (`create_repository`), what a login may do on a
repository (`permission`, GitHub's permission ladder; GitLab's roles map onto
it), where the forge answers (`url`, `api_url`, `clone_url`, `ssh_url`), and
the switches tests flip (`fail_next`, `rate_limit`). `ForgeState` is what the
dialect handlers (`sluice.testing.forge_github`, `sluice.testing.forge_gitlab`)
receive; `sluice.testing.forge.Forge` adds the servers on top of it.
"""

from __future__ import annotations

import hmac
import itertools
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from aiohttp import web

from sluice.testing.forge_model import (
    PERMISSIONS,
    Account,
    ApiCall,
    Dialect,
    RateLimit,
    Repository,
    key_line,
)
from sluice.testing.gitserver import FileValue, GitRepo, RepoHost
from sluice.testing.sshgit import GitSSHServer

__all__ = ["ForgeState"]


class ForgeState(RepoHost):
    """The forge's accounts, tokens and repositories, its addresses and its call log."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1",
                 ssl_context: ssl.SSLContext | None = None,
                 default_branch: str = "main") -> None:
        self.root = root
        self.host = host
        self.default_branch = default_branch
        self._ssl = ssl_context
        self.port = 0
        self.accounts: dict[str, Account] = {}  # lowercased login -> account
        self.tokens: dict[str, str] = {}  # token -> login
        self.repositories: dict[str, Repository] = {}  # lowercased "owner/name" -> repo
        self.calls: list[ApiCall] = []
        self.rate_limit = RateLimit()
        self._failures: list[tuple[int, str]] = []
        self._ids = itertools.count(1)
        # The server (`sluice.testing.forge.Forge`) sets its SSH side here.
        self.ssh: GitSSHServer | None = None

    # --- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def hostname(self) -> str:
        """What ``--hostname`` takes: host and port."""
        return f"{self.host}:{self.port}"

    @property
    def ssh_hostname(self) -> str:
        """What ``--ssh-hostname`` takes: the SSH server's host and port."""
        if self.ssh is None:
            raise RuntimeError("the forge was started without SSH")
        return f"{self.ssh.host}:{self.ssh.port}"

    @property
    def known_hosts(self) -> str:
        """The ``known_hosts`` line of the SSH server's host key."""
        if self.ssh is None:
            raise RuntimeError("the forge was started without SSH")
        return self.ssh.known_hosts

    def api_url(self, dialect: Dialect) -> str:
        return f"{self.url}/api/{'v3' if dialect == 'github' else 'v4'}"

    def clone_url(self, full_name: str) -> str:
        return f"{self.url}/{full_name}.git"

    def ssh_url(self, full_name: str) -> str:
        if self.ssh is None:
            raise RuntimeError("the forge was started without SSH")
        return f"{self.ssh.url}/{full_name}.git"

    # --- state set up by tests ----------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def add_user(self, login: str, *, token: str | None = None, name: str = "",
                 email: str = "", ssh_keys: Iterable[str] = ()) -> Account:
        account = Account(self.next_id(), login, "User", name or login,
                          email or f"{login}@users.noreply.forge.invalid",
                          ssh_keys=[key_line(k) for k in ssh_keys])
        self.accounts[login.lower()] = account
        if token is not None:
            self.tokens[token] = login
        return account

    def add_token(self, login: str, token: str) -> None:
        """Another token for `login` (e.g. a second personal access token)."""
        self.tokens[token] = login

    def add_org(self, login: str, *, members: Mapping[str, str] | Iterable[str] = (),
                teams: Mapping[str, Iterable[str]] | None = None, name: str = "") -> Account:
        """An organisation (GitLab: a group); `members` logins or {login: "admin"|"member"}."""
        roles = dict(members) if isinstance(members, Mapping) else {m: "member" for m in members}
        account = Account(self.next_id(), login, "Organization", name or login,
                          members=roles,
                          teams={slug: set(people) for slug, people in (teams or {}).items()})
        self.accounts[login.lower()] = account
        return account

    def create_repository(self, owner: str, name: str, *, visibility: str = "private",
                          files: Mapping[str, FileValue] | None = None,
                          message: str = "Initial commit", default_branch: str | None = None,
                          description: str = "") -> Repository:
        """A repository of `owner` (which must exist), optionally with a first commit."""
        account = self.account(owner)
        if account is None:
            raise KeyError(f"no account {owner!r}")
        branch = default_branch or self.default_branch
        git = GitRepo(self.root / account.login / f"{name}.git", default_branch=branch)
        if files:
            git.commit(files, message)
        seen: Literal["public", "private", "internal"] = (
            "public" if visibility == "public" else
            "internal" if visibility == "internal" else "private")
        repo = Repository(self.next_id(), account.login, name, seen, branch, description, git)
        self.repositories[repo.full_name.lower()] = repo
        return repo

    def fail_next(self, status: int, message: str = "") -> None:
        """Answer the next API call (either dialect) with `status` (e.g. 500, 502)."""
        self._failures.append((status, message or web.Response(status=status).reason or ""))

    # --- queries ------------------------------------------------------------------------

    def account(self, login: str) -> Account | None:
        return self.accounts.get(login.lower())

    def repository(self, full_name: str, name: str | None = None) -> Repository | None:
        """`repository("owner/name")` or `repository("owner", "name")`; None when absent."""
        key = f"{full_name}/{name}" if name is not None else full_name
        return self.repositories.get(key.lower().removesuffix(".git"))

    def repository_by_id(self, repo_id: int) -> Repository | None:
        return next((r for r in self.repositories.values() if r.id == repo_id), None)

    def login_for(self, token: str) -> str | None:
        for known, login in self.tokens.items():
            if hmac.compare_digest(known, token):
                return login
        return None

    def key_owner(self, public_key: str) -> str | None:
        """Who a key belongs to: a repository (deploy key) or an account."""
        for repo in self.repositories.values():
            if any(k.key == public_key for k in repo.deploy_keys):
                return repo.full_name
        for account in self.accounts.values():
            if public_key in account.ssh_keys:
                return account.login
        return None

    def permission(self, repo: Repository, login: str | None) -> str | None:
        """The strongest GitHub permission `login` has on `repo` (None: cannot see it)."""
        best: str | None = "pull" if repo.visibility == "public" else None
        if login is None:
            return best
        if login.lower() == repo.owner.lower():
            return "admin"
        owner = self.account(repo.owner)
        if owner is not None and owner.kind == "Organization":
            role = next((r for m, r in owner.members.items() if m.lower() == login.lower()),
                        None)
            if role == "admin":
                return "admin"
            if role is not None:
                best = _stronger(best, "push")
            for slug, perm in repo.teams.items():
                if login in owner.teams.get(slug, set()):
                    best = _stronger(best, perm)
        return best

    def may_create_in(self, owner: Account, login: str) -> bool:
        if owner.kind == "User":
            return owner.login.lower() == login.lower()
        return any(m.lower() == login.lower() for m in owner.members)

    # --- the API plumbing shared by the dialects ------------------------------------------

    def take_failure(self) -> tuple[int, str] | None:
        return self._failures.pop(0) if self._failures else None

    def record(self, dialect: Dialect, request: web.Request, status: int,
               login: str | None) -> None:
        self.calls.append(ApiCall(dialect, request.method, request.path_qs, status, login))


def _stronger(current: str | None, other: str) -> str:
    if other not in PERMISSIONS:
        return current or "pull"
    if current is None or PERMISSIONS.index(other) > PERMISSIONS.index(current):
        return other
    return current
