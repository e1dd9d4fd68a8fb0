"""The ``sluice.kube`` client against the session's embedded cluster, as a reconciler holds it.

`client` is an ``Objects`` over a fresh connection; `manager` applies for the
Kustomization named by `owner` (``apps`` in ``flux-system`` unless a test
module overrides that fixture), labelling what it applies as Flux does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice.kube.apply import Owner, ResourceManager
from sluice.kube.config import connect
from sluice.kube.objects import Objects


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[Objects]:
    conn = connect(kubeconfig)
    try:
        yield Objects(conn)
    finally:
        await conn.aclose()


@pytest.fixture
def owner() -> Owner:
    return Owner("apps", "flux-system")


@pytest.fixture
def manager(client: Objects, owner: Owner) -> ResourceManager:
    return ResourceManager(client, owner)
