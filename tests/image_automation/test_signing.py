"""Signed commits (``spec.git.commit.signingKey``) against a real Git server and GnuPG.

Aspects: with a passphrase-protected OpenPGP key in Secret ``git.asc`` +
``passphrase``, the pushed commit carries a signature that ``git
verify-commit`` accepts against the public key; the same with an SSH key
(``type: ssh``, ``identity`` + ``password``) and git's SSH verification; a
wrong passphrase, a missing passphrase, a missing key and two keys in one
armor (and their SSH counterparts) are each ``Ready=False``
``SourceManagerFailed`` with Flux's message naming the Secret (never its
values), and nothing is pushed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Harness, ready
from .test_reconcile import commit_of, pushed, seed_setup

PASSPHRASE = "correct horse battery"


@dataclass
class Keys:
    home: Path  # a GNUPGHOME holding both keys (to verify with)
    armored: str  # the protected private key of "Flux Bot"
    two: str  # two private keys in one armor
    ssh: str  # a protected SSH key (OpenSSH format)
    allowed_signers: Path  # git's gpg.ssh.allowedSignersFile for it


def _gpg(home: Path, *args: str) -> str:
    done = subprocess.run(["gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback",
                           "--passphrase", PASSPHRASE, *args],
                          env={**os.environ, "GNUPGHOME": str(home)}, capture_output=True,
                          check=True, timeout=120)
    return done.stdout.decode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")  # no calibration: faster
    for uid in ("Flux Bot <flux@example.com>", "Other <other@example.com>"):
        _gpg(home, "--quick-gen-key", uid, "ed25519", "sign", "never")
    ssh_key = home / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "flux",
                    "-f", str(ssh_key)], check=True, capture_output=True, timeout=60)
    allowed = home / "allowed_signers"
    allowed.write_text("flux@example.com " + (home / "id_ed25519.pub").read_text())
    try:
        yield Keys(home, _gpg(home, "--armor", "--export-secret-keys", "flux@example.com"),
                   _gpg(home, "--armor", "--export-secret-keys"), ssh_key.read_text(), allowed)
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True, check=False,
                       env={**os.environ, "GNUPGHOME": str(home)})


def _signed(git: dict[str, object], secret: str, kind: str = "gpg") -> dict[str, object]:
    return {"git": {"commit": {"author": {"name": "FluxCD", "email": "flux@example.com"},
                               "signingKey": {"secretRef": {"name": secret}, "type": kind}},
                    "push": {"branch": "main"}, **git}}


async def _verify(repo_path: Path, sha: str, keys: Keys) -> str:
    done = await asyncio.to_thread(
        subprocess.run, ["git", "-C", str(repo_path), "-c",
                         f"gpg.ssh.allowedSignersFile={keys.allowed_signers}",
                         "verify-commit", "--raw", sha],
        env={**os.environ, "GNUPGHOME": str(keys.home)}, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


async def test_pushed_commit_is_signed_and_verifies(harness: Harness, keys: Keys) -> None:
    await harness.secret("gpg", {"git.asc": keys.armored, "passphrase": PASSPHRASE})
    repo = await seed_setup(harness, **_signed({}, "gpg"))
    auto = await harness.wait_automation(pushed, "a signed push")
    head = commit_of(repo)
    assert str(head.id) == auto["status"]["lastPushCommit"]
    assert head.message == "Update from image update automation"
    verified = await _verify(repo.path, str(head.id), keys)
    assert "GOODSIG" in verified and "Flux Bot <flux@example.com>" in verified


async def test_ssh_signed_commit_verifies(harness: Harness, keys: Keys) -> None:
    # newer Flux's `type: ssh`: Secret identity + password, git's gpg.format=ssh
    await harness.secret("ssh", {"identity": keys.ssh, "password": PASSPHRASE})
    repo = await seed_setup(harness, **_signed({}, "ssh", "ssh"))
    auto = await harness.wait_automation(pushed, "an SSH-signed push")
    head = commit_of(repo)
    assert str(head.id) == auto["status"]["lastPushCommit"]
    assert head.gpg_signature[0].startswith(b"-----BEGIN SSH SIGNATURE-----")
    verified = await _verify(repo.path, str(head.id), keys)
    assert 'Good "git" signature for flux@example.com' in verified


async def test_unusable_keys_fail_naming_the_secret(harness: Harness, keys: Keys) -> None:
    await harness.secret("wrong", {"git.asc": keys.armored, "passphrase": "not it"})
    await harness.secret("nopass", {"git.asc": keys.armored})
    await harness.secret("two", {"git.asc": keys.two, "passphrase": PASSPHRASE})
    await harness.secret("empty", {"identity": "x"})
    await harness.secret("ssh-nopass", {"identity": keys.ssh})
    await harness.secret("ssh-bad", {"identity": "not a key", "git.asc": keys.armored})
    repo = await seed_setup(harness, **_signed({}, "wrong"))
    base = repo.head()
    for name in ("nopass", "two", "empty"):
        await harness.automation(name, **_signed({}, name))
    for name in ("ssh-nopass", "ssh-bad", "two"):
        await harness.automation(f"{name}-ssh", **_signed({}, name, "ssh"))
    prefix = "failed configuring source manager: "
    expected = {
        "auto": "could not decrypt private key of the signing key present in secret wrong: "
                "Bad passphrase",
        "nopass": "can not use passphrase protected signing key without 'passphrase' field "
                  "present in secret nopass",
        "two": "multiple entities read from secret 'two', could not determine which signing "
               "key to use",
        "empty": "signing key secret 'empty' does not contain a 'git.asc' key",
        "ssh-nopass-ssh": "can not use passphrase protected signing key without 'password' "
                          "field present in secret ssh-nopass",
        "ssh-bad-ssh": "could not parse SSH signing key from secret 'ssh-bad': no OpenSSH or "
                       "PEM private key found",
        "two-ssh": "signing key secret 'two' does not contain an 'identity' key",
    }
    for name, message in expected.items():
        auto = await harness.wait_automation(
            lambda o: (ready(o) or ("",))[0] == "False", f"{name} Ready=False", name=name)
        assert ready(auto) == ("False", "SourceManagerFailed", prefix + message), name
        assert "lastPushCommit" not in auto["status"]
    events = await harness.events("ImageUpdateAutomation", "auto")
    assert any("secret wrong" in m for m in events)
    assert not any("not it" in m or PASSPHRASE in m for m in events)
    assert repo.head() == base
