"""SSH keys and `known_hosts` lines for Git credentials.

`flux create secret git` (and `bootstrap`) produce a Secret holding
`identity` (an OpenSSH private key), `identity.pub` and `known_hosts`; the
source controller later refuses to talk SSH without a `known_hosts` entry.
This module makes those values:

* `generate_key_pair`: ECDSA P-384 by default (Flux's default), also P-256,
  P-521, ed25519 and RSA (at least 1024 bits, a multiple of 8; 2048 by
  default), optionally encrypted with a passphrase, in OpenSSH format.
* `load_key_pair`: reads an existing private key (`--private-key-file`).
* `scan_host_keys`: connects once per host-key algorithm family and returns
  one `known_hosts` line per key the server offers. This is the only place
  where a host key is taken on trust, exactly as the Flux CLI does when it
  builds `known_hosts`; the result must be checked by the user. asyncssh is
  imported only here, when scanning.

Private key bytes never appear in `repr()`.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = [
    "EcdsaCurve",
    "HostKeyScanError",
    "KeyAlgorithm",
    "KeyPair",
    "SSHKeyError",
    "generate_key_pair",
    "known_hosts_line",
    "load_key_pair",
    "scan_host_keys",
]

KeyAlgorithm = Literal["ecdsa", "ed25519", "rsa"]
EcdsaCurve = Literal["p256", "p384", "p521"]

_CURVES: dict[str, ec.EllipticCurve] = {
    "p256": ec.SECP256R1(),
    "p384": ec.SECP384R1(),
    "p521": ec.SECP521R1(),
}

# One connection per family: a server presents one key per negotiation.
_SCAN_ALGORITHMS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
)


class SSHKeyError(ValueError):
    """An SSH key that cannot be generated or read."""


class HostKeyScanError(ConnectionError):
    """No host key could be obtained from the server."""


@dataclass(frozen=True)
class KeyPair:
    """An OpenSSH private key and its one-line public key (no comment)."""

    private_key: bytes = field(repr=False)
    public_key: str

    @property
    def algorithm(self) -> str:
        return self.public_key.split(" ", 1)[0]


def _public_line(key: serialization.SSHPublicKeyTypes) -> str:
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return raw.decode("ascii")


def generate_key_pair(
    algorithm: KeyAlgorithm = "ecdsa",
    *,
    rsa_bits: int = 2048,
    ecdsa_curve: EcdsaCurve = "p384",
    passphrase: str | bytes | None = None,
) -> KeyPair:
    """A new key pair, with the same defaults as `flux create secret git`."""
    private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if algorithm == "ecdsa":
        curve = _CURVES.get(ecdsa_curve)
        if curve is None:
            raise SSHKeyError(f"unsupported ECDSA curve {ecdsa_curve!r} (use p256, p384 or p521)")
        private = ec.generate_private_key(curve)
    elif algorithm == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "rsa":
        if rsa_bits < 1024:
            raise SSHKeyError("RSA key bit size must be at least 1024")
        if rsa_bits % 8:
            raise SSHKeyError("RSA key bit size must be a multiple of 8")
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    else:
        raise SSHKeyError(f"unsupported SSH key algorithm {algorithm!r}")
    if passphrase:
        secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(secret)
        )
    else:
        encryption = serialization.NoEncryption()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    )
    return KeyPair(pem, _public_line(private.public_key()))


def load_key_pair(private_key: bytes, passphrase: str | bytes | None = None) -> KeyPair:
    """Read an OpenSSH or PEM private key and derive its public key line."""
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    key: object
    try:
        if b"OPENSSH PRIVATE KEY" in private_key:
            key = serialization.load_ssh_private_key(private_key, secret or None)
        else:
            key = serialization.load_pem_private_key(private_key, secret or None)
    except (ValueError, TypeError) as err:
        # The cryptography message says whether a password is missing or wrong;
        # it never echoes key material.
        raise SSHKeyError(f"unable to read the private key: {err}") from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    ):
        raise SSHKeyError(f"unsupported private key type {type(key).__name__}")
    return KeyPair(private_key, _public_line(key.public_key()))


def known_hosts_line(host: str, port: int, public_key: str) -> str:
    """`host key` for port 22, `[host]:port key` otherwise (OpenSSH format)."""
    fields = public_key.split()
    if len(fields) < 2:
        raise SSHKeyError("public key must look like '<type> <base64>'")
    try:
        base64.b64decode(fields[1], validate=True)
    except ValueError:
        raise SSHKeyError("public key data is not base64") from None
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {fields[0]} {fields[1]}"


async def scan_host_keys(
    host: str,
    port: int = 22,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - the default mirrors the Flux CLI's 30s scan
) -> list[str]:
    """`known_hosts` lines for every host key `host:port` offers.

    Raises HostKeyScanError when no key at all could be read (unreachable
    host, not an SSH server, timeout).
    """
    import asyncssh

    async def one(algorithm: str) -> str | BaseException:
        try:
            key = await asyncssh.get_server_host_key(host, port, server_host_key_algs=[algorithm])
        except (OSError, asyncssh.Error) as err:
            return err
        if key is None:
            return HostKeyScanError("no host key offered")
        line: bytes = key.export_public_key("openssh")
        return known_hosts_line(host, port, line.decode("ascii"))

    try:
        async with asyncio.timeout(timeout):
            results = await asyncio.gather(*(one(alg) for alg in _SCAN_ALGORITHMS))
    except TimeoutError:
        raise HostKeyScanError(
            f"timed out after {timeout:g}s scanning the host key of {host}:{port}"
        ) from None
    lines: list[str] = []
    for result in results:
        if isinstance(result, str) and result not in lines:
            lines.append(result)
    if not lines:
        errors = [r for r in results if isinstance(r, BaseException)]
        # Prefer a connection error over "no matching host key algorithm".
        reason = next((e for e in errors if isinstance(e, OSError)), errors[0])
        raise HostKeyScanError(f"unable to scan the host key of {host}:{port}: {reason}")
    return lines
