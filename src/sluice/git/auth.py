"""Git credentials as a Flux Secret gives them, and keeping them out of text.

Pure data and string handling, importable anywhere (no libgit2 here):

* `GitAuth.from_secret` reads a Flux Git Secret (`username`/`password`,
  `bearerToken`, `ca.crt`, `identity`, `identity.pub`, `known_hosts`, and
  `password` as the key passphrase for SSH) and keeps the values out of
  `repr()`. It is a frozen, picklable value: it travels to the worker
  process that runs the operation.
* `validate` checks the combination the way Flux does (SSH needs `identity`
  and `known_hosts`; a password needs a username; basic auth and a bearer
  token exclude each other) and derives the SSH public key libssh2 wants.
* `safe_url` drops credentials from a URL; `Scrubber` replaces every secret
  value and URL credential in a text with `***` before it reaches an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sluice.core.sshkeys import SSHKeyError, load_key_pair
from sluice.git.errors import AuthenticationFailed, InvalidURL

__all__ = ["GitAuth", "Scrubber", "check_url", "safe_url", "validate"]


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

    @property
    def ca_digest(self) -> str:
        """Names the CA this auth trusts ("" for none): workers are kept apart by it."""
        return hashlib.sha256(self.ca_cert).hexdigest() if self.ca_cert else ""


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
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidURL(f"URL '{safe_url(url)}' is not valid") from None
    if parts.scheme not in ("http", "https", "ssh") or not parts.hostname:
        raise InvalidURL(f"URL scheme '{parts.scheme}' in '{safe_url(url)}' is not supported")
    port = port or {"http": 80, "https": 443, "ssh": 22}[parts.scheme]
    return parts.scheme, f"{parts.hostname}:{port}"


def validate(url: str, auth: GitAuth) -> str:
    """Check `auth` against `url`'s scheme as Flux does; the SSH public key (or "")."""
    scheme, _ = check_url(url)
    if scheme == "ssh":
        if not auth.identity:
            raise AuthenticationFailed("invalid 'ssh' auth option: 'identity' is required")
        if not auth.known_hosts.strip():
            raise AuthenticationFailed("invalid 'ssh' auth option: 'known_hosts' is required")
        if auth.identity_pub:
            return auth.identity_pub
        # libssh2 wants the public half too; derive it when the Secret has no
        # `identity.pub` (this also rejects a wrong passphrase).
        try:
            return load_key_pair(auth.identity, auth.password or None).public_key
        except SSHKeyError as err:
            raise AuthenticationFailed(f"invalid 'ssh' auth option: 'identity': {err}") from None
    if auth.password and not auth.username:
        raise AuthenticationFailed(
            f"invalid '{scheme}' auth option: 'password' requires 'username' to be set"
        )
    if auth.bearer_token and auth.username:
        raise AuthenticationFailed(
            f"invalid '{scheme}' auth option: basic auth and bearer token cannot be used together"
        )
    return ""
