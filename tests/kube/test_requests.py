"""The one-parse request builder sends what httpx's own ``build_request`` would.

`sluice.kube.requests.build` replaces ``AsyncClient.request``'s URL merging
for every object call; a difference there (a lost path prefix, a query
encoded differently, a header or the timeout dropped) would reach a real API
server as a wrong request, so each is compared with httpx's own result, and
one real call goes through the session's cluster with its token.
"""

from __future__ import annotations

from pathlib import Path

import httpx2

from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.kube.requests import build


async def test_same_request_as_httpx_builds() -> None:
    cases = [
        ("https://10.0.0.1:6443", "/api/v1/namespaces/a b/configmaps/x", None),
        # A proxy's path prefix (Rancher, kubectl proxy behind a path) is kept.
        ("https://rancher.example/k8s/clusters/c-1/", "/apis/apps/v1/deployments",
         {"labelSelector": "kustomize.toolkit.fluxcd.io/name in (a,b),!x",
          "fieldManager": "kustomize-controller", "dryRun": "All", "force": "true"}),
        ("http://127.0.0.1:8001", "/api/v1/pods", {"watch": "true", "limit": "500",
                                                   "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ=="}),
    ]
    for base, path, params in cases:
        async with httpx2.AsyncClient(base_url=base, headers={"Authorization": "Bearer t",
                                                              "Impersonate-User": "u"},
                                      timeout=httpx2.Timeout(7.0)) as http:
            extra = {"Accept": "application/json", "Content-Type": "application/json"}
            ours = build(http, "PATCH", path, params=params, content=b"{}", headers=extra)
            theirs = http.build_request("PATCH", path, params=params, content=b"{}",
                                        headers=extra)
            assert ours.url == theirs.url, (ours.url, theirs.url)
            assert ours.method == theirs.method == "PATCH"
            assert ours.headers.multi_items() == theirs.headers.multi_items()
            assert ours.extensions["timeout"] == theirs.extensions["timeout"]
            assert ours.content == theirs.content == b"{}"


async def test_calls_reach_the_cluster_with_credentials(kubeconfig: Path, namespace: str
                                                        ) -> None:
    conn = connect(kubeconfig)
    try:
        objects = Objects(conn)
        cm = await objects.mapping("v1", "ConfigMap")
        await objects.create(cm, {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "built", "labels": {"app": "x"}}, "data": {"k": "v"}},
                             namespace, field_manager="test")
        items, _ = await objects.list(cm, namespace, label_selector="app in (x,y),!missing")
        assert [i["metadata"]["name"] for i in items] == ["built"]
        # Without the token the same path is refused: credentials went with the call.
        async with httpx2.AsyncClient(base_url=conn.http.base_url, verify=False) as anonymous:
            assert (await anonymous.get(f"/api/v1/namespaces/{namespace}/configmaps")
                    ).status_code == 401
    finally:
        await conn.aclose()
