"""How libgit2 may talk to one remote: callbacks, host-key pinning, CA, cancellation.

This is the libgit2-facing half of `sluice.git` (the other half, `auth`, is
pure data). It runs where libgit2 runs: inside a worker process
(`sluice.git.worker`), or in a short-lived CLI process (`sluice bootstrap`).

* Host keys: libgit2 checks an SSH host key only against
  `$HOME/.ssh/known_hosts`, and only enforces the verdict if the
  `certificate_check` callback returns it (pygit2's default accepts any key).
  So each SSH connection writes the Secret's `known_hosts` into a private
  home directory and points the process-wide `pygit2.settings.homedir` at
  it under `_HOMEDIR_LOCK`, released as soon as the host key has been judged
  (before any credential is offered). In a worker process one operation runs
  at a time, so the lock is never contended there: a host that never answers
  blocks only its own worker, which its deadline kills.
* Credentials are offered once per connection; a second request from
  libgit2 means the server refused them and ends the call with an
  authentication error instead of a retry loop.
* A `ca.crt` is added to libgit2's process-wide trust store (libgit2 has no
  per-connection CA). The worker pool never reuses a worker that trusted one
  CA for a source with another, so a CA is trusted for its source only.
* `cancel` (a `threading.Event`) or the deadline make the progress callbacks
  abort the transfer.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pygit2

from sluice.git.auth import GitAuth, check_url, validate

__all__ = ["Cancelled", "Refused", "Session"]

_HOMEDIR_LOCK = threading.Lock()
_CA_LOCK = threading.Lock()
_TRUSTED_CAS: set[str] = set()


class Cancelled(Exception):
    """The caller gave up (timeout or cancellation)."""


class Refused(Exception):
    """Raised inside callbacks; `auth` tells which error it becomes."""

    def __init__(self, message: str, auth: bool = True) -> None:
        super().__init__(message)
        self.auth = auth


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class Session:
    """Everything one operation needs: credentials, host key pin, deadline."""

    def __init__(self, url: str, auth: GitAuth, deadline: float,
                 cancel: threading.Event | None = None) -> None:
        self.url, self.auth, self.deadline = url, auth, deadline
        self.cancel = cancel or threading.Event()
        self.scheme, self.hostport = check_url(url)
        self.username = urlsplit(url).username or "git"
        self._home: tempfile.TemporaryDirectory[str] | None = None
        self._holding = False
        self._previous_home: str | None = None
        self.public_key = validate(url, auth)
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
            self._home = None


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
        self.rejected: dict[str, str] = {}  # remote ref -> the server's reason

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

    def push_update_reference(self, refname: str, message: str) -> None:
        if message:
            self.rejected[refname] = message

    def _check(self) -> None:
        if self._session.cancel.is_set() or self._session.remaining() <= 0:
            raise Cancelled()

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        self._check()

    def sideband_progress(self, string: str) -> None:
        self._check()

    def push_transfer_progress(self, objects_pushed: int, total_objects: int,
                               bytes_pushed: int) -> None:
        self._check()
