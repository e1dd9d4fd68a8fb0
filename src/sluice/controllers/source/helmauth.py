"""Credentials and TLS for Helm repositories and OCI registries, read from Secrets.

source-controller's `getter.GetClientOpts` reads, for a HelmRepository (and
the HelmCharts and OCIRepositories that talk to a registry):

* ``spec.secretRef``: ``username``/``password`` for HTTP Basic auth, or a
  ``kubernetes.io/dockerconfigjson`` Secret (``.dockerconfigjson``) whose
  entry for the registry host gives them; a username without a password (or
  the reverse) is refused. The deprecated TLS keys (``ca.crt``, ``tls.crt``,
  ``tls.key`` in the same Secret) are still honoured when ``certSecretRef``
  is unset, as Flux does.
* ``spec.certSecretRef``: ``ca.crt`` (a private CA, added to the system
  roots), ``tls.crt`` + ``tls.key`` (a client certificate).

`RepositoryAuth` keeps the values out of ``repr`` and offers
`RepositoryAuth.scrub` so an error message quoting a server reply cannot
carry a credential.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice.controllers.source.errors import AuthenticationFailed
from sluice.oci.credentials import parse_dockerconfigjson
from sluice.oci.errors import OCIError

__all__ = ["RepositoryAuth", "decode_secret_data", "registry_host"]


def decode_secret_data(secret: Mapping[str, Any], where: str) -> dict[str, bytes]:
    """A Secret's ``data`` (base64) and ``stringData`` as bytes."""
    data: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise AuthenticationFailed(f"secret '{where}': key '{key}' is not valid base64"
                                       ) from None
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = str(value).encode()
    return data


def registry_host(url: str) -> str:
    """``host[:port]`` of an ``oci://`` or ``https://`` address."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


def _docker_config_login(raw: bytes, host: str, where: str) -> tuple[str, str]:
    """The registry's username/password in a ``.dockerconfigjson`` (the OCI layer's parser)."""
    try:
        creds = parse_dockerconfigjson(raw, f"secret '{where}'").resolve(host)
    except OCIError as exc:
        raise AuthenticationFailed(str(exc)) from None
    return creds.username, creds.password


@dataclass(frozen=True)
class RepositoryAuth:
    """What a repository client needs: Basic credentials and TLS material."""

    username: str = ""
    password: str = field(default="", repr=False)
    ca: bytes = field(default=b"", repr=False)
    cert: bytes = field(default=b"", repr=False)
    key: bytes = field(default=b"", repr=False)

    @classmethod
    def from_secrets(cls, auth: Mapping[str, bytes] | None, certs: Mapping[str, bytes] | None,
                     *, host: str = "", where: str = "") -> RepositoryAuth:
        auth = auth or {}
        user = auth.get("username", b"").decode()
        password = auth.get("password", b"").decode()
        if ".dockerconfigjson" in auth and not user:
            user, password = _docker_config_login(auth[".dockerconfigjson"], host, where)
        elif bool(user) != bool(password):
            raise AuthenticationFailed(f"invalid '{where}' secret data: required fields "
                                       "'username' and 'password'")
        # TLS keys in secretRef are deprecated but honoured when certSecretRef is unset.
        tls = certs if certs is not None else auth
        return cls(user, password, tls.get("ca.crt", b""), tls.get("tls.crt", b""),
                   tls.get("tls.key", b""))

    @property
    def has_login(self) -> bool:
        return bool(self.username)

    def basic(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username else None

    def ssl_context(self, insecure_skip_verify: bool = False) -> ssl.SSLContext:
        """Default roots plus ``ca.crt``; the client certificate when given."""
        context = ssl.create_default_context()
        if insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.ca:
            try:
                context.load_verify_locations(cadata=self.ca.decode())
            except (ssl.SSLError, ValueError, UnicodeDecodeError):
                raise AuthenticationFailed("failed to parse CA certificate 'ca.crt'") from None
        if self.cert or self.key:
            if not (self.cert and self.key):
                raise AuthenticationFailed("'tls.crt' and 'tls.key' must be given together")
            # ssl loads key pairs from files only: a private temporary directory.
            with tempfile.TemporaryDirectory(prefix="sluice-tls-") as tmp:
                cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
                for path, data in ((cert, self.cert), (key, self.key)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(data)
                try:
                    context.load_cert_chain(cert, key)
                except ssl.SSLError:
                    raise AuthenticationFailed("failed to load the client certificate "
                                               "'tls.crt'/'tls.key'") from None
        return context

    def secret_values(self) -> list[str]:
        values = [self.password]
        if self.username and self.password:
            values.append(base64.b64encode(f"{self.username}:{self.password}".encode()).decode())
        return [v for v in values if v]

    def scrub(self, text: str) -> str:
        for value in self.secret_values():
            text = text.replace(value, "***")
        return text
