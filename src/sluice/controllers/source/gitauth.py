"""Credentials, host-key pinning and secret scrubbing for Git over libgit2.

`git.py` fetches; this module decides *how* it may talk to a remote:

* `GitAuth.from_secret` reads a Flux Git Secret (`username`/`password`,
  `bearerToken`, `ca.crt`, `identity`, `identity.pub`, `known_hosts`, and
  `password` as the key passphrase for SSH) and keeps the values out of
  `repr()`.
* `Session` validates those options the way Flux does (SSH needs `identity`
  and `known_hosts`; a password needs a username; basic auth and a bearer
  token exclude each other) and hands out pygit2 callbacks per network call.
* Host keys: libgit2 checks an SSH host key only against
  `$HOME/.ssh/known_hosts`, and only enforces the verdict if the
  `certificate_check` callback returns it (pygit2's default accepts any key).
  So each SSH connection writes the Secret's `known_hosts` into a private
  home directory, points the process-wide `pygit2.settings.homedir` at it
  under `_HOMEDIR_LOCK`, and releases the lock as soon as the host key has
  been judged, which happens before any credential is offered.
* Credentials are offered once per connection; a second request from
  libgit2 means the server refused them and ends the call with an
  authentication error instead of a retry loop.
* A `ca.crt` is added to libgit2's process-wide trust store (libgit2 has no
  per-connection CA): once added, it stays trusted for the process.
* `Scrubber` removes every secret value and URL credential from text before
  it reaches an error message.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pygit2

from sluice.controllers.source.errors import AuthenticationFailed, InvalidURL
from sluice.core.sshkeys import SSHKeyError, load_key_pair

__all__ = ["Cancelled", "GitAuth", "Refused", "Scrubber", "Session", "safe_url"]


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


@dataclass(frozen=True)
class GitAuth:
    """Credentials from a Secret's (decoded) data; secrets stay out of repr."""

    username: str = ""
    password: str = field(default="", repr=False)
    bearer_token: str = field(default="", repr=False)
    ca_cert: bytes = field(default=b"", repr=False)
    identity: bytes = field(default=b"", repr=False)
    identity_pub: str = ""
    known_hosts: str = ""

    @classmethod
    def from_secret(cls, data: Mapping[str, str | bytes] | None) -> GitAuth:
        """Read decoded Secret values (`stringData`, or `.data` after base64)."""
        data = data or {}
        ca = data.get("ca.crt") or data.get("caFile") or b""
        identity = data.get("identity") or b""
        return cls(
            username=_text(data.get("username")).strip(),
            password=_text(data.get("password")),
            bearer_token=_text(data.get("bearerToken")).strip(),
            ca_cert=ca.encode() if isinstance(ca, str) else ca,
            identity=identity.encode() if isinstance(identity, str) else identity,
            identity_pub=_text(data.get("identity.pub")).strip(),
            known_hosts=_text(data.get("known_hosts")),
        )

    def secret_values(self) -> list[str]:
        """Every value that must never be shown, longest first."""
        values = [self.password, self.bearer_token, *_text(self.identity).splitlines()]
        return sorted({v.strip() for v in values if len(v.strip()) >= 3}, key=len, reverse=True)


# ---------------------------------------------------------------- URL safety


def safe_url(url: str) -> str:
    """`url` without an HTTP user-info part (which may hold a token)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    if "@" in parts.netloc and ":" in parts.netloc.rsplit("@", 1)[0]:
        user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
        return parts._replace(netloc=f"{user}@{parts.netloc.rsplit('@', 1)[1]}").geturl()
    return url


class Scrubber:
    """Replaces secret values and URL credentials in text with `***`."""

    def __init__(self, url: str, auth: GitAuth) -> None:
        self._secrets = auth.secret_values()
        parts = urlsplit(url)
        if parts.password:
            self._secrets.append(parts.password)
        if parts.scheme in ("http", "https") and parts.username:
            self._secrets.append(parts.username)
        self._url, self._safe = url, safe_url(url)

    def __call__(self, text: str) -> str:
        text = text.replace(self._url, self._safe)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def check_url(url: str) -> tuple[str, str]:
    """(scheme, "host:port") of a supported Git URL, or InvalidURL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ssh") or not parts.hostname:
        raise InvalidURL(f"URL scheme '{parts.scheme}' in '{safe_url(url)}' is not supported")
    port = parts.port or {"http": 80, "https": 443, "ssh": 22}[parts.scheme]
    return parts.scheme, f"{parts.hostname}:{port}"


# ------------------------------------------------- process-wide libgit2 state

_HOMEDIR_LOCK = threading.Lock()
_CA_LOCK = threading.Lock()
_TRUSTED_CAS: set[str] = set()


class Cancelled(Exception):
    """The awaiting coroutine gave up (timeout or cancellation)."""


class Refused(Exception):
    """Raised inside callbacks; `auth` tells which error it becomes."""

    def __init__(self, message: str, auth: bool = True) -> None:
        super().__init__(message)
        self.auth = auth


class Session:
    """Everything one operation needs: credentials, host key pin, deadline."""

    def __init__(self, url: str, auth: GitAuth, deadline: float, cancel: threading.Event) -> None:
        self.url, self.auth, self.deadline, self.cancel = url, auth, deadline, cancel
        self.scheme, self.hostport = check_url(url)
        self.username = urlsplit(url).username or "git"
        self._home: tempfile.TemporaryDirectory[str] | None = None
        self._holding = False
        self._previous_home: str | None = None
        self.public_key = ""
        self._validate()

    def _validate(self) -> None:
        auth = self.auth
        if self.scheme == "ssh":
            if not auth.identity:
                raise AuthenticationFailed("invalid 'ssh' auth option: 'identity' is required")
            if not auth.known_hosts.strip():
                raise AuthenticationFailed("invalid 'ssh' auth option: 'known_hosts' is required")
            self.public_key = auth.identity_pub
            if not self.public_key:
                # libssh2 wants the public half too; derive it when the Secret
                # has no `identity.pub` (this also rejects a wrong passphrase).
                try:
                    self.public_key = load_key_pair(auth.identity, auth.password or None).public_key
                except SSHKeyError as err:
                    raise AuthenticationFailed(
                        f"invalid 'ssh' auth option: 'identity': {err}"
                    ) from None
        else:
            if auth.password and not auth.username:
                raise AuthenticationFailed(
                    f"invalid '{self.scheme}' auth option: 'password' requires 'username' to be set"
                )
            if auth.bearer_token and auth.username:
                raise AuthenticationFailed(
                    f"invalid '{self.scheme}' auth option: basic auth and bearer token "
                    "cannot be used together"
                )
            if auth.ca_cert and self.scheme == "https":
                _trust_ca(auth.ca_cert)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @contextmanager
    def connection(self) -> Iterator[_Callbacks]:
        """Callbacks for one network call, with the SSH host key pinned."""
        if self.scheme == "ssh":
            if self._home is None:
                self._home = tempfile.TemporaryDirectory(prefix="sluice-ssh-")
                ssh_dir = Path(self._home.name) / ".ssh"
                ssh_dir.mkdir(mode=0o700)
                (ssh_dir / "known_hosts").write_text(self.auth.known_hosts.strip() + "\n")
            if not _HOMEDIR_LOCK.acquire(timeout=max(self.remaining(), 0.01)):
                raise Refused("timed out waiting to verify the SSH host key", auth=False)
            self._holding = True
            self._previous_home = pygit2.settings.homedir
            pygit2.settings.homedir = self._home.name
        try:
            yield _Callbacks(self)
        finally:
            self.release_host_key_pin()

    def release_host_key_pin(self) -> None:
        if self._holding:
            self._holding = False
            if self._previous_home:
                pygit2.settings.homedir = self._previous_home
            _HOMEDIR_LOCK.release()

    def close(self) -> None:
        self.release_host_key_pin()
        if self._home is not None:
            self._home.cleanup()


def _trust_ca(ca_cert: bytes) -> None:
    digest = hashlib.sha256(ca_cert).hexdigest()
    with _CA_LOCK:
        if digest in _TRUSTED_CAS:
            return
        with tempfile.NamedTemporaryFile(suffix=".crt") as handle:
            handle.write(ca_cert)
            handle.flush()
            pygit2.settings.set_ssl_cert_locations(handle.name, None)
        _TRUSTED_CAS.add(digest)


class _Callbacks(pygit2.RemoteCallbacks):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self._session = session
        self._offered = False

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: pygit2.enums.CredentialType
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        s, kinds = self._session, pygit2.enums.CredentialType
        if s.scheme == "ssh":
            user = username_from_url or s.username
            if allowed_types & kinds.SSH_MEMORY or allowed_types & kinds.SSH_KEY:
                if self._offered:
                    raise Refused(
                        f"ssh: unable to authenticate as '{user}': the server rejected the identity"
                    )
                self._offered = True
                return pygit2.KeypairFromMemory(
                    user, s.public_key, _text(s.auth.identity), s.auth.password or ""
                )
            if allowed_types & kinds.USERNAME:
                return pygit2.Username(user)
            raise Refused("ssh: the server offers no public key authentication")
        if s.auth.bearer_token:
            # The token went out as a header; a challenge means it was refused.
            raise Refused("authentication failed: the server rejected the bearer token")
        if self._offered:
            # Some forges take a token as the user name, so it is not shown.
            raise Refused("authentication failed: the server rejected the username and password")
        self._offered = True
        if s.auth.username and allowed_types & kinds.USERPASS_PLAINTEXT:
            return pygit2.UserPass(s.auth.username, s.auth.password)
        raise Refused("authentication required")

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        s = self._session
        # libgit2 has read known_hosts by now: let other SSH operations go.
        s.release_host_key_pin()
        if not valid:
            if s.scheme == "ssh":
                raise Refused(
                    f"ssh: handshake failed: the host key of '{s.hostport}' "
                    "does not match known_hosts"
                )
            raise Refused(f"x509: certificate of '{s.hostport}' is not trusted")
        return True

    def custom_headers(self) -> list[str] | None:
        token = self._session.auth.bearer_token
        return [f"Authorization: Bearer {token}"] if token else None

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        if self._session.cancel.is_set():
            raise Cancelled()

    def sideband_progress(self, string: str) -> None:
        if self._session.cancel.is_set():
            raise Cancelled()
