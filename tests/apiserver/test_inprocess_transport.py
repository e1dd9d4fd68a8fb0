"""The in-process transport ``sluice up`` gives its controllers answers like HTTPS does.

One embedded cluster on the test's loop, two clients from its kubeconfig: one
over HTTPS, one through `InProcessTransport`. The same requests must get the
same codes and bodies (token checked, errors as Status, writes visible to
the other client), and a watch must stream events and stop server-side when
the client closes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from sluice.apiserver.server import EmbeddedCluster
from sluice.kube.config import Connection, connect
from sluice.testing.polling import async_wait_for

CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedCluster, Connection, Connection]]:
    async with EmbeddedCluster(tmp_path / "c", install_flux_crds=False) as cluster:
        https = connect(cluster.kubeconfig)
        inproc = connect(cluster.kubeconfig, transport=cluster.in_process_transport())
        try:
            yield cluster, https, inproc
        finally:
            await https.aclose()
            await inproc.aclose()


async def test_same_answers_as_https(
        clients: tuple[EmbeddedCluster, Connection, Connection]) -> None:
    _, https, inproc = clients
    body = {"metadata": {"name": "cfg", "labels": {"a": "1"}}, "data": {"k": "v"}}
    created = await inproc.http.post(CM, json=body, params={"fieldManager": "t"})
    assert created.status_code == 201, created.text
    # Written through one client, read through the other, byte for byte.
    over_https = await https.http.get(CM + "/cfg")
    direct = await inproc.http.get(CM + "/cfg")
    assert direct.status_code == over_https.status_code == 200
    assert direct.json() == over_https.json()
    assert direct.headers["content-type"] == over_https.headers["content-type"]
    # Errors are the API's Status objects, with their codes.
    for client in (https, inproc):
        missing = await client.http.get(CM + "/nope")
        assert missing.status_code == 404
        assert missing.json()["reason"] == "NotFound"
        again = await client.http.post(CM, json=body)
        assert again.status_code == 409
    # A server-side apply patch with a query string and a content type.
    applied = await inproc.http.patch(
        CM + "/cfg", params={"fieldManager": "t", "force": "true"},
        content=json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "cfg"}, "data": {"k": "w"}}),
        headers={"Content-Type": "application/apply-patch+yaml"})
    assert applied.status_code == 200, applied.text
    assert (await https.http.get(CM + "/cfg")).json()["data"] == {"k": "w"}


async def test_the_token_is_still_checked(
        clients: tuple[EmbeddedCluster, Connection, Connection]) -> None:
    cluster, _, _ = clients
    anonymous = httpx2.AsyncClient(base_url=cluster.url, transport=cluster.in_process_transport())
    async with anonymous:
        r = await anonymous.get(CM)
    assert r.status_code == 401
    assert r.json()["reason"] == "Unauthorized"


async def test_watch_streams_and_closing_it_ends_the_handler(
        clients: tuple[EmbeddedCluster, Connection, Connection]) -> None:
    cluster, https, inproc = clients
    assert cluster.cluster is not None
    events = cluster.cluster.events
    before = events.watcher_count
    seen: list[tuple[str, str]] = []
    async with inproc.http.stream("GET", CM, params={"watch": "1", "resourceVersion": "0"},
                                  timeout=10) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        await https.http.post(CM, json={"metadata": {"name": "w1"}})
        while not seen or seen[-1][1] != "w1":
            ev = json.loads(await asyncio.wait_for(anext(lines), 10))
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        assert ("ADDED", "w1") in seen
        assert events.watcher_count == before + 1
    # Closing the stream cancels the handler, which unsubscribes its watcher.
    async def ended() -> bool:
        return events.watcher_count == before

    await async_wait_for(ended, timeout=10, what="the watch handler to end")
