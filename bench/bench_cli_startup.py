"""Start-up time of the ``sluice`` CLI against kubectl's, measured in the same run.

A CLI is called hundreds of times a day; before lazy subcommands every call
paid 0.85 s of imports. This runs each command N times as a fresh process
and reports the median wall time and its ratio to ``kubectl version
--client`` (kubectl must be on PATH for the ratio).

    .venv/bin/python bench/bench_cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SLUICE = [sys.executable, "-m", "sluice.cli.main"]


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
        kubeconfig = Path(tmp) / "config"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "
            "'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
            "current-context: c\nusers: [{name: u, user: {token: t}}]\n")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        rows = [("sluice --help", [*SLUICE, "--help"]),
                ("sluice version", [*SLUICE, "version"]),
                ("sluice get kustomizations", [*SLUICE, "get", "kustomizations", "--timeout=1s"])]
        kubectl = shutil.which("kubectl")
        base = _median_seconds([kubectl, "version", "--client"], args.runs, env) if kubectl else None
        if base is not None:
            print(f"{'kubectl version --client':28} {base * 1000:7.0f} ms")
        for label, argv in rows:
            t = _median_seconds(argv, args.runs, env)
            ratio = f"  {t / base:5.2f}x kubectl" if base else ""
            print(f"{label:28} {t * 1000:7.0f} ms{ratio}")


if __name__ == "__main__":
    main()
