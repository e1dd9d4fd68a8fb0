"""Real loopback Git remotes for the source-controller tests.

Every test gets fresh servers rooted in its own tmp_path: an anonymous HTTP
server, one requiring basic auth, and an SSH server that trusts one ECDSA
P-384 key (the Flux default key type).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sluice.controllers.source.git import GitAuth
from sluice.core.sshkeys import KeyPair, generate_key_pair
from sluice.testing.gitserver import GitHTTPServer, GitRepo
from sluice.testing.sshgit import GitSSHServer

USERNAME = "flux"
PASSWORD = "pa55-w0rd-never-shown"


@pytest.fixture(scope="session")
def client_key() -> KeyPair:
    return generate_key_pair()


@pytest.fixture
async def http_server(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    async with GitHTTPServer(tmp_path / "http") as server:
        yield server


@pytest.fixture
async def basic_server(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    async with GitHTTPServer(tmp_path / "basic", username=USERNAME, password=PASSWORD) as server:
        yield server


@pytest.fixture
async def ssh_server(tmp_path: Path, client_key: KeyPair) -> AsyncIterator[GitSSHServer]:
    async with GitSSHServer(tmp_path / "ssh", [client_key.public_key]) as server:
        yield server


def ssh_auth(server: GitSSHServer, key: KeyPair, **extra: str | bytes) -> GitAuth:
    data: dict[str, str | bytes] = {
        "identity": key.private_key,
        "identity.pub": key.public_key,
        "known_hosts": server.known_hosts,
    }
    data.update(extra)
    return GitAuth.from_secret(data)


@dataclass
class History:
    """A small repository exercising every kind of ref."""

    repo: GitRepo
    first: str  # tagged v1.0.0 (lightweight)
    second: str  # tagged v1.1.0 (annotated) and v2.0.0-rc.1
    tip: str  # main head
    dev: str  # head of branch dev


def make_history(repo: GitRepo) -> History:
    first = repo.commit({"app/deploy.yaml": "replicas: 1\n", "README.md": "hello\n"}, "first")
    repo.tag("v1.0.0")
    second = repo.commit({"app/deploy.yaml": "replicas: 2\n"}, "second")
    repo.tag("v1.1.0", message="release 1.1.0")
    repo.tag("v2.0.0-rc.1")
    repo.tag("not-a-version")
    repo.tag("v9.9")  # not a strict semver tag: ignored by ranges
    tip = repo.commit({"app/deploy.yaml": "replicas: 3\n", "app/extra.yaml": "x: 1\n"}, "third")
    repo.branch("dev", tip)
    dev = repo.commit({"dev.txt": "wip\n"}, "dev work", branch="dev")
    return History(repo, first, second, tip, dev)
