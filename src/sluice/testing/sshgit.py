"""Loopback Git-over-SSH server for tests, in process (no sshd, no root).

Git over SSH is "run `git-upload-pack '<path>'` (or `git-receive-pack`) on
the server and pipe its stdio". `GitSSHServer` does exactly that on top of
an asyncssh server bound to 127.0.0.1: it accepts only public-key
authentication with the keys it is given, serves the bare repositories below
`root` at `ssh://git@127.0.0.1:<port>/<name>`, and presents a generated
host key (ed25519 unless another key or algorithm is given) whose
`known_hosts` line is `known_hosts`. That is what tests need to exercise
host-key pinning, wrong keys and wrong host keys for real.

The server advertises the same signature algorithms as OpenSSH 9
(`OPENSSH_SIGNATURE_ALGS`) rather than asyncssh's longer default list: with
that list, libssh2 as bundled in pygit2 1.21 double-frees its host key when
the session closes after RSA public-key authentication and crashes the
client process. Real forges advertise OpenSSH-like lists.

Every authentication attempt and every command is recorded (`auth_attempts`,
`commands`) so tests can assert, for instance, that a client rejecting the
host key never got as far as offering its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from sluice.testing.gitserver import RepoHost

__all__ = ["OPENSSH_SIGNATURE_ALGS", "AuthAttempt", "GitSSHServer"]

_SERVICES = ("git-upload-pack", "git-receive-pack")

OPENSSH_SIGNATURE_ALGS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
)


@dataclass(frozen=True)
class AuthAttempt:
    username: str
    public_key: str  # "<type> <base64>"
    accepted: bool


def _key_line(key: asyncssh.SSHKey) -> str:
    line: bytes = key.export_public_key("openssh")
    return " ".join(line.decode("ascii").split()[:2])


class _Server(asyncssh.SSHServer):
    def __init__(self, owner: GitSSHServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        line = _key_line(key)
        accepted = self._owner.accepts_key(line)
        self._owner.auth_attempts.append(AuthAttempt(username, line, accepted))
        if accepted and self._conn is not None:
            # Remembered for `authorize`: which key this session authenticated with.
            self._conn.set_extra_info(sluice_public_key=line)
        return accepted


class GitSSHServer(RepoHost):
    """Serve the bare repositories below `root` over SSH to `authorized_keys`."""

    def __init__(
        self,
        root: Path,
        authorized_keys: Sequence[str],
        *,
        host_key: str | bytes | None = None,
        host_key_algorithm: str = "ssh-ed25519",
        host: str = "127.0.0.1",
        port: int = 0,
        allow_push: bool = True,
        signature_algs: Sequence[str] = OPENSSH_SIGNATURE_ALGS,
    ) -> None:
        self.root = root
        # Compare on "<type> <base64>", ignoring comments.
        self.authorized_keys = {" ".join(k.split()[:2]) for k in authorized_keys}
        self.host = host
        self.allow_push = allow_push
        self._signature_algs = list(signature_algs)
        if host_key is None:
            self._host_key = asyncssh.generate_private_key(host_key_algorithm)
        else:
            self._host_key = asyncssh.import_private_key(host_key)
        self.auth_attempts: list[AuthAttempt] = []
        self.commands: list[str] = []
        self._wanted_port = port  # 0 picks a free one
        self.port = 0
        self._server: Any = None

    @property
    def host_public_key(self) -> str:
        """The server's host key as `<type> <base64>`."""
        return _key_line(self._host_key)

    @property
    def known_hosts(self) -> str:
        """A `known_hosts` line that trusts this server."""
        return f"[{self.host}]:{self.port} {self.host_public_key}"

    @property
    def url(self) -> str:
        return f"ssh://git@{self.host}:{self.port}"

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._server = await asyncssh.create_server(
            lambda: _Server(self),
            self.host,
            self._wanted_port,
            server_host_keys=[self._host_key],
            process_factory=self._serve,
            encoding=None,
            allow_pty=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            signature_algs=self._signature_algs,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def locate(self, repository: str) -> Path:
        """The bare repository a client's path (below `root`) names."""
        return self.root / repository

    def accepts_key(self, public_key: str) -> bool:
        """Whether `public_key` (``<type> <base64>``) may authenticate at all."""
        return public_key in self.authorized_keys

    def authorize(self, public_key: str, service: str, repository: str) -> None:
        """Raise PermissionError when `public_key` may not run `service` on `repository`.

        `repository` is the path below `root`. Every accepted key may read and push
        every repository here; the forge fixture narrows this to deploy keys.
        """

    def _resolve(self, command: str) -> tuple[str, Path]:
        try:
            argv = shlex.split(command)
        except ValueError:
            raise PermissionError("malformed command") from None
        if len(argv) != 2 or argv[0] not in _SERVICES:
            raise PermissionError("only git-upload-pack and git-receive-pack are served")
        if argv[0] == "git-receive-pack" and not self.allow_push:
            raise PermissionError("push is disabled")
        rel = argv[1].lstrip("/")
        if not rel or ".." in rel.split("/"):
            raise PermissionError("bad repository path")
        path = self.locate(rel)
        if not (path / "HEAD").is_file():
            raise FileNotFoundError(f"repository '{argv[1]}' does not exist")
        return argv[0], path

    async def _serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command or ""
        self.commands.append(command)
        try:
            service, path = self._resolve(command)
            self.authorize(str(process.get_extra_info("sluice_public_key", "")), service,
                           path.relative_to(self.root).as_posix())
        except (PermissionError, FileNotFoundError) as err:
            process.stderr.write(f"fatal: {err}\n".encode())
            process.exit(128)
            return
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root)}
        proc = await asyncio.create_subprocess_exec(
            "git",
            service.removeprefix("git-"),
            str(path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

        async def pump_in() -> None:
            assert proc.stdin is not None
            with contextlib.suppress(Exception):
                while data := await process.stdin.read(1 << 16):
                    proc.stdin.write(data)
                    await proc.stdin.drain()
            with contextlib.suppress(Exception):
                proc.stdin.close()

        async def pump_out(reader: asyncio.StreamReader, writer: asyncssh.SSHWriter[bytes]) -> None:
            # Keep draining after the client is gone so git can finish and exit.
            client_gone = False
            while data := await reader.read(1 << 16):
                if client_gone:
                    continue
                try:
                    writer.write(data)
                    await writer.drain()
                except Exception:
                    client_gone = True

        feeder = asyncio.create_task(pump_in())
        try:
            await asyncio.gather(
                pump_out(proc.stdout, process.stdout), pump_out(proc.stderr, process.stderr)
            )
            returncode = await proc.wait()
        finally:
            feeder.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        with contextlib.suppress(Exception):
            process.exit(returncode)
