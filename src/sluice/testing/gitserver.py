"""Loopback Git hosting for tests: bare repositories and a smart-HTTP server.

Sluice's own tests, and users testing their GitOps repositories, need a real
Git remote without network access. This module provides:

* `GitRepo`: a bare repository on disk with a tiny authoring API (commit a
  dict of files, delete with `None`, symlinks and executables via
  `FileEntry`, branches, lightweight and annotated tags, submodule links).
  Commits are written straight into the object database with pygit2, so
  even a 10,000-file commit takes well under a second, and the author dates
  are fixed so the same content always yields the same commit ids.
* `GitHTTPServer`: an aiohttp server in front of `git http-backend` (the
  CGI program shipped with git), serving every bare repository below a root
  directory at `http://127.0.0.1:<port>/<name>`, with optional HTTP basic or
  bearer-token authentication and push. `git http-backend` speaks every
  protocol version and shallow fetch exactly as a real forge would; the
  pure-Python alternatives either miss features or (wsgiref + dulwich) are
  not understood by libgit2.

Both are used as async context managers from pytest fixtures:

    async with GitHTTPServer(tmp_path, username="git", password="s3cret") as srv:
        repo = srv.create_repo("app.git", {"deploy.yaml": "kind: ConfigMap"})
        url = srv.repo_url("app.git")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2
from aiohttp import web

from sluice.core.lifecycle import AsyncService

__all__ = [
    "FileEntry",
    "FileValue",
    "GitHTTPServer",
    "GitRepo",
    "RepoHost",
    "executable",
    "http_backend",
    "symlink",
]

_BLOB = pygit2.enums.FileMode.BLOB
_BLOB_EXECUTABLE = pygit2.enums.FileMode.BLOB_EXECUTABLE
_LINK = pygit2.enums.FileMode.LINK
_COMMIT = pygit2.enums.FileMode.COMMIT

# 2024-01-01T00:00:00Z; each commit of a GitRepo is one minute later.
_EPOCH = 1_704_067_200


@dataclass(frozen=True)
class FileEntry:
    """File content with an explicit git mode (regular, executable, symlink)."""

    content: bytes
    mode: pygit2.enums.FileMode = _BLOB


def symlink(target: str) -> FileEntry:
    """A symbolic link pointing at `target` (stored as git stores links)."""
    return FileEntry(target.encode(), _LINK)


def executable(content: str | bytes) -> FileEntry:
    """A file with the executable bit."""
    return FileEntry(content.encode() if isinstance(content, str) else content, _BLOB_EXECUTABLE)


FileValue = str | bytes | FileEntry | None


class GitRepo:
    """A bare repository with helpers to author history in tests."""

    def __init__(self, path: Path, default_branch: str = "main") -> None:
        self.path = path
        self.default_branch = default_branch
        if (path / "HEAD").exists():
            self._repo = pygit2.Repository(str(path))
        else:
            path.mkdir(parents=True, exist_ok=True)
            self._repo = pygit2.init_repository(str(path), bare=True, initial_head=default_branch)
        self._clock = _EPOCH

    def _signature(self) -> pygit2.Signature:
        self._clock += 60
        return pygit2.Signature("Sluice Test", "test@sluice.invalid", self._clock, 0)

    def head(self, branch: str | None = None) -> str:
        """The commit id at the tip of `branch` (default branch by default)."""
        ref = self._repo.references[f"refs/heads/{branch or self.default_branch}"]
        return str(ref.peel(pygit2.Commit).id)

    def commit(
        self,
        files: Mapping[str, FileValue],
        message: str = "update",
        *,
        branch: str | None = None,
        replace: bool = False,
    ) -> str:
        """Commit `files` on top of `branch`; `None` deletes a path.

        With `replace=True` the tree holds exactly `files` (no inheritance).
        Returns the new commit id.
        """
        refname = f"refs/heads/{branch or self.default_branch}"
        parents: list[pygit2.Oid] = []
        index = pygit2.Index()
        if refname in self._repo.references:
            parent = self._repo.references[refname].peel(pygit2.Commit)
            parents.append(parent.id)
            if not replace:
                index.read_tree(parent.tree)
        for rel, value in files.items():
            if value is None:
                with contextlib.suppress(KeyError, OSError):
                    index.remove(rel)
                continue
            entry = (
                value
                if isinstance(value, FileEntry)
                else FileEntry(value.encode() if isinstance(value, str) else value)
            )
            if entry.mode == _COMMIT:
                # A gitlink: the content is the pinned commit's raw id.
                oid = pygit2.Oid(raw=entry.content)
            else:
                oid = self._repo.create_blob(entry.content)
            index.add(pygit2.IndexEntry(rel, oid, entry.mode))
        tree = index.write_tree(self._repo)
        sig = self._signature()
        oid = self._repo.create_commit(refname, sig, sig, message, tree, parents)
        return str(oid)

    def add_submodule(self, path: str, url: str, commit: str, *, branch: str | None = None) -> str:
        """Commit a submodule link at `path` to `url` pinned at `commit`."""
        gitmodules = f'[submodule "{path}"]\n\tpath = {path}\n\turl = {url}\n'
        refname = f"refs/heads/{branch or self.default_branch}"
        existing = b""
        if refname in self._repo.references:
            tree = self._repo.references[refname].peel(pygit2.Commit).tree
            if ".gitmodules" in tree:
                blob = self._repo[tree[".gitmodules"].id]
                assert isinstance(blob, pygit2.Blob)
                existing = blob.data
        return self.commit(
            {
                ".gitmodules": existing + gitmodules.encode(),
                path: FileEntry(bytes.fromhex(commit), _COMMIT),
            },
            f"add submodule {path}",
            branch=branch,
        )

    def branch(self, name: str, target: str | None = None) -> str:
        """Create or move branch `name` to `target` (default branch tip)."""
        oid = pygit2.Oid(hex=target or self.head())
        self._repo.references.create(f"refs/heads/{name}", oid, force=True)
        return str(oid)

    def tag(self, name: str, target: str | None = None, *, message: str | None = None) -> str:
        """Tag `target` (default branch tip); annotated when `message` is given."""
        oid = pygit2.Oid(hex=target or self.head())
        if message is None:
            self._repo.references.create(f"refs/tags/{name}", oid, force=True)
        else:
            self._repo.create_tag(
                name, oid, pygit2.enums.ObjectType.COMMIT, self._signature(), message
            )
        return str(oid)

    def delete_branch(self, name: str) -> None:
        self._repo.references.delete(f"refs/heads/{name}")


class RepoHost(AsyncService):
    """What the HTTP and SSH test forges share: bare repositories below `root` at `url`."""

    root: Path

    @property
    def url(self) -> str:
        raise NotImplementedError

    def repo_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    def create_repo(
        self, name: str, files: Mapping[str, FileValue] | None = None, *, branch: str = "main"
    ) -> GitRepo:
        """A new bare repository `name` below the root, with one commit if `files`."""
        repo = GitRepo(self.root / name, default_branch=branch)
        if files is not None:
            repo.commit(files, "initial commit")
        return repo


class GitHTTPServer(RepoHost):
    """Smart-HTTP git server for the bare repositories below `root`."""

    def __init__(
        self,
        root: Path,
        *,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        allow_push: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.root = root
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.allow_push = allow_push
        self.host = host
        self.requests: list[str] = []
        self._ssl = ssl_context
        self._runner: web.AppRunner | None = None
        self._wanted_port = port  # 0 picks a free one
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._wanted_port, ssl_context=self._ssl)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authenticated_user(self, request: web.Request) -> str | None:
        """The user name to pass on, "" when anonymous is fine, None to refuse."""
        header = request.headers.get("Authorization", "")
        if self.bearer_token is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(token, self.bearer_token):
                return "bearer"
            return None
        if self.username is None:
            return ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        ok = hmac.compare_digest(user, self.username) and hmac.compare_digest(
            password, self.password or ""
        )
        return user if ok else None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        user = self._authenticated_user(request)
        if user is None:
            challenge = "Bearer" if self.bearer_token is not None else 'Basic realm="sluice-test"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if ".." in request.path.split("/"):
            return web.Response(status=400, text="bad path")
        return await http_backend(request, self.root, allow_push=self.allow_push, user=user)


async def http_backend(request: web.Request, root: Path, *, allow_push: bool,
                       user: str = "", path: str | None = None) -> web.StreamResponse:
    """Answer a smart-HTTP git request with `git http-backend` for the repositories in `root`.

    Authentication and authorisation are the caller's: `user` is passed on as
    ``REMOTE_USER``, `allow_push` enables ``git-receive-pack``, `path` (default: the
    request's) is the path below `root`. Shared by `GitHTTPServer` and the forge fixture.
    """
    body = await request.read()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": request.path if path is None else path,
        "QUERY_STRING": request.query_string,
        "REQUEST_METHOD": request.method,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": request.remote or "127.0.0.1",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.receivepack",
        "GIT_CONFIG_VALUE_0": "true" if allow_push else "false",
    }
    if user:
        env["REMOTE_USER"] = user
    if "Git-Protocol" in request.headers:
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    # git gzips large request bodies; hand them over still compressed
    # when the web server did not inflate them.
    if body[:2] == b"\x1f\x8b" and request.headers.get("Content-Encoding") == "gzip":
        env["HTTP_CONTENT_ENCODING"] = "gzip"
    proc = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None

    async def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(body)
            await proc.stdin.drain()
        proc.stdin.close()

    feeder = asyncio.create_task(feed())
    response = web.StreamResponse()
    try:
        status, headers = 200, {}
        while True:
            line = (await proc.stdout.readline()).rstrip(b"\r\n")
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers[name.strip()] = value.strip()
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        while chunk := await proc.stdout.read(1 << 16):
            await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:
        pass  # libgit2 hangs up as soon as it has read the final flush packet
    finally:
        await _reap(proc, feeder)
    return response


async def _reap(proc: asyncio.subprocess.Process, feeder: asyncio.Task[None]) -> None:
    """Let the CGI finish (draining what nobody reads any more), then reap it.

    Killing a child that may already have exited races asyncio's child
    watcher, so it is only done when the program does not end by itself.
    """
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            while await proc.stdout.read(1 << 16):
                pass
            await feeder
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
