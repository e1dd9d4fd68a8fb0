"""The local Git remote `sluice up` serves, so the seed can be followed offline.

A newcomer following the walkthrough needs somewhere to `git push` before
anything else happens. `sluice up` therefore serves a folder of bare
repositories (``<data-dir>/git`` by default) on loopback:

* over smart HTTP at ``http://127.0.0.1:<port>/<name>.git``, with HTTP basic
  auth (user ``git``, the token in ``<data-dir>/git/token``, created 0600 on
  first start), the way a forge's personal access token works;
* over SSH at ``ssh://git@127.0.0.1:<port>/<name>.git``, accepting the public
  keys listed in ``<data-dir>/git/authorized_keys`` (re-read at every login, so
  `sluice create secret git` deploy keys can be added while it runs), with a
  host key kept in ``<data-dir>/git/ssh_host_ed25519_key`` so the
  ``known_hosts`` line stays valid across restarts.

A push to a repository that does not exist yet creates it (as GitLab does), so
``git remote add origin ... && git push -u origin main`` is the whole setup.
The servers themselves are Sluice's test fixtures (`sluice.testing.gitserver`,
`sluice.testing.sshgit`), real `git http-backend` and `git upload-pack` /
`receive-pack` behind them; this module adds fixed ports, persisted
credentials and push-to-create.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import asyncssh
import pygit2
from aiohttp import web

from sluice.core.lifecycle import AsyncService
from sluice.runtime.manager import parse_address
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.sshgit import GitSSHServer

__all__ = ["GIT_USER", "LocalGitRemote"]

GIT_USER = "git"
# One path segment or owner/name, ending in .git: what forges accept as a repository path.
_REPO_PATH = re.compile(r"^/?((?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*\.git)")


def _private_file(path: Path, content: bytes) -> None:
    """Write `content` to a new file readable by its owner only (created 0600, not chmodded)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)


def _create_bare(root: Path, rel: str) -> None:
    path = root / rel
    if (path / "HEAD").is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
    # Let pushes of new branches and `git push -u origin main` just work.
    repo.config["receive.denyDeleteCurrent"] = "warn"


class _HTTP(GitHTTPServer):
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        match = _REPO_PATH.match(request.path)
        if (match and request.query.get("service") == "git-receive-pack"
                and request.path.endswith("/info/refs")
                and self._authenticated_user(request) is not None
                and ".." not in match.group(1).split("/")):
            _create_bare(self.root, match.group(1))
        return await super()._handle(request)


class _SSH(GitSSHServer):
    def __init__(self, root: Path, keys_file: Path, host_key: bytes, host: str,
                 port: int) -> None:
        self._keys_file = keys_file
        super().__init__(root, [], host_key=host_key, host=host, port=port)

    @property  # type: ignore[override]
    def authorized_keys(self) -> set[str]:
        # Read at every login: keys added to the file while `sluice up` runs count at once.
        try:
            lines = self._keys_file.read_text().splitlines()
        except FileNotFoundError:
            return set()
        return {" ".join(line.split()[:2]) for line in lines
                if line.strip() and not line.lstrip().startswith("#")}

    @authorized_keys.setter
    def authorized_keys(self, value: set[str]) -> None:
        pass  # the file is the only source of keys

    def _resolve(self, command: str) -> tuple[str, Path]:
        try:
            return super()._resolve(command)
        except FileNotFoundError:
            service, _, rel = command.partition(" ")
            rel = rel.strip().strip("'\"").lstrip("/")
            if service != "git-receive-pack" or not _REPO_PATH.fullmatch(rel):
                raise
            _create_bare(self.root, rel)
            return super()._resolve(command)


class LocalGitRemote(AsyncService):
    """Bare repositories below `root`, over smart HTTP and SSH on loopback."""

    def __init__(self, root: Path, http_addr: str, ssh_addr: str) -> None:
        self.root = root
        self._http_addr = http_addr
        self._ssh_addr = ssh_addr
        self.http: _HTTP | None = None
        self.ssh: _SSH | None = None

    @property
    def token_file(self) -> Path:
        return self.root / "token"

    @property
    def authorized_keys_file(self) -> Path:
        return self.root / "authorized_keys"

    def _credentials(self) -> tuple[str, bytes]:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.token_file.exists():
            _private_file(self.token_file, secrets.token_urlsafe(24).encode())
        key_file = self.root / "ssh_host_ed25519_key"
        if not key_file.exists():
            key = asyncssh.generate_private_key("ssh-ed25519")
            _private_file(key_file, key.export_private_key())
        if not self.authorized_keys_file.exists():
            _private_file(self.authorized_keys_file,
                          b"# One OpenSSH public key per line may push and pull over SSH.\n")
        return self.token_file.read_text().strip(), key_file.read_bytes()

    async def start(self) -> None:
        token, host_key = self._credentials()
        if self._http_addr:
            host, port = parse_address(self._http_addr)
            self.http = _HTTP(self.root, username=GIT_USER, password=token,
                              host=host or "127.0.0.1", port=port)
            await self.http.start()
        if self._ssh_addr:
            host, port = parse_address(self._ssh_addr)
            self.ssh = _SSH(self.root, self.authorized_keys_file, host_key,
                            host or "127.0.0.1", port)
            await self.ssh.start()

    async def close(self) -> None:
        for server in (self.ssh, self.http):
            if server is not None:
                await server.close()

    def instructions(self) -> list[str]:
        """What `sluice up` prints: how to push a first repository and point a source at it."""
        lines = []
        if self.http is not None:
            lines += [f"► git remote (HTTP) on {self.http.url}: user '{GIT_USER}', "
                      f"token in {self.token_file}",
                      f"  git remote add origin {self.http.url}/<name>.git   "
                      "(the first push creates the repository)"]
        if self.ssh is not None:
            lines += [f"► git remote (SSH) on {self.ssh.url}: keys from "
                      f"{self.authorized_keys_file}",
                      f"  known_hosts: {self.ssh.known_hosts}"]
        return lines
