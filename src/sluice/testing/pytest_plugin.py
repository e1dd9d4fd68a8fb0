"""pytest fixtures for testing against Sluice's embedded cluster.

Installed as a pytest plugin with the package, so Sluice's own tests and its
users' tests get the same fixtures:

- ``sluice_cluster``: one embedded cluster for the session, over HTTPS with a
  token, served from a background thread (:class:`BackgroundCluster`).
- ``kubeconfig``: the path of its kubeconfig.
- ``namespace``: a fresh namespace for one test, deleted afterwards, so tests
  sharing the session cluster never see each other's objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest.registry import Cluster, DeleteOptions, WriteOptions
from sluice.testing.background import BackgroundCluster


@pytest.fixture(scope="session")
def sluice_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundCluster]:
    data = tmp_path_factory.mktemp("sluice-cluster")
    with BackgroundCluster(data, pod_ready_delay=0.2, bookmark_interval=1.0) as bg:
        yield bg


@pytest.fixture(scope="session")
def kubeconfig(sluice_cluster: BackgroundCluster) -> Path:
    return sluice_cluster.kubeconfig


@pytest.fixture
def namespace(sluice_cluster: BackgroundCluster) -> Iterator[str]:
    name = "t-" + uuid.uuid4().hex[:10]

    def create(c: Cluster) -> None:
        rt = c.resource("", "v1", "namespaces")
        c.create(rt, "", {"metadata": {"name": name}}, WriteOptions(manager="pytest"))

    sluice_cluster.call(create)
    yield name

    def delete(c: Cluster) -> None:
        rt = c.resource("", "v1", "namespaces")
        try:
            c.delete(rt, "", name, DeleteOptions())
        except ApiError:
            pass  # already gone: nothing to clean up

    sluice_cluster.call(delete)
