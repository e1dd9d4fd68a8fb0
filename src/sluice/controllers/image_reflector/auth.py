"""From an ImageRepository's references to the OCI client's options.

Reads, in the ImageRepository's namespace:

* ``spec.secretRef``: a ``kubernetes.io/dockerconfigjson`` Secret (the
  seed's ``kubectl create secret docker-registry``), key ``.dockerconfigjson``
  (``.dockercfg`` accepted too);
* ``spec.serviceAccountName``: the ServiceAccount's ``imagePullSecrets``,
  merged after ``secretRef`` (which wins on a host both name);
* ``spec.certSecretRef``: ``ca.crt`` and/or ``tls.crt`` + ``tls.key``
  (Flux's deprecated ``caFile``/``certFile``/``keyFile`` keys too);
* ``spec.proxySecretRef``: ``address`` (required), ``username``, ``password``.

Every failure is `AuthOptionsFailed` naming the Secret and key, never a
value. The ImagePolicy controller calls this too, for digest lookups.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from sluice.api.image import ImageRepository
from sluice.controllers.image_reflector.errors import AuthOptionsFailed
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.objects import Obj, Objects
from sluice.oci.client import ClientOptions
from sluice.oci.credentials import Keychain, parse_dockerconfigjson
from sluice.oci.errors import CredentialsError
from sluice.oci.names import Repository

__all__ = ["client_options"]


def _decode(secret: Obj, ref: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise AuthOptionsFailed(f"secret '{ref}': key '{key}' is not valid base64") from None
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = str(value).encode()
    return out


async def _secret(objects: Objects, namespace: str, name: str) -> dict[str, bytes]:
    ref = f"{namespace}/{name}"
    try:
        m = await objects.mapping("v1", "Secret")
        secret = await objects.get(m, name, namespace)
    except KubeError as exc:
        detail = f'secrets "{name}" not found' if is_not_found(exc) else exc.message
        raise AuthOptionsFailed(f"failed to get secret '{ref}': {detail}") from None
    return _decode(secret, ref)


def _keychain(data: dict[str, bytes], ref: str) -> Keychain:
    raw = data.get(".dockerconfigjson")
    if raw is None and ".dockercfg" in data:
        raw = b'{"auths": ' + data[".dockercfg"] + b"}"
    if raw is None:
        raise AuthOptionsFailed(f"secret '{ref}' has no '.dockerconfigjson' key: expected a "
                                "Secret of type kubernetes.io/dockerconfigjson")
    try:
        return parse_dockerconfigjson(raw, f"secret '{ref}'")
    except CredentialsError as exc:
        raise AuthOptionsFailed(str(exc)) from None


async def _service_account_keychain(objects: Objects, namespace: str, name: str) -> Keychain:
    try:
        m = await objects.mapping("v1", "ServiceAccount")
        sa: dict[str, Any] = await objects.get(m, name, namespace)
    except KubeError as exc:
        detail = f'serviceaccounts "{name}" not found' if is_not_found(exc) else exc.message
        raise AuthOptionsFailed(f"failed to get service account '{namespace}/{name}': "
                                f"{detail}") from None
    chain = Keychain()
    for entry in sa.get("imagePullSecrets") or []:
        secret_name = (entry or {}).get("name")
        if not secret_name:
            continue
        data = await _secret(objects, namespace, secret_name)
        chain = chain.merge(_keychain(data, f"{namespace}/{secret_name}"))
    return chain


def _proxy(data: dict[str, bytes], ref: str) -> tuple[str, tuple[str, ...]]:
    address = data.get("address", b"").decode().strip()
    if not address:
        raise AuthOptionsFailed(f"invalid proxy secret '{ref}': key 'address' is missing")
    parts = urlsplit(address)
    if not parts.scheme or not parts.hostname:
        raise AuthOptionsFailed(f"invalid proxy secret '{ref}': 'address' is not a URL")
    user = data.get("username", b"").decode()
    password = data.get("password", b"").decode()
    if not user:
        return address, ()
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    secrets = tuple(s for s in (password, quote(password, safe="")) if s)
    return urlunsplit(parts._replace(netloc=netloc)), secrets


async def client_options(objects: Objects, repo: ImageRepository, registry: Repository,
                         request_timeout: float) -> ClientOptions:
    """The `ClientOptions` the ImageRepository's spec asks for."""
    ns = repo.namespace
    chain = Keychain()
    if repo.spec.secret_ref is not None:
        name = repo.spec.secret_ref.name
        chain = _keychain(await _secret(objects, ns, name), f"{ns}/{name}")
    if repo.spec.service_account_name:
        chain = chain.merge(await _service_account_keychain(objects, ns,
                                                            repo.spec.service_account_name))
    opts = ClientOptions(credentials=chain.resolve(registry.registry), timeout=request_timeout)
    if repo.spec.cert_secret_ref is not None:
        name = repo.spec.cert_secret_ref.name
        data = await _secret(objects, ns, name)
        opts.ca_pem = data.get("ca.crt") or data.get("caFile")
        opts.cert_pem = data.get("tls.crt") or data.get("certFile")
        opts.key_pem = data.get("tls.key") or data.get("keyFile")
        if (opts.cert_pem is None) != (opts.key_pem is None):
            raise AuthOptionsFailed(f"secret '{ns}/{name}': a client certificate needs both "
                                    "'tls.crt' and 'tls.key'")
    if repo.spec.proxy_secret_ref is not None:
        name = repo.spec.proxy_secret_ref.name
        opts.proxy, opts.proxy_secrets = _proxy(await _secret(objects, ns, name), f"{ns}/{name}")
    return opts
