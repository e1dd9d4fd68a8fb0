"""Fixtures for runtime tests: a real connection to the session's embedded cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice.kube.config import Connection, connect
from sluice.kube.objects import Objects


@pytest.fixture
async def conn(kubeconfig: Path) -> AsyncIterator[Connection]:
    connection = connect(kubeconfig, field_manager="pytest")
    yield connection
    await connection.aclose()


@pytest.fixture
def objects(conn: Connection) -> Objects:
    return Objects(conn)
