"""The credential Secrets that ``create secret`` and ``create source`` both generate.

``flux create secret git`` and ``flux create source git`` (without
``--secret-ref``) write the same Secret for a Git URL: over SSH a key pair,
read from ``--private-key-file`` or generated from the ``--ssh-*`` flags, plus
the ``known_hosts`` line of the server, scanned the way flux's Go SSH client
negotiates it (the first key type the server offers in Go's preference
order). This module holds those shared steps, with the file reading and the
Secret shape both commands use, so the two commands cannot drift apart.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from sluice.cli.create_flags import object_meta
from sluice.cli.failing import CommandError
from sluice.cli.parsing import flag_error
from sluice.core.sshkeys import (
    EcdsaCurve,
    HostKeyScanError,
    KeyAlgorithm,
    KeyPair,
    SSHKeyError,
    generate_key_pair,
    load_key_pair,
    scan_host_keys,
)

__all__ = ["credentials_secret", "deploy_key", "known_hosts_for", "read_credential_file",
           "scan_known_hosts", "ssh_auth_data", "validate_ssh_key_flags"]

_KEY_ALGORITHMS = ("rsa", "ecdsa", "ed25519")
_ECDSA_CURVES = ("p256", "p384", "p521")

# Go's x/crypto/ssh client offers these host key types in this order, so a
# server answers with the first one it has: that single key is what flux stores.
_HOST_KEY_PREFERENCE = ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                        "ssh-rsa", "ssh-ed25519")


def credentials_secret(name: str, namespace: str, labels: dict[str, str],
                       string_data: dict[str, str], secret_type: str | None = None,
                       annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A v1 Secret with its values in ``stringData`` (readable until SOPS encrypts it)."""
    metadata = object_meta(name, namespace, labels)
    if annotations:
        metadata["annotations"] = annotations
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                           "stringData": string_data}
    if secret_type:
        obj["type"] = secret_type
    return obj


def read_credential_file(path: str, what: str) -> str:
    """The text of a certificate or key file, or flux's ``<what>: open <path>: ...`` error."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise CommandError(f"{what}: open {path}: no such file or directory") from None
    except OSError as err:
        raise CommandError(f"{what}: open {path}: {err.strerror or err}") from None


def validate_ssh_key_flags(algorithm: str, rsa_bits: str, curve: str) -> int:
    """Check ``--ssh-key-algorithm``, ``--ssh-rsa-bits``, ``--ssh-ecdsa-curve`` like pflag; the bits."""
    if not algorithm.strip():
        raise flag_error("--ssh-key-algorithm", algorithm,
                         "no public key algorithm given, must be one of: rsa, ecdsa, ed25519")
    if algorithm not in _KEY_ALGORITHMS:
        raise flag_error("--ssh-key-algorithm", algorithm,
                         f"unsupported public key algorithm '{algorithm}', must be one of: "
                         "rsa, ecdsa, ed25519")
    bits = 2048
    if rsa_bits.strip():
        try:
            bits = int(rsa_bits, 10)
        except ValueError:
            raise flag_error("--ssh-rsa-bits", rsa_bits,
                             f'strconv.Atoi: parsing "{rsa_bits}": invalid syntax') from None
        if bits % 8 != 0:
            raise flag_error("--ssh-rsa-bits", rsa_bits, "RSA key bit size should be a multiples of 8")
    if curve not in _ECDSA_CURVES:
        raise flag_error("--ssh-ecdsa-curve", curve,
                         f"unsupported curve '{curve}', should be one of: p256, p384, p521")
    return bits


def deploy_key(private_key_file: str, password: str, algorithm: str, rsa_bits: int,
               curve: str) -> KeyPair:
    """The key pair from ``--private-key-file``, else a new one; ``-p`` is its passphrase."""
    try:
        if private_key_file:
            with open(private_key_file, "rb") as handle:
                raw = handle.read()
            return load_key_pair(raw, password or None)
        return generate_key_pair(cast(KeyAlgorithm, algorithm), rsa_bits=rsa_bits,
                                 ecdsa_curve=cast(EcdsaCurve, curve),
                                 passphrase=password or None)
    except FileNotFoundError:
        raise CommandError(f"failed to open private key file: open {private_key_file}: "
                           "no such file or directory") from None
    except OSError as err:
        raise CommandError(f"failed to open private key file: open {private_key_file}: "
                           f"{err.strerror or err}") from None
    except SSHKeyError as err:
        raise CommandError(str(err)) from None


def known_hosts_for(lines: list[str]) -> str:
    """The one ``known_hosts`` line flux would record out of a full scan."""
    def rank(line: str) -> int:
        fields = line.split()
        key_type = fields[1] if len(fields) > 1 else ""
        try:
            return _HOST_KEY_PREFERENCE.index(key_type)
        except ValueError:
            return len(_HOST_KEY_PREFERENCE)
    return sorted(lines, key=rank)[0].strip()


def scan_known_hosts(host: str, port: int) -> str:
    """Scan the server's host keys and keep the line flux would record."""
    try:
        lines = asyncio.run(scan_host_keys(host, port))
    except (HostKeyScanError, OSError) as err:
        raise CommandError(f"SSH key scan for host {host}:{port} failed, error: {err}") from None
    return known_hosts_for(lines)


def ssh_auth_data(pair: KeyPair, host: str, port: int, password: str) -> dict[str, str]:
    """The stringData of a Git-over-SSH Secret: key pair, scanned host key, passphrase."""
    data = {"identity": pair.private_key.decode("utf-8"),
            "identity.pub": pair.public_key.strip() + "\n",
            "known_hosts": scan_known_hosts(host, port)}
    if password:
        # With a key, -p is the key's passphrase.
        data["password"] = password
    return data
