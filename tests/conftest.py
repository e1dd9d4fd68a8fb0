"""Shared fixtures: a synchronous HTTPS client for the session's embedded cluster, kubectl,
and the seed walkthrough's YAML (kept once, under ``tests/data``)."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

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


DATA = Path(__file__).parent / "data"


class SeedManifests:
    """The seed walkthrough's agnhost manifests (``tests/data``), filled in for one test.

    The same files serve kubectl by hand, the CLI walkthrough and the
    controllers' replay, so the three test what a user of the seed applies.
    """

    def _read(self, name: str) -> str:
        return (DATA / name).read_text(encoding="utf-8")

    def deployment(self, namespace: str, tag: str = "2.39") -> str:
        """The agnhost Deployment, image ``agnhost:<tag>``."""
        return self._read("agnhost.deployment.yaml").format(ns=namespace, tag=tag)

    def service(self, namespace: str) -> str:
        """The agnhost Service (port 8080), a document starting with ``---``."""
        return self._read("agnhost.service.yaml").format(ns=namespace)

    def app(self, namespace: str, tag: str = "2.39") -> str:
        """Deployment and Service in one stream, as ``kubectl apply -f agnhost/`` sends them."""
        return self.deployment(namespace, tag) + self.service(namespace)

    def apps_source(self, namespace: str, url: str) -> str:
        """The ``k8s-kind-apps`` GitRepository, with its deploy-key Secret reference."""
        return self._read("k8s-kind-apps.gitrepository.yaml").format(ns=namespace, url=url)


@pytest.fixture(scope="session")
def seed() -> SeedManifests:
    return SeedManifests()
