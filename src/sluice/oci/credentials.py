"""Registry credentials: ``kubernetes.io/dockerconfigjson`` pull secrets, matched by host.

The seed's ``kubectl create secret docker-registry`` writes
``{"auths": {"<server>": {"username": ..., "password": ..., "auth": base64(user:pass)}}}``.
Servers are written in many shapes (``https://index.docker.io/v1/``,
``ghcr.io``, ``localhost:5000``, ``http://host:5000``): the host part is
compared with the registry's, Docker Hub's aliases folded, as Kubernetes'
credential provider and Flux's keychain do. A secret naming other hosts only
yields anonymous access (no error), as in Flux.

`Credentials` never shows its password in ``repr``/``str``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sluice.oci.errors import CredentialsError
from sluice.oci.names import canonical_registry

__all__ = ["Credentials", "Keychain", "parse_dockerconfigjson"]


@dataclass(frozen=True)
class Credentials:
    """A username/password (or identity token) for one registry."""

    username: str = ""
    password: str = field(default="", repr=False)
    # An OAuth2 refresh token (``identitytoken``) some registries hand out.
    identity_token: str = field(default="", repr=False)

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token)

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in messages."""
        return tuple(s for s in (self.password, self.identity_token) if s)


ANONYMOUS = Credentials()


def _host_of(server: str) -> str:
    text = server.strip()
    if "://" not in text:
        text = "//" + text
    host = urlsplit(text).netloc or text.lstrip("/")
    return canonical_registry(host.split("/")[0])


@dataclass
class Keychain:
    """Credentials by registry host."""

    entries: dict[str, Credentials] = field(default_factory=dict)

    def resolve(self, registry: str) -> Credentials:
        """The credentials for ``registry`` (host[:port]), anonymous when none match."""
        registry = canonical_registry(registry)
        if registry in self.entries:
            return self.entries[registry]
        # A server written without its port still matches (``localhost`` for ``localhost:5000``).
        bare = registry.rsplit(":", 1)[0] if ":" in registry else registry
        return self.entries.get(bare, ANONYMOUS)

    def merge(self, other: Keychain) -> Keychain:
        """Entries of both; ``self`` wins on a host present in both."""
        return Keychain({**other.entries, **self.entries})


def _entry(server: str, value: Any) -> Credentials:
    if not isinstance(value, dict):
        raise CredentialsError(f"invalid auth entry for '{server}': not an object")
    username = str(value.get("username") or "")
    password = str(value.get("password") or "")
    auth = value.get("auth")
    if auth:
        try:
            decoded = base64.b64decode(str(auth), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise CredentialsError(f"invalid auth entry for '{server}': 'auth' is not "
                                   "base64 of 'username:password'") from None
        user, sep, pw = decoded.partition(":")
        if not sep:
            raise CredentialsError(f"invalid auth entry for '{server}': 'auth' is not "
                                   "base64 of 'username:password'")
        username, password = user, pw
    return Credentials(username, password, str(value.get("identitytoken") or ""))


def parse_dockerconfigjson(data: bytes | str, source: str = "secret") -> Keychain:
    """Parse a ``.dockerconfigjson`` document (``auths`` map; the legacy flat map too)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise CredentialsError(f"{source}: .dockerconfigjson is not valid JSON") from None
    if not isinstance(doc, dict):
        raise CredentialsError(f"{source}: .dockerconfigjson is not a JSON object")
    auths = doc.get("auths", doc)
    if not isinstance(auths, dict):
        raise CredentialsError(f"{source}: 'auths' is not an object")
    keychain = Keychain()
    for server, value in auths.items():
        keychain.entries[_host_of(str(server))] = _entry(str(server), value)
    return keychain
