"""Repro."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice.kube.apply import Owner, ResourceManager
from sluice.kube.config import connect
from sluice.kube.objects import Objects

OWNER = Owner("flux-system", "flux-system")


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[Objects]:
    conn = connect(kubeconfig)
    try:
        yield Objects(conn)
    finally:
        await conn.aclose()


async def test_repro(client: Objects) -> None:
    rm = ResourceManager(client, OWNER)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}
    m = await client.mapping("v1", "Namespace")
    for i in range(3):
        before = await client.get_or_none(m, "flux-system", None)
        print(i, json.dumps(before["metadata"], indent=1))
        cs = await rm.apply_all_staged([ns])
        print(cs)
    after = await client.get_or_none(m, "flux-system", None)
    print(json.dumps(after["metadata"], indent=1))
    assert False
