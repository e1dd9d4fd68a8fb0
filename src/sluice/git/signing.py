"""Commit signatures: OpenPGP by GnuPG in a throw-away keyring, SSH by ``ssh-keygen -Y sign``.

Flux signs the commits of an ImageUpdateAutomation with the armored OpenPGP
private key of a Secret (``git.asc``, optionally protected by
``passphrase``). Sluice hands that key to ``gpg`` rather than implementing
OpenPGP: each call imports it into a fresh ``GNUPGHOME`` (mode 0700, under
the system temporary directory), works there, then stops the ``gpg-agent``
that GnuPG started for it and deletes the directory, so no key outlives
the call and two automations never share a keyring. The passphrase travels
on ``gpg``'s standard input (``--passphrase-fd 0``, loopback pinentry),
never on a command line.

* `check_key`: what Flux checks when it loads the key, before any clone:
  readable, exactly one key, a secret part, and (for a protected key) a
  passphrase that opens it; it signs a probe to prove the last point;
* `sign`: the armored detached signature of a commit's bytes (either key,
  a `CommitSigner`), for its
  ``gpgsig`` header (`sluice.git.ops` builds the commit with pygit2's
  ``create_commit_string`` and stores it with ``create_commit_with_signature``,
  as ``git commit -S`` does, so ``git verify-commit`` accepts it).

SSH keys (newer Flux's ``type: ssh``, Secret ``identity`` + ``password``)
are opened with ``cryptography`` as Flux's ``NewSSHSigner`` opens them
(`load_ssh_key`: OpenSSH or PEM, the passphrase used only when the key is
protected, Ed25519/ECDSA/RSA >= 2048 bits), and signed by OpenSSH's
``ssh-keygen -Y sign -n git``, what ``git commit -S`` with
``gpg.format=ssh`` runs, from a 0600 copy deleted right after.

All of these block (they run ``gpg`` or ``ssh-keygen``); callers use a
worker or a thread.
`SigningKeyError.problem` says which check failed, for the caller to word
in its own terms; messages carry GnuPG's diagnostics, never key material.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from sluice.git.errors import SigningKeyError

__all__ = ["CommitSigner", "OpenPGPKey", "SSHKey", "check_key", "load_ssh_key", "sign"]

GPG_TIMEOUT = 60.0
_PROBE = b"sluice signing-key check\n"


@dataclass(frozen=True)
class OpenPGPKey:
    """An armored OpenPGP private key and its passphrase (None: the Secret has none)."""

    armored: bytes = field(repr=False)
    passphrase: bytes | None = field(default=None, repr=False)


def _gpg() -> str:
    path = shutil.which("gpg")
    if path is None:
        raise SigningKeyError("gpg is not installed (Debian package gnupg)", "unavailable")
    return path


def _run(args: list[str], env: dict[str, str], stdin: bytes = b"",
         timeout: float = GPG_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(args, input=stdin, env=env, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SigningKeyError(f"gpg did not answer within {timeout:g}s", "unavailable") from None


def _diagnostic(stderr: bytes) -> str:
    """GnuPG's last meaningful line, without its ``gpg:`` prefix."""
    lines = [line.strip().removeprefix("gpg:").strip().removeprefix("signing failed:").strip()
             for line in stderr.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line and "keybox" not in line and "trustdb" not in line]
    return lines[-1] if lines else "gpg failed"


@contextmanager
def _keyring(key: OpenPGPKey) -> Iterator[tuple[str, dict[str, str], str]]:
    """(gpg binary, environment, fingerprint) of a fresh keyring holding just `key`."""
    gpg = _gpg()
    home = tempfile.mkdtemp(prefix="sluice-gpg-")
    os.chmod(home, 0o700)
    # The agent re-protects an imported key at its first use, with an
    # iteration count it calibrates first: seconds on a loaded machine, for a
    # keyring that is deleted right after. The minimum count skips both.
    with open(os.path.join(home, "gpg-agent.conf"), "w") as conf:
        conf.write("s2k-count 65536\n")
    env = {"GNUPGHOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
           "LANG": "C"}
    try:
        imported = _run([gpg, "--batch", "--no-tty", "--with-colons", "--import-options",
                         "import-show", "--import"], env, key.armored)
        if imported.returncode != 0:
            raise SigningKeyError(_diagnostic(imported.stderr), "unreadable")
        rows = [line.split(":") for line in imported.stdout.decode(errors="replace").splitlines()]
        primaries = [r for r in rows if r and r[0] in ("sec", "pub")]
        if not primaries:
            raise SigningKeyError("no OpenPGP key found", "unreadable")
        if len(primaries) > 1:
            raise SigningKeyError(f"{len(primaries)} keys found", "multiple")
        if primaries[0][0] != "sec":
            raise SigningKeyError("it holds a public key only, no private key", "unreadable")
        fingerprints = [r[9] for r in rows if r[0] == "fpr" and len(r) > 9]
        yield gpg, env, fingerprints[0] if fingerprints else ""
    finally:
        # The agent GnuPG started for this home would otherwise keep running.
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True,
                       timeout=GPG_TIMEOUT, check=False)
        subprocess.run(["gpgconf", "--remove-socketdir"], env=env, capture_output=True,
                       timeout=GPG_TIMEOUT, check=False)
        shutil.rmtree(home, ignore_errors=True)


def _sign_in(gpg: str, env: dict[str, str], fingerprint: str, key: OpenPGPKey,
             payload: bytes) -> str:
    home = env["GNUPGHOME"]
    data = os.path.join(home, "payload")
    with open(data, "wb") as out:
        out.write(payload)
    args = [gpg, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--armor",
            "--detach-sign", "--output", "-"]
    if fingerprint:
        args += ["--local-user", fingerprint]
    if key.passphrase is not None:
        args += ["--passphrase-fd", "0"]
    else:
        args += ["--passphrase", ""]  # an empty one: a protected key then says so
    done = _run([*args, data], env, key.passphrase or b"")
    if done.returncode != 0 or not done.stdout:
        text = _diagnostic(done.stderr)
        lowered = text.lower()
        if "no passphrase given" in lowered or (
                key.passphrase is None and "bad passphrase" in lowered):
            raise SigningKeyError(text, "passphrase_required")
        if "bad passphrase" in lowered:
            raise SigningKeyError(text, "bad_passphrase")
        raise SigningKeyError(text, "unusable")
    return done.stdout.decode()


def check_key(key: OpenPGPKey) -> str:
    """Prove `key` can sign; returns its fingerprint.

    Raises:
        SigningKeyError: ``problem`` is ``unreadable``, ``multiple``,
            ``passphrase_required``, ``bad_passphrase``, ``unusable`` (e.g.
            expired) or ``unavailable`` (no gpg).
    """
    with _keyring(key) as (gpg, env, fingerprint):
        _sign_in(gpg, env, fingerprint, key, _PROBE)
        return fingerprint


# ---------------------------------------------------------------------- SSH


@dataclass(frozen=True)
class SSHKey:
    """An SSH private key, opened: OpenSSH format, no passphrase (kept in memory only)."""

    openssh: bytes = field(repr=False)


def _open_ssh(pem: bytes, passphrase: bytes | None) -> object:
    """The private key in `pem` (OpenSSH, else PEM); the passphrase only if it is protected."""
    openssh = b"OPENSSH PRIVATE KEY" in pem
    load = serialization.load_ssh_private_key if openssh else serialization.load_pem_private_key
    try:
        return load(pem, None)
    except TypeError:  # protected
        if not passphrase:
            raise SigningKeyError("passphrase required", "passphrase_required") from None
    except (ValueError, UnsupportedAlgorithm) as err:
        detail = str(err).split(". See https://", 1)[0] if openssh else ""
        raise SigningKeyError(detail or "no OpenSSH or PEM private key found",
                              "unreadable") from None
    try:
        return load(pem, passphrase)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningKeyError("the password does not decrypt the key", "unreadable") from None


def load_ssh_key(pem: bytes, passphrase: bytes | None) -> SSHKey:
    """Open an SSH signing key as Flux's ``NewSSHSigner`` does.

    Ed25519, ECDSA (P-256/384/521) and RSA of 2048 bits or more; DSA and
    smaller RSA keys are refused, their signatures being ones current
    OpenSSH will not verify.

    Raises:
        SigningKeyError: ``passphrase_required`` or ``unreadable``.
    """
    key = _open_ssh(pem, passphrase)
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SigningKeyError(f"RSA key size {key.key_size} bits is below the minimum "
                                  "supported; must be at least 2048", "unreadable")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise SigningKeyError(f"unsupported SSH signing key curve: {key.curve.name}",
                                  "unreadable")
    elif not isinstance(key, ed25519.Ed25519PrivateKey):
        kind = "ssh-dss" if isinstance(key, dsa.DSAPrivateKey) else type(key).__name__
        raise SigningKeyError(f"unsupported SSH signing key algorithm: {kind}", "unreadable")
    return SSHKey(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption()))


def _ssh_sign(key: SSHKey, payload: bytes) -> str:
    """``ssh-keygen -Y sign -n git``: the armored SSHSIG that git verifies."""
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise SigningKeyError("ssh-keygen is not installed (Debian package openssh-client)",
                              "unavailable")
    home = tempfile.mkdtemp(prefix="sluice-sshsig-")
    try:
        os.chmod(home, 0o700)
        identity = os.path.join(home, "identity")
        fd = os.open(identity, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.openssh)
        data = os.path.join(home, "payload")
        with open(data, "wb") as out:
            out.write(payload)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        done = _run([keygen, "-q", "-Y", "sign", "-n", "git", "-f", identity, data], env)
        if done.returncode != 0:
            text = done.stderr.decode(errors="replace").strip().splitlines()
            raise SigningKeyError(text[-1] if text else "ssh-keygen failed", "unusable")
        with open(data + ".sig", encoding="ascii") as sig:
            return sig.read()
    finally:
        shutil.rmtree(home, ignore_errors=True)


CommitSigner = OpenPGPKey | SSHKey


def sign(key: CommitSigner, payload: bytes) -> str:
    """The armored detached signature of `payload` (a commit's bytes) for ``gpgsig``.

    Raises:
        SigningKeyError: as `check_key` (OpenPGP) or ``unusable`` (SSH).
    """
    if isinstance(key, SSHKey):
        return _ssh_sign(key, payload)
    with _keyring(key) as (gpg, env, fingerprint):
        return _sign_in(gpg, env, fingerprint, key, payload)
