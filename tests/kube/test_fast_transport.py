"""The aiohttp-backed transport long-running processes use behaves like httpx's own.

Against the session's embedded cluster over HTTPS: the same answers as the
default transport (bodies, codes, headers, the token sent), streamed watches
that can be closed early, the pool reused afterwards, and failures surfacing
as the httpx errors callers catch, with the real cause chained (a refused
connection, an untrusted certificate, a read deadline).
"""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import httpx2
import pytest
import yaml

from sluice.kube.config import connect
from sluice.kube.transport import AiohttpTransport
from sluice.testing.background import BackgroundCluster


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(out) < 10:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


async def test_same_answers_and_watches(kubeconfig: Path, namespace: str) -> None:
    fast, plain = connect(kubeconfig, fast_http=True), connect(kubeconfig)
    assert isinstance(fast.http._transport, AiohttpTransport)
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    try:
        created = await fast.http.post(url, json={"metadata": {"name": "a"}, "data": {"k": "v"}})
        assert created.status_code == 201, created.text
        one, other = await fast.http.get(url + "/a"), await plain.http.get(url + "/a")
        assert one.status_code == other.status_code == 200
        assert one.json() == other.json()
        assert one.headers["content-type"] == other.headers["content-type"]
        for conn in (fast, plain):
            r = await conn.http.post(url, json={"metadata": {"name": "a"}})
            assert r.status_code == 409 and r.json()["reason"] == "AlreadyExists"
        # A watch streams; closing it early leaves the pool usable.
        async with fast.http.stream("GET", url, params={"watch": "1", "resourceVersion": "0"},
                                    timeout=10) as stream:
            first = json.loads(await anext(stream.aiter_lines()))
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
        deleted = await fast.http.delete(url + "/a")
        assert deleted.status_code == 200, deleted.text
        assert (await fast.http.get(url + "/a")).status_code == 404
    finally:
        await fast.aclose()
        await plain.aclose()


async def test_a_watch_deadline_is_a_read_timeout(kubeconfig: Path, namespace: str) -> None:
    fast = connect(kubeconfig, fast_http=True)
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    try:
        with pytest.raises(httpx2.ReadTimeout):
            async with fast.http.stream(
                    "GET", url, params={"watch": "1", "resourceVersion": "0"},
                    timeout=httpx2.Timeout(10, read=0.3)) as stream:
                async for _ in stream.aiter_lines():
                    pass
    finally:
        await fast.aclose()


async def test_refused_and_untrusted_are_connect_errors(
        sluice_cluster: BackgroundCluster, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = httpx2.AsyncClient(base_url=f"https://127.0.0.1:{port}",
                                 transport=AiohttpTransport(ssl.create_default_context()))
    async with refused:
        with pytest.raises(httpx2.ConnectError) as err:
            await refused.get("/version")
    assert any(isinstance(e, ConnectionRefusedError) for e in _chain(err.value))

    # The cluster's kubeconfig, but trusting another CA: the certificate is refused.
    config = yaml.safe_load(sluice_cluster.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"].pop("certificate-authority-data", None)
        cluster["cluster"]["certificate-authority"] = ssl.get_default_verify_paths().cafile or \
            "/etc/ssl/certs/ca-certificates.crt"
    other = tmp_path / "kubeconfig"
    other.write_text(yaml.safe_dump(config))
    untrusted = connect(other, fast_http=True)
    try:
        with pytest.raises(httpx2.ConnectError) as err:
            await untrusted.http.get("/version")
    finally:
        await untrusted.aclose()
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in _chain(err.value))
