"""`ClusterProcess`: the embedded cluster in a child process, for the benchmarks.

`GitServerProcess` does the same for a smart-HTTP Git server serving a
directory of bare repositories.

Benchmarks measure Sluice's client or controllers in their own interpreter,
so the API server they talk to runs as ``sluice cluster up`` in a child
process (HTTPS, token) and does not share the measured process's GIL or
memory. The benches import this module as a sibling: run them as scripts
(``python bench/bench_apply.py``), which puts ``bench/`` on ``sys.path``.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["ClusterProcess", "GitServerProcess"]


class ClusterProcess:
    """``sluice cluster up`` on a free loopback port, storing its data in `data`."""

    def __init__(self, data: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.data = data
        self.url = f"https://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice.cli.main", "cluster", "up", "--data-dir", str(data),
             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (self.kubeconfig.exists() and self._healthy()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("the embedded cluster did not start")
            time.sleep(0.2)  # a child process starting up: nothing to await

    def _healthy(self) -> bool:
        try:
            ctx = ssl.create_default_context(cafile=str(self.data / "pki" / "ca.crt"))
            return httpx.get(self.url + "/healthz", verify=ctx).status_code == 200
        except (httpx.HTTPError, OSError):
            return False

    @property
    def kubeconfig(self) -> Path:
        return self.data / "kubeconfig"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


_GIT_SERVER = """
import asyncio, sys
from pathlib import Path
from sluice.testing.gitserver import GitHTTPServer
async def main():
    async with GitHTTPServer(Path(sys.argv[1])) as srv:
        print(srv.url, flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


class GitServerProcess:
    """`GitHTTPServer` over the bare repositories in `root`, in a child process."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _GIT_SERVER, str(root)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
