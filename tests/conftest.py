"""Shared fixtures: a synchronous HTTPS client for the session's embedded cluster, and kubectl."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from sluice.testing.background import BackgroundCluster

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


@pytest.fixture(scope="session")
def api(sluice_cluster: BackgroundCluster) -> Iterator[httpx.Client]:
    """An HTTPS client that trusts the cluster's CA and sends its bearer token."""
    ctx = ssl.create_default_context(cafile=str(sluice_cluster.ca_file))
    with httpx.Client(base_url=sluice_cluster.url, verify=ctx, timeout=30,
                      headers={"Authorization": f"Bearer {sluice_cluster.token}"}) as client:
        yield client


class Kubectl:
    """kubectl pointed at the session cluster; returns CompletedProcess, never raises."""

    def __init__(self, kubeconfig: str, home: str) -> None:
        self.env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": home,
                    "KUBECACHEDIR": os.path.join(home, "cache")}

    def __call__(self, *args: str, input: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        return subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def ok(self, *args: str, input: str | None = None) -> str:
        proc = self(*args, input=input)
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed:\n{proc.stderr}"
        return proc.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        assert KUBECTL is not None
        return subprocess.Popen([KUBECTL, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)


@pytest.fixture(scope="session")
def kubectl(sluice_cluster: BackgroundCluster,
            tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed on this machine")
    return Kubectl(str(sluice_cluster.kubeconfig), str(tmp_path_factory.mktemp("kubectl-home")))
