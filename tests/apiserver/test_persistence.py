"""The embedded cluster keeps every acknowledged write across restarts, even a kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sluice.testing.background import BackgroundCluster
from sluice.testing.polling import wait_for


def _client(data: Path, url: str) -> httpx.Client:
    token = (data / "token").read_text().strip()
    ctx = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))
    return httpx.Client(base_url=url, verify=ctx, timeout=10,
                        headers={"Authorization": f"Bearer {token}"})


def test_restart_resumes_objects_and_old_watches_get_gone(tmp_path: Path) -> None:
    with BackgroundCluster(tmp_path, install_flux_crds=False) as bg, \
            _client(tmp_path, bg.url) as c:
        r = c.post("/api/v1/namespaces/default/configmaps",
                   json={"metadata": {"name": "kept"}, "data": {"a": "1"}})
        assert r.status_code == 201
        rv = int(r.json()["metadata"]["resourceVersion"])
    with BackgroundCluster(tmp_path, install_flux_crds=False) as bg, \
            _client(tmp_path, bg.url) as c:
        got = c.get("/api/v1/namespaces/default/configmaps/kept").json()
        assert got["data"] == {"a": "1"}
        r = c.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "next"}})
        assert int(r.json()["metadata"]["resourceVersion"]) > rv
        # History from before the restart is gone: clients must list again.
        r = c.get("/api/v1/namespaces/default/configmaps",
                  params={"watch": "true", "resourceVersion": "1"})
        assert r.status_code == 410
        assert r.json()["reason"] == "Expired"


def _row_rv(db: Path, name: str) -> int | None:
    """The revision the database file holds for a default/ConfigMap, read by a second reader."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT rv FROM objects WHERE res='configmaps' AND ns='default' "
                           "AND name=?", (name,)).fetchone()
    return int(row[0]) if row else None


def test_what_a_client_sees_is_already_in_the_database(tmp_path: Path) -> None:
    # Rows are committed by a writer thread in groups; the answer to a write and each
    # watch event wait for their revision's commit, so neither is ahead of the disk.
    db = tmp_path / "cluster.db"
    with BackgroundCluster(tmp_path, install_flux_crds=False) as bg, \
            _client(tmp_path, bg.url) as c, _client(tmp_path, bg.url) as w:
        start = c.get("/api/v1/namespaces/default/configmaps").json()["metadata"][
            "resourceVersion"]
        with w.stream("GET", "/api/v1/namespaces/default/configmaps",
                      params={"watch": "true", "resourceVersion": start}) as stream:
            lines = stream.iter_lines()
            for i in range(30):
                r = c.post("/api/v1/namespaces/default/configmaps",
                           json={"metadata": {"name": f"w{i}"}, "data": {"i": str(i)}})
                assert r.status_code == 201
                assert _row_rv(db, f"w{i}") == int(r.json()["metadata"]["resourceVersion"])
                event = json.loads(next(line for line in lines if line))
                assert event["object"]["metadata"]["name"] == f"w{i}"
                seen = int(event["object"]["metadata"]["resourceVersion"])
                assert (_row_rv(db, f"w{i}") or 0) >= seen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sluice.cli.main", "cluster", "up", "--data-dir", str(data),
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    port = _free_port()
    url = f"https://127.0.0.1:{port}"
    proc = _start(tmp_path, port)
    try:
        wait_for(lambda: (tmp_path / "kubeconfig").exists() and _up(tmp_path, url), 90,
                 what="cluster up")
        acked = []
        with _client(tmp_path, url) as c:
            for i in range(50):
                r = c.post("/api/v1/namespaces/default/configmaps",
                           json={"metadata": {"name": f"k{i}"}})
                assert r.status_code == 201
                acked.append(f"k{i}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = _start(tmp_path, port)
    try:
        wait_for(lambda: _up(tmp_path, url), 90, what="cluster up again")
        with _client(tmp_path, url) as c:
            names = {i["metadata"]["name"] for i in
                     c.get("/api/v1/namespaces/default/configmaps").json()["items"]}
        assert set(acked) <= names
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _up(data: Path, url: str) -> bool:
    try:
        with _client(data, url) as c:
            return c.get("/version").status_code == 200
    except (httpx.HTTPError, OSError):
        time.sleep(0)  # yield; wait_for paces the retries
        return False


def test_the_revision_resumes_past_the_last_write_and_the_last_deletion(tmp_path: Path) -> None:
    # Rows carry their revision; a deletion's is kept apart. Either may be the last.
    from sluice.apiserver.store.storage import Storage

    key = ("", "configmaps")
    db = tmp_path / "cluster.db"
    store = Storage(db)
    for name in ("a", "b", "c"):
        store.put(key, {"metadata": {"name": name, "namespace": "ns"}})
    store.delete(key, "ns", "c")
    store.close()
    store = Storage(db)
    assert store.revision == 4
    assert [o["metadata"]["resourceVersion"] for o in store.list(key)] == ["1", "2"]
    store.put(key, {"metadata": {"name": "a", "namespace": "ns"}})
    store.close()
    store = Storage(db)
    assert store.revision == 5
    assert store.get(key, "ns", "a")["metadata"]["resourceVersion"] == "5"  # type: ignore[index]
    store.close()
