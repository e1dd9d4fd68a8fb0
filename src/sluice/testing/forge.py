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

The records live in `sluice.testing.forge_model`, the shared state and
permission rules in `sluice.testing.forge_state`, the plumbing both dialects
share in `sluice.testing.forge_api`; this module is the server that puts the
dialects, git over HTTP and git over SSH on one site.

It is served from the caller's event loop; tests that block their thread
(the CLI) run it on a loop of its own, as they do the other git servers.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

from aiohttp import web

from sluice.testing import forge_github, forge_gitlab
from sluice.testing.forge_api import FORGE
from sluice.testing.forge_model import PERMISSIONS
from sluice.testing.forge_state import ForgeState
from sluice.testing.gitserver import http_backend
from sluice.testing.sshgit import GitSSHServer

__all__ = ["Forge"]


class Forge(ForgeState):
    """GitHub v3 + GitLab v4 APIs and git over HTTP and SSH, on loopback."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1",
                 ssl_context: ssl.SSLContext | None = None, ssh: bool = True,
                 ssh_host_key: str | bytes | None = None,
                 default_branch: str = "main") -> None:
        super().__init__(root, host=host, ssl_context=ssl_context,
                         default_branch=default_branch)
        self._runner: web.AppRunner | None = None
        if ssh:
            self.ssh = _ForgeSSH(self, ssh_host_key)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
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


class _ForgeSSH(GitSSHServer):
    """Git over SSH for the forge: deploy keys open their repository; user keys their access."""

    def __init__(self, forge: ForgeState, host_key: str | bytes | None) -> None:
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
