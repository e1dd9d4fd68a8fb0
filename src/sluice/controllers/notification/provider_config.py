"""Reading a Provider and its Secrets into a `ProviderConfig`, as Flux's createNotifier does.

* ``secretRef``: ``address`` (trimmed, at most 2048 bytes, wins over
  ``spec.address``), ``token``, ``username``/``password``, ``headers`` (a YAML
  map of header to value), the deprecated ``proxy``;
* ``proxySecretRef``: ``address`` plus optional ``username``/``password``;
* ``certSecretRef``: ``ca.crt`` and/or ``tls.crt`` + ``tls.key`` (for
  commit-status providers a ``ca.crt`` in the ``secretRef`` works too).

Errors name the Provider's Secret by namespace/name and never echo values.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from sluice.controllers.notification.errors import ProviderError
from sluice.controllers.notification.providers.base import ProviderConfig
from sluice.controllers.notification.providers.factory import COMMIT_STATUS_TYPES

__all__ = ["SecretReader", "provider_config"]

# (namespace, name) -> the Secret object, or None when it does not exist
SecretReader = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]

MAX_ADDRESS = 2048


def _data(secret: Mapping[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ProviderError(f"invalid data in secret '{where}': key '{key}'") from None
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = str(value)
    return out


async def _secret(read: SecretReader, namespace: str, name: str) -> dict[str, str]:
    secret = await read(namespace, name)
    where = f"{namespace}/{name}"
    if secret is None:
        raise ProviderError(f"failed to get secret '{where}': secrets \"{name}\" not found")
    return _data(secret, where)


def _tls(data: Mapping[str, str], where: str) -> ssl.SSLContext | None:
    ca, cert, key = data.get("ca.crt"), data.get("tls.crt"), data.get("tls.key")
    if not (ca or cert or key):
        return None
    context = ssl.create_default_context()
    try:
        if ca:
            context.load_verify_locations(cadata=ca)
        if cert or key:
            if not (cert and key):
                raise ProviderError(f"failed to get TLS config: secret '{where}' needs both "
                                    "'tls.crt' and 'tls.key'")
            # ssl loads client certificates from files only: a private temp dir, removed at once.
            with tempfile.TemporaryDirectory() as tmp:
                cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
                for path, text in ((cert_path, cert), (key_path, key)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                    with os.fdopen(fd, "w") as fh:
                        fh.write(text)
                context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise ProviderError(f"failed to get TLS config from secret '{where}': "
                            f"{exc.reason or 'invalid certificate data'}") from None
    return context


def _with_user(address: str, username: str, password: str) -> str:
    parts = urlsplit(address)
    if not username:
        return address
    auth = quote(username, safe="") + (f":{quote(password, safe='')}" if password else "")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


async def provider_config(provider: Mapping[str, Any], read: SecretReader,
                          commit_status: str = "") -> ProviderConfig:
    meta = provider.get("metadata") or {}
    spec = provider.get("spec") or {}
    namespace = str(meta.get("namespace") or "")
    cfg = ProviderConfig(type=str(spec.get("type") or ""), name=str(meta.get("name") or ""),
                         namespace=namespace, uid=str(meta.get("uid") or ""),
                         address=str(spec.get("address") or ""),
                         channel=str(spec.get("channel") or ""),
                         username=str(spec.get("username") or ""),
                         proxy=str(spec.get("proxy") or ""), commit_status=commit_status,
                         annotations=dict(meta.get("annotations") or {}))
    secret_data: dict[str, str] = {}
    if ref := (spec.get("secretRef") or {}).get("name"):
        secret_data = await _secret(read, namespace, ref)
        where = f"{namespace}/{ref}"
        if "address" in secret_data:
            if len(secret_data["address"].encode()) > MAX_ADDRESS:
                raise ProviderError("invalid address in secret: address exceeds maximum "
                                    f"length of {MAX_ADDRESS} bytes")
            cfg.address = secret_data["address"].strip()
        if "proxy" in secret_data:
            cfg.proxy = secret_data["proxy"].strip()
        if "headers" in secret_data:
            try:
                headers = yaml.safe_load(secret_data["headers"]) or {}
            except yaml.YAMLError:
                headers = None
            if not isinstance(headers, dict):
                raise ProviderError(f"failed to read headers from secret '{where}': "
                                    "not a YAML map of header names to values")
            cfg.headers = {str(k): str(v) for k, v in headers.items()}
        cfg.token = secret_data.get("token", "").strip()
        if secret_data.get("username") or secret_data.get("password"):
            cfg.username = secret_data.get("username", "")
            cfg.password = secret_data.get("password", "")
    if ref := (spec.get("proxySecretRef") or {}).get("name"):
        data = await _secret(read, namespace, ref)
        address = data.get("address", "").strip()
        if not address:
            raise ProviderError(f"failed to get proxy URL: secret '{namespace}/{ref}' has no "
                                "'address'")
        cfg.proxy = _with_user(address, data.get("username", ""), data.get("password", ""))
    if ref := (spec.get("certSecretRef") or {}).get("name"):
        cfg.tls = _tls(await _secret(read, namespace, ref), f"{namespace}/{ref}")
    elif cfg.type in COMMIT_STATUS_TYPES and secret_data.get("ca.crt"):
        cfg.tls = _tls({"ca.crt": secret_data["ca.crt"]}, f"{namespace}/{spec['secretRef']['name']}")
    return cfg
