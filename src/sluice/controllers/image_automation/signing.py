"""The commit signing key: ``spec.git.commit.signingKey`` read and checked as Flux does.

Flux loads the key while it configures its source manager, before any
clone, from a Secret in the automation's namespace, and fails the run with
``SourceManagerFailed`` ``failed configuring source manager: ...`` (retried,
not stalled) when:

* the Secret is missing: ``could not find signing key secret '<s>': ...``;
* ``type`` is ``gpg`` (or unset) and there is no ``git.asc``:
  ``signing key secret '<s>' does not contain a 'git.asc' key``;
* the armor does not read: ``could not read signing key from secret '<s>': ...``;
* it holds several keys: ``multiple entities read from secret '<s>', could
  not determine which signing key to use``;
* the key is protected and there is no ``passphrase``: ``can not use
  passphrase protected signing key without 'passphrase' field present in
  secret <s>``; a wrong one: ``could not decrypt private key of the signing
  key present in secret <s>: ...``.

The checks themselves run GnuPG (`sluice.git.signing`) in a thread. A key
that passed is remembered by a digest of the Secret's values, so that the
periodic runs of an unchanged automation do not start GnuPG each time; an
opened SSH key is kept the same way (its bcrypt KDF costs ~0.3 s).

``type: ssh`` (newer Flux) reads ``identity`` (+ ``password``, used only
when the key is protected): ``signing key secret '<s>' does not contain an
'identity' key``, ``can not use passphrase protected signing key without
'password' field present in secret <s>``, ``could not parse SSH signing key
from secret '<s>': ...`` (also for DSA or RSA under 2048 bits, which Flux
refuses).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict

from sluice.api.image import ImageUpdateAutomation
from sluice.controllers.image_automation.errors import SourceNotReady
from sluice.controllers.image_automation.source import secret_data
from sluice.git import (
    CommitSigner,
    OpenPGPKey,
    SigningKeyError,
    SSHKey,
    check_key,
    load_ssh_key,
)
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects

__all__ = ["GPG_KEY", "PASSPHRASE_KEY", "SSH_KEY", "SSH_PASSWORD_KEY", "signing_key"]

GPG_KEY = "git.asc"
PASSPHRASE_KEY = "passphrase"
SSH_KEY = "identity"
SSH_PASSWORD_KEY = "password"
_PREFIX = "failed configuring source manager: "
_CHECKED_MAX = 64
# sha256(armored + passphrase) of keys that signed a probe.
_checked: OrderedDict[bytes, None] = OrderedDict()
# sha256(identity + password) -> the opened SSH key (its KDF costs ~0.3 s a time).
_opened: OrderedDict[bytes, SSHKey] = OrderedDict()


def _digest(key: OpenPGPKey) -> bytes:
    h = hashlib.sha256(key.armored)
    h.update(b"\0" + (key.passphrase if key.passphrase is not None else b"\xff"))
    return h.digest()


def _failed(message: str) -> SourceNotReady:
    return SourceNotReady(_PREFIX + message)


async def signing_key(auto: ImageUpdateAutomation, objects: Objects,
                      secrets: ResourceMapping) -> CommitSigner | None:
    """The key to sign with (None without ``signingKey``), proven able to sign.

    Raises:
        SourceNotReady: with Flux's message (see the module docs).
    """
    git = auto.spec.git
    spec = git.commit.signing_key if git is not None else None
    if spec is None:
        return None
    name = spec.secret_ref.name
    kind = spec.type or "gpg"
    if kind not in ("gpg", "ssh"):
        raise _failed(f'unknown signing key type "{kind}"')
    try:
        data = await secret_data(objects, secrets, auto.namespace, name)
    except KubeError as exc:
        detail = f'secrets "{name}" not found' if is_not_found(exc) else exc.message
        raise _failed(f"could not find signing key secret '{name}': {detail}") from None
    except ValueError as exc:
        raise _failed(f"could not find signing key secret '{name}': {exc}") from None
    if kind == "ssh":
        return await _ssh_key(data, name)
    armored = data.get(GPG_KEY)
    if armored is None:
        raise _failed(f"signing key secret '{name}' does not contain a '{GPG_KEY}' key")
    key = OpenPGPKey(armored, data.get(PASSPHRASE_KEY))
    digest = _digest(key)
    if digest in _checked:
        _checked.move_to_end(digest)
        return key
    try:
        await asyncio.to_thread(check_key, key)
    except SigningKeyError as exc:
        raise _failed(_worded(exc, name)) from None
    _checked[digest] = None
    while len(_checked) > _CHECKED_MAX:
        _checked.popitem(last=False)
    return key


async def _ssh_key(data: dict[str, bytes], name: str) -> SSHKey:
    pem = data.get(SSH_KEY)
    if pem is None:
        raise _failed(f"signing key secret '{name}' does not contain an '{SSH_KEY}' key")
    password = data.get(SSH_PASSWORD_KEY)
    digest = hashlib.sha256(pem + b"\0" + (password or b"")).digest()
    if digest in _opened:
        _opened.move_to_end(digest)
        return _opened[digest]
    try:
        key = await asyncio.to_thread(load_ssh_key, pem, password)
    except SigningKeyError as exc:
        if exc.problem == "passphrase_required":
            raise _failed(f"can not use passphrase protected signing key without "
                          f"'{SSH_PASSWORD_KEY}' field present in secret {name}") from None
        raise _failed(f"could not parse SSH signing key from secret '{name}': "
                      f"{exc.message}") from None
    _opened[digest] = key
    while len(_opened) > _CHECKED_MAX:
        _opened.popitem(last=False)
    return key


def _worded(exc: SigningKeyError, name: str) -> str:
    if exc.problem == "multiple":
        return (f"multiple entities read from secret '{name}', could not determine which "
                "signing key to use")
    if exc.problem == "passphrase_required":
        return (f"can not use passphrase protected signing key without '{PASSPHRASE_KEY}' "
                f"field present in secret {name}")
    if exc.problem == "bad_passphrase":
        return (f"could not decrypt private key of the signing key present in secret {name}: "
                f"{exc.message}")
    if exc.problem == "unreadable":
        return f"could not read signing key from secret '{name}': {exc.message}"
    return f"signing key from secret '{name}' cannot sign: {exc.message}"
