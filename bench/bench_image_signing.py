"""What commit signing adds to an image automation's push: OpenPGP (GnuPG) and SSH.

    .venv/bin/python bench/bench_image_signing.py [--rounds 5]

Per signed commit, `sluice.git.signing` imports the OpenPGP key into a
throw-away GnuPG home, signs, stops the agent and deletes the home (or, for
SSH, writes a 0600 copy and runs ``ssh-keygen -Y sign``); the controller
also checks an OpenPGP key once (cached by digest afterwards). Timed here,
in the same run, on keys made for it (an ed25519 OpenPGP key protected with
GnuPG's default iteration count, and a protected ed25519 SSH key):

* ``check_key`` (OpenPGP, first use of a Secret);
* a signed commit: pygit2 ``create_commit_string`` + `sign` +
  ``create_commit_with_signature``, for each key type;
* baseline: the same commit unsigned (``create_commit``).

Medians of ``--rounds`` runs and the ratio to the baseline are printed.
Nothing is asserted. The push itself (network, receive-pack) is the same
with or without a signature and is not timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from sluice.git.signing import OpenPGPKey, check_key, load_ssh_key, sign

PASSPHRASE = "bench passphrase"


def _keys(home: Path) -> tuple[OpenPGPKey, bytes]:
    env = {**os.environ, "GNUPGHOME": str(home / "gnupg")}
    (home / "gnupg").mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase",
           PASSPHRASE]
    subprocess.run([*gpg, "--quick-gen-key", "Bench <bench@example.com>", "ed25519", "sign",
                    "never"], env=env, check=True, capture_output=True)
    armored = subprocess.run([*gpg, "--armor", "--export-secret-keys"], env=env, check=True,
                             capture_output=True).stdout
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-f",
                    str(home / "id")], check=True, capture_output=True)
    return OpenPGPKey(armored, PASSPHRASE.encode()), (home / "id").read_bytes()


def _median(rounds: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-sign-") as tmp:
        home = Path(tmp)
        pgp, ssh_pem = _keys(home)
        ssh = load_ssh_key(ssh_pem, PASSPHRASE.encode())
        repo = pygit2.init_repository(str(home / "repo"), bare=True)
        tree = repo.TreeBuilder().write()
        sig = pygit2.Signature("FluxCD", "flux@example.com")

        def unsigned() -> None:
            repo.create_commit(None, sig, sig, "Update from image update automation", tree, [])

        def signed(key: object) -> Callable[[], None]:
            def run() -> None:
                content = repo.create_commit_string(sig, sig, "Update", tree, [])
                assert isinstance(content, str)
                repo.create_commit_with_signature(content, sign(key, content.encode()),  # type: ignore[arg-type]
                                                  "gpgsig")
            return run

        base = _median(args.rounds, unsigned)
        rows = [
            ("OpenPGP check_key (first use)", _median(args.rounds, lambda: check_key(pgp))),
            ("OpenPGP-signed commit", _median(args.rounds, signed(pgp))),
            ("SSH key opened (bcrypt KDF)", _median(
                args.rounds, lambda: load_ssh_key(ssh_pem, PASSPHRASE.encode()))),
            ("SSH-signed commit", _median(args.rounds, signed(ssh))),
        ]
    print(f"baseline unsigned commit: {base * 1e6:.1f} us (median of {args.rounds})")
    for name, value in rows:
        print(f"{name:32s} {value * 1000:9.1f} ms  x{value / base:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
