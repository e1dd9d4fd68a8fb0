"""The data directory of ``sluice cluster up``: private at rest, and one server at a time.

Reproduces issue 15's findings 2 and 3 with the real command: a Secret's
password was readable by any local user from ``cluster.db-wal``, and a second
server on the same directory started, handed out resourceVersions the first
had used and lost acknowledged writes.
"""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from sluice.controllers.source.artifacts import Storage as ArtifactStorage
from sluice.testing.polling import wait_for


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cluster_up(data_dir: Path) -> subprocess.Popen[str]:
    # A permissive umask, as on most desktops: the modes must not depend on it.
    return subprocess.Popen(
        [sys.executable, "-m", "sluice.cli.main", "cluster", "up", "--data-dir", str(data_dir),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: os.umask(0o022))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    data_dir = tmp_path / "state"
    proc = _cluster_up(data_dir)
    try:
        wait_for(lambda: (data_dir / "kubeconfig").exists() or proc.poll() is not None,
                 timeout=60, what="the kubeconfig of cluster up")
        assert proc.poll() is None, proc.communicate()
        yield proc, data_dir
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def _client(data_dir: Path) -> httpx.Client:
    config = yaml.safe_load((data_dir / "kubeconfig").read_text())
    ctx = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
    return httpx.Client(base_url=config["clusters"][0]["cluster"]["server"], verify=ctx,
                        timeout=30, headers={"Authorization": "Bearer " +
                                             config["users"][0]["user"]["token"]})


def test_secrets_at_rest_are_owner_only(running: tuple[subprocess.Popen[str], Path]) -> None:
    _, data_dir = running
    with _client(data_dir) as api:
        r = api.post("/api/v1/namespaces/default/secrets", json={
            "metadata": {"name": "git-auth"}, "stringData": {"password": "hunter2"}})
        assert r.status_code == 201, r.text
    wal = data_dir / "cluster.db-wal"
    assert b"aHVudGVyMg==" in wal.read_bytes()  # the password is in the WAL (base64)...
    modes = {p.relative_to(data_dir).as_posix(): _mode(p)
             for p in [data_dir, *data_dir.rglob("*")]}
    # ... and only the owner can read it, nor anything else of the cluster.
    assert modes.pop(".") == 0o700
    assert modes.pop("pki") == 0o700
    for name in ("cluster.db", "cluster.db-wal", "cluster.db-shm", "token", "kubeconfig",
                 "pki/ca.key", "pki/apiserver.key", "lock"):
        assert modes.pop(name) == 0o600, name
    # Certificates and the log hold no secret; the directories above keep others out anyway.
    assert set(modes) <= {"pki/ca.crt", "pki/apiserver.crt", "controllers.log"}, modes


def test_second_server_on_one_data_dir_refuses_at_once(
        running: tuple[subprocess.Popen[str], Path]) -> None:
    first, data_dir = running
    started = time.monotonic()
    second = _cluster_up(data_dir)
    try:
        out, err = second.communicate(timeout=30)
    finally:
        second.kill()
    assert second.returncode == 1, (out, err)
    assert time.monotonic() - started < 15
    lines = err.strip().splitlines()
    assert lines == [f"✗ data directory {data_dir} is in use by another sluice server "
                     f"(pid {first.pid}); stop it or choose another --data-dir"], err
    # The first server still serves, and its writes are the only ones.
    with _client(data_dir) as api:
        assert api.get("/api/v1/namespaces/default").status_code == 200


def test_artifacts_are_owner_only(tmp_path: Path) -> None:
    store = ArtifactStorage(tmp_path / "artifacts", "127.0.0.1:0")
    store.write_atomic("gitrepository/ns/app/index.yaml", b"x")
    assert _mode(store.local_path("gitrepository/ns/app/index.yaml")) == 0o600
