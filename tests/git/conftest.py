"""Real loopback Git forges for the `sluice.git` tests (HTTP and SSH, push allowed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice.core.sshkeys import KeyPair, generate_key_pair
from sluice.git import GitAuth
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.sshgit import GitSSHServer


@pytest.fixture(scope="session")
def client_key() -> KeyPair:
    return generate_key_pair()


@pytest.fixture
async def http_server(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    async with GitHTTPServer(tmp_path / "http") as server:
        yield server


@pytest.fixture
async def ssh_server(tmp_path: Path, client_key: KeyPair) -> AsyncIterator[GitSSHServer]:
    async with GitSSHServer(tmp_path / "ssh", [client_key.public_key]) as server:
        yield server


def ssh_auth(server: GitSSHServer, key: KeyPair) -> GitAuth:
    return GitAuth.from_secret({"identity": key.private_key, "identity.pub": key.public_key,
                                "known_hosts": server.known_hosts})
