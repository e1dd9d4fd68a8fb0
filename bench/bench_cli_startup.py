"""Start-up time of the ``sluice`` CLI against kubectl's, measured in the same run.

A CLI is called hundreds of times a day; before lazy subcommands every call
paid 0.85 s of imports. This runs each command N times as a fresh process
and reports the median wall time and its ratio to ``kubectl version
--client`` (kubectl must be on PATH for the ratio).

``get`` runs against an unreachable server, so it stops right after setting
up its connection: once with a kubeconfig that carries the cluster's CA (as
every kubeconfig Sluice and kubeadm write does), once without one, where
Python's ssl loads the system trust store for each client (~20 ms a load).

    .venv/bin/python bench/bench_cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SLUICE = [sys.executable, "-m", "sluice.cli.main"]

_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1'{ca}}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
users: [{{name: u, user: {{token: t}}}}]
"""


def _ca_pem(directory: Path) -> bytes:
    # The embedded cluster's own CA, as `sluice cluster up` makes it.
    from sluice.apiserver.transport.tls import ensure_certificates

    return ensure_certificates(directory / "pki").ca_cert.read_bytes()


def _median_seconds(argv: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # `get` needs a kubeconfig to get as far as connecting; an unreachable one makes it
        # fail fast after parsing, which is the start-up cost we want.
        ca = base64.b64encode(_ca_pem(Path(tmp))).decode()
        with_ca, without_ca = Path(tmp) / "with-ca", Path(tmp) / "without-ca"
        with_ca.write_text(_KUBECONFIG.format(ca=f", certificate-authority-data: {ca}"))
        without_ca.write_text(_KUBECONFIG.format(ca=""))
        env = {**os.environ, "KUBECONFIG": str(with_ca)}
        get = [*SLUICE, "get", "kustomizations", "--timeout=1s"]
        rows = [("sluice --help", [*SLUICE, "--help"], env),
                ("sluice version", [*SLUICE, "version"], env),
                ("sluice get kustomizations", get, env),
                ("  (kubeconfig without CA)", get, {**env, "KUBECONFIG": str(without_ca)})]
        kubectl = shutil.which("kubectl")
        base = _median_seconds([kubectl, "version", "--client"], args.runs, env) if kubectl else None
        if base is not None:
            print(f"{'kubectl version --client':28} {base * 1000:7.0f} ms")
        for label, argv, row_env in rows:
            t = _median_seconds(argv, args.runs, row_env)
            ratio = f"  {t / base:5.2f}x kubectl" if base else ""
            print(f"{label:28} {t * 1000:7.0f} ms{ratio}")


if __name__ == "__main__":
    main()
