"""SSH keys and known_hosts lines for `create secret git`.

Aspects: each key type and its OpenSSH encodings (checked with ssh-keygen
when present), passphrases, refusing bad RSA sizes and unreadable keys,
known_hosts formatting, and scanning a live server's host key.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from sluice.core.sshkeys import (
    HostKeyScanError,
    SSHKeyError,
    generate_key_pair,
    known_hosts_line,
    load_key_pair,
    scan_host_keys,
)
from sluice.testing.sshgit import GitSSHServer


@pytest.mark.parametrize(
    ("algorithm", "options", "prefix", "bits"),
    [
        ("ecdsa", {}, "ecdsa-sha2-nistp384 ", 384),
        ("ecdsa", {"ecdsa_curve": "p256"}, "ecdsa-sha2-nistp256 ", 256),
        ("ecdsa", {"ecdsa_curve": "p521"}, "ecdsa-sha2-nistp521 ", 521),
        ("ed25519", {}, "ssh-ed25519 ", 256),
        ("rsa", {}, "ssh-rsa ", 2048),
        ("rsa", {"rsa_bits": 4096}, "ssh-rsa ", 4096),
    ],
)
def test_generated_keys(
    tmp_path: Path, algorithm: str, options: dict[str, object], prefix: str, bits: int
) -> None:
    pair = generate_key_pair(algorithm, **options)  # type: ignore[arg-type]
    assert pair.private_key.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert pair.public_key.startswith(prefix) and len(pair.public_key.split()) == 2
    assert load_key_pair(pair.private_key).public_key == pair.public_key
    assert pair.algorithm == prefix.strip()
    if shutil.which("ssh-keygen"):
        key_file = tmp_path / "id"
        key_file.write_bytes(pair.private_key)
        key_file.chmod(0o600)
        derived = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=True
        ).stdout.split()[:2]
        assert " ".join(derived) == pair.public_key
        pub_file = tmp_path / "id.pub"
        pub_file.write_text(pair.public_key + "\n")
        listing = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(pub_file)], capture_output=True, text=True, check=True
        ).stdout
        assert listing.startswith(f"{bits} ")


def test_passphrase_protected_keys() -> None:
    pair = generate_key_pair(passphrase="s3cret phrase")
    assert load_key_pair(pair.private_key, "s3cret phrase").public_key == pair.public_key
    with pytest.raises(SSHKeyError) as caught:
        load_key_pair(pair.private_key, "wrong")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(SSHKeyError):
        load_key_pair(pair.private_key)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "rsa", "rsa_bits": 512}, "at least 1024"),
        ({"algorithm": "rsa", "rsa_bits": 2049}, "multiple of 8"),
        ({"algorithm": "ecdsa", "ecdsa_curve": "p999"}, "unsupported ECDSA curve"),
        ({"algorithm": "dsa"}, "unsupported SSH key algorithm"),
    ],
)
def test_bad_key_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SSHKeyError, match=message):
        generate_key_pair(**kwargs)  # type: ignore[arg-type]


def test_garbage_is_not_a_key() -> None:
    with pytest.raises(SSHKeyError, match="unable to read the private key"):
        load_key_pair(
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n"
        )


def test_known_hosts_line() -> None:
    key = generate_key_pair("ed25519").public_key
    assert known_hosts_line("github.com", 22, key) == f"github.com {key}"
    assert known_hosts_line("10.0.0.1", 2222, key + " comment") == f"[10.0.0.1]:2222 {key}"
    with pytest.raises(SSHKeyError):
        known_hosts_line("h", 22, "ssh-ed25519")
    with pytest.raises(SSHKeyError):
        known_hosts_line("h", 22, "ssh-ed25519 not*base64")


@pytest.mark.parametrize("host_key", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
async def test_scan_host_keys(tmp_path: Path, host_key: str) -> None:
    async with GitSSHServer(tmp_path, [], host_key_algorithm=host_key) as server:
        lines = await scan_host_keys("127.0.0.1", server.port, timeout=10)
    assert lines == [server.known_hosts]
    assert server.auth_attempts == []


async def test_scan_unreachable_host() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HostKeyScanError, match=f"127.0.0.1:{port}"):
        await scan_host_keys("127.0.0.1", port, timeout=5)
