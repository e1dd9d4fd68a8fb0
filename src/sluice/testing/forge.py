"""A loopback code forge for tests: GitHub's REST API v3 and GitLab's API v4 on one server.

`sluice bootstrap github|gitlab`, image automation's pull-request mode and the
commit-status notification providers talk to a forge's API; tests need one
that answers with the real wire format and no network. `Forge` is that
server. One aiohttp site serves:

* GitHub (Enterprise-style, as ``--hostname`` addresses it) below
  ``/api/v3/`` and GitLab below ``/api/v4/`` (`sluice.testing.forge_github`,
  `sluice.testing.forge_gitlab`): users, organisations/groups, repositories
  (create/get), deploy keys, commit statuses, pull/merge requests (create,
  list, update) and their comments, with each dialect's paths, JSON shapes,
  status codes, error bodies, token headers, ``Link`` paging and rate-limit
  headers;
* the repositories it holds over smart HTTP at ``/<owner>/<name>.git`` (push
  included, token as the basic-auth password, `gitserver.http_backend`);
* the same repositories over SSH (`sshgit.GitSSHServer`) to the deploy keys
  registered through either API: a read-only key cannot push, and a key only
  opens the repository it was registered on.

Both dialects share one state: an account made with `add_user` has a token
that works in both; a GitHub organisation is a GitLab group. Tests read what
clients did through plain attributes and helpers: `repository(...)`,
`Repository.statuses`, `Repository.pulls`, `Repository.deploy_keys`,
`Repository.comments`, `calls` (every API call: method, path, status; never
the token). Failure modes a client must survive are switches:
`rate_limit.remaining = 0` (with `rate_limit.reset`), `fail_next(status)`.

    async with Forge(tmp_path / "forge") as forge:
        forge.add_user("alice", token="s3cret")
        repo = forge.create_repository("alice", "fleet", files={"README.md": "hi"})
        forge.api_url("github")   # http://127.0.0.1:<port>/api/v3
        forge.clone_url("alice/fleet")  # http://127.0.0.1:<port>/alice/fleet.git

It is served from the caller's event loop; tests that block their thread
(the CLI) run it on a loop of its own, as they do the other git servers.
"""

from __future__ import annotations

import base64
import datetime
import hmac
import itertools
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pygit2
from aiohttp import web
from multidict import CIMultiDict

from sluice.testing.gitserver import FileValue, GitRepo, RepoHost, http_backend
from sluice.testing.sshgit import GitSSHServer

__all__ = [
    "Account",
    "ApiCall",
    "Comment",
    "CommitStatus",
    "DeployKey",
    "Forge",
    "ForgeError",
    "PullRequest",
    "RateLimit",
    "Repository",
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


FORGE: web.AppKey[Forge] = web.AppKey("forge")

# GitHub repository permissions, weakest first.
PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")


class _ForgeSSH(GitSSHServer):
    """Git over SSH for the forge: deploy keys open their repository; user keys their access."""

    def __init__(self, forge: Forge, host_key: str | bytes | None) -> None:
        super().__init__(forge.root, [], host_key=host_key, host=forge.host)
        self.forge = forge

    def accepts_key(self, public_key: str) -> bool:
        return self.forge.key_owner(public_key) is not None

    def locate(self, repository: str) -> Path:
        # Forges answer with and without the ``.git`` suffix (Flux's SSH sync URLs
        # for GitHub have none).
        repo = self.forge.repository(repository.removesuffix(".git"))
        return repo.git.path if repo is not None else self.root / repository

    def authorize(self, public_key: str, service: str, repository: str) -> None:
        repo = self.forge.repository(repository.removesuffix(".git"))
        if repo is None:
            raise FileNotFoundError(f"repository '{repository}' does not exist")
        write = service == "git-receive-pack"
        for key in repo.deploy_keys:
            if key.key == public_key:
                if write and key.read_only:
                    raise PermissionError("the deploy key is read-only")
                return
        for account in self.forge.accounts.values():
            if public_key in account.ssh_keys:
                allowed = self.forge.permission(repo, account.login)
                if allowed is None or (write and PERMISSIONS.index(allowed) < 2):
                    raise PermissionError("permission denied")
                return
        raise PermissionError("permission denied")


def key_line(key: str) -> str:
    """A public key as ``<type> <base64>`` (no comment)."""
    return " ".join(key.split()[:2])


class Forge(RepoHost):
    """GitHub v3 + GitLab v4 APIs and git over HTTP and SSH, on loopback."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1",
                 ssl_context: ssl.SSLContext | None = None, ssh: bool = True,
                 ssh_host_key: str | bytes | None = None,
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
        self._runner: web.AppRunner | None = None
        self.ssh: GitSSHServer | None = _ForgeSSH(self, ssh_host_key) if ssh else None

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

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        from sluice.testing import forge_github, forge_gitlab

        self.root.mkdir(parents=True, exist_ok=True)
        app = web.Application(client_max_size=1 << 30)
        app[FORGE] = self
        forge_github.register(app.router, self)
        forge_gitlab.register(app.router, self)
        app.router.add_route("*", "/{tail:.*}", self._git)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=self._ssl)
        await site.start()
        server = site._server
        assert server is not None and hasattr(server, "sockets")
        self.port = server.sockets[0].getsockname()[1]
        if self.ssh is not None:
            await self.ssh.start()

    async def close(self) -> None:
        if self.ssh is not None:
            await self.ssh.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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

    # --- git over HTTP --------------------------------------------------------------------

    def _git_user(self, request: web.Request) -> tuple[bool, str | None]:
        """(credentials given, login): basic auth with the token as password, or bearer."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            return False, None
        if scheme.lower() == "basic":
            try:
                _, _, secret = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return True, None
            return True, self.login_for(secret)
        if scheme.lower() in ("bearer", "token"):
            return True, self.login_for(value)
        return True, None

    async def _git(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        index = next((i for i, p in enumerate(parts) if p.endswith(".git")), None)
        if index is None or ".." in parts or index == 0:
            return web.Response(status=404, text="Not Found")
        full_name = "/".join(parts[: index + 1]).removesuffix(".git")
        repo = self.repository(full_name)
        given, login = self._git_user(request)
        if given and login is None:
            return _git_challenge()
        permission = self.permission(repo, login) if repo is not None else None
        if repo is None or permission is None:
            # A forge answers like this for a missing repository and for one the
            # caller may not see, so that private names do not leak.
            return _git_challenge() if login is None else web.Response(
                status=404, text="Repository not found.\n")
        push = (request.query.get("service") == "git-receive-pack"
                or request.path.endswith("/git-receive-pack"))
        if push and PERMISSIONS.index(permission) < 2:
            if login is None:
                return _git_challenge()
            return web.Response(status=403, text=f"Permission to {repo.full_name}.git denied "
                                                 f"to {login}.\n")
        rest = "/".join(parts[index + 1:])
        relative = repo.git.path.relative_to(self.root).as_posix()
        return await http_backend(request, self.root, allow_push=push, user=login or "",
                                  path=f"/{relative}/{rest}")


def _git_challenge() -> web.Response:
    return web.Response(status=401, text="Unauthorized\n",
                        headers={"WWW-Authenticate": 'Basic realm="Sluice forge"'})


def _stronger(current: str | None, other: str) -> str:
    if other not in PERMISSIONS:
        return current or "pull"
    if current is None or PERMISSIONS.index(other) > PERMISSIONS.index(current):
        return other
    return current


def json_response(body: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=CIMultiDict(headers or {}))


def paginate(request: web.Request, items: Sequence[Any], *, default: int
             ) -> tuple[list[Any], dict[str, str], int, int, int]:
    """A page of `items` per ``page``/``per_page`` (max 100) and its ``Link`` header.

    Returns (items, headers, page, per_page, total pages). Both dialects link
    ``first``/``prev``/``next``/``last`` with the request's other parameters kept.
    """
    try:
        per_page = min(100, max(1, int(request.query.get("per_page", default))))
    except ValueError:
        per_page = default
    try:
        page = max(1, int(request.query.get("page", 1)))
    except ValueError:
        page = 1
    pages = max(1, -(-len(items) // per_page))
    chunk = list(items[(page - 1) * per_page: page * per_page])

    def link(number: int) -> str:
        return str(request.url.update_query(page=str(number), per_page=str(per_page)))

    rels: list[str] = []
    if page < pages:
        rels.append(f'<{link(page + 1)}>; rel="next"')
        rels.append(f'<{link(pages)}>; rel="last"')
    if page > 1:
        rels.append(f'<{link(1)}>; rel="first"')
        rels.append(f'<{link(page - 1)}>; rel="prev"')
    headers = {"Link": ", ".join(rels)} if rels else {}
    return chunk, headers, page, per_page, pages


Handler = Callable[[web.Request, "Forge", str | None], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class DialectRules:
    """How one dialect authenticates, reports its rate limit and words its refusals."""

    name: Dialect
    token: Callable[[web.Request], tuple[bool, str]]  # (credentials given, token)
    rate_headers: Callable[[Forge], dict[str, str]]
    error: Callable[[ForgeError], web.StreamResponse]
    bad_token: Callable[[], web.StreamResponse]
    rate_limited: Callable[[Forge, str | None], web.StreamResponse]


def endpoint(dialect: DialectRules, handler: Handler
             ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a dialect's handler: injected failures, token, rate limit, errors, the call log."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        forge = request.app[FORGE]
        login: str | None = None
        failure = forge.take_failure()
        if failure is not None:
            response = dialect.error(ForgeError(failure[0], failure[1]))
        else:
            given, token = dialect.token(request)
            login = forge.login_for(token) if given else None
            if given and login is None:
                response = dialect.bad_token()
            elif forge.rate_limit.remaining <= 0:
                response = dialect.rate_limited(forge, login)
            else:
                forge.rate_limit.remaining -= 1
                try:
                    response = await handler(request, forge, login)
                except ForgeError as err:
                    response = dialect.error(err)
        response.headers.update(dialect.rate_headers(forge))
        forge.record(dialect.name, request, response.status, login)
        return response

    return wrapped
