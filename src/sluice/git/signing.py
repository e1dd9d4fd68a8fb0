"""OpenPGP commit signatures, made by GnuPG (Debian's ``gnupg``) in a throw-away keyring.

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
* `sign`: the armored detached signature of a commit's bytes, for its
  ``gpgsig`` header (`sluice.git.ops` builds the commit with pygit2's
  ``create_commit_string`` and stores it with ``create_commit_with_signature``,
  as ``git commit -S`` does, so ``git verify-commit`` accepts it).

Both are blocking (they run ``gpg``); callers use a worker or a thread.
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

from sluice.git.errors import SigningKeyError

__all__ = ["OpenPGPKey", "check_key", "sign"]

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


def sign(key: OpenPGPKey, payload: bytes) -> str:
    """The armored detached signature of `payload` (a commit's bytes).

    Raises:
        SigningKeyError: as `check_key`.
    """
    with _keyring(key) as (gpg, env, fingerprint):
        return _sign_in(gpg, env, fingerprint, key, payload)
