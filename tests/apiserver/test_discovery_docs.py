"""Discovery tells clients what the embedded cluster serves, in the shapes they parse.

kubectl resolves ``deploy`` and ``gitrepo`` through discovery, picks the
preferred version of a group from it, and learns there that Deployments can be
scaled; the Python client's DynamicClient and Helm read the legacy documents.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sluice.apiserver.schemas import discovery
from sluice.apiserver.schemas.resources import Catalogue, types_from_crd

KUBECTL = shutil.which("kubectl")

KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                  "application/json")


def gitrepository_crd(versions: tuple[str, ...] = ("v1", "v1beta2")) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gitrepositories.source.toolkit.fluxcd.io"},
        "spec": {
            "group": "source.toolkit.fluxcd.io",
            "scope": "Namespaced",
            "names": {"kind": "GitRepository", "listKind": "GitRepositoryList",
                      "plural": "gitrepositories", "singular": "gitrepository",
                      "shortNames": ["gitrepo"], "categories": ["fluxcd"]},
            "versions": [{"name": v, "served": True, "storage": v == "v1",
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object"}}}
                         for v in versions],
        },
    }


def catalogue_with_crd() -> Catalogue:
    cat = Catalogue.with_builtins()
    for rt in types_from_crd(gitrepository_crd()):
        cat.add(rt)
    return cat


def _resource(doc: dict[str, Any] | None, name: str) -> dict[str, Any]:
    assert doc is not None
    found = [r for r in doc["resources"] if r["name"] == name]
    assert len(found) == 1, name
    return found[0]


def test_apps_resource_list_has_deployments_with_their_subresources() -> None:
    doc = discovery.resource_list(Catalogue.with_builtins(), "apps", "v1")
    assert doc is not None
    assert (doc["kind"], doc["apiVersion"], doc["groupVersion"]) == (
        "APIResourceList", "v1", "apps/v1")
    deploy = _resource(doc, "deployments")
    assert deploy["shortNames"] == ["deploy"]
    assert deploy["categories"] == ["all"]
    assert (deploy["kind"], deploy["singularName"], deploy["namespaced"]) == (
        "Deployment", "deployment", True)
    assert set(deploy["verbs"]) == {"create", "delete", "deletecollection", "get", "list",
                                    "patch", "update", "watch"}
    assert deploy["storageVersionHash"]
    scale = _resource(doc, "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert _resource(doc, "deployments/status")["kind"] == "Deployment"
    assert not [r for r in doc["resources"] if r["name"] == "controllerrevisions/status"]


def test_core_resource_list_and_unknown_group_versions() -> None:
    cat = Catalogue.with_builtins()
    doc = discovery.resource_list(cat, "", "v1")
    assert doc is not None and doc["groupVersion"] == "v1"
    namespaces = _resource(doc, "namespaces")
    assert (namespaces["namespaced"], namespaces["shortNames"]) == (False, ["ns"])
    assert discovery.resource_list(cat, "apps", "v2") is None
    assert discovery.resource_list(cat, "example.com", "v1") is None


def test_storage_version_hash_follows_the_storage_version() -> None:
    cat = catalogue_with_crd()
    v1 = _resource(discovery.resource_list(cat, "source.toolkit.fluxcd.io", "v1"),
                   "gitrepositories")
    beta = _resource(discovery.resource_list(cat, "source.toolkit.fluxcd.io", "v1beta2"),
                     "gitrepositories")
    assert v1["storageVersionHash"] == beta["storageVersionHash"]
    deploy = _resource(discovery.resource_list(cat, "apps", "v1"), "deployments")
    assert deploy["storageVersionHash"] != v1["storageVersionHash"]


def test_group_list_prefers_the_most_stable_version() -> None:
    doc = discovery.api_groups(catalogue_with_crd())
    assert doc["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in doc["groups"]}
    assert "" not in groups
    flux = groups["source.toolkit.fluxcd.io"]
    assert [v["version"] for v in flux["versions"]] == ["v1", "v1beta2"]
    assert flux["preferredVersion"] == {"groupVersion": "source.toolkit.fluxcd.io/v1",
                                        "version": "v1"}
    assert groups["autoscaling"]["preferredVersion"]["version"] == "v2"
    # Custom groups come after the built-in ones.
    assert list(groups)[-1] == "source.toolkit.fluxcd.io"


def test_version_priority_orders_like_kubernetes() -> None:
    versions = ["v1alpha1", "foo", "v1beta1", "v2", "v1", "v1beta2", "v10", "bar"]
    assert sorted(versions, key=discovery.version_priority) == [
        "v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo"]


def test_api_versions_names_the_core_group() -> None:
    doc = discovery.api_versions("127.0.0.1:6443")
    assert doc["kind"] == "APIVersions" and doc["versions"] == ["v1"]
    assert doc["serverAddressByClientCIDRs"] == [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
    assert discovery.api_versions()["serverAddressByClientCIDRs"] == []


def test_aggregated_discovery_for_apis() -> None:
    doc = discovery.aggregated(catalogue_with_crd(), legacy=False)
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    groups = {g["metadata"]["name"]: g for g in doc["items"]}
    assert "" not in groups
    apps = groups["apps"]["versions"][0]
    assert (apps["version"], apps["freshness"]) == ("v1", "Current")
    deploy = next(r for r in apps["resources"] if r["resource"] == "deployments")
    assert deploy["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert (deploy["scope"], deploy["singularResource"], deploy["shortNames"]) == (
        "Namespaced", "deployment", ["deploy"])
    subs = {s["subresource"]: s for s in deploy["subresources"]}
    assert subs["scale"]["responseKind"]["kind"] == "Scale"
    assert subs["status"]["verbs"] == ["get", "patch", "update"]
    flux = groups["source.toolkit.fluxcd.io"]
    assert [v["version"] for v in flux["versions"]] == ["v1", "v1beta2"]
    repo = flux["versions"][0]["resources"][0]
    assert (repo["resource"], repo["categories"], repo["scope"]) == (
        "gitrepositories", ["fluxcd"], "Namespaced")


def test_aggregated_discovery_for_the_core_group() -> None:
    doc = discovery.aggregated(Catalogue.with_builtins(), legacy=True)
    assert len(doc["items"]) == 1
    core = doc["items"][0]
    assert "name" not in core["metadata"]
    resources = {r["resource"]: r for r in core["versions"][0]["resources"]}
    assert resources["namespaces"]["scope"] == "Cluster"
    assert resources["pods"]["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}


def test_negotiation_follows_the_accept_header() -> None:
    assert discovery.negotiate(KUBECTL_ACCEPT) == "aggregated"
    assert discovery.negotiate("application/json") == "legacy"
    assert discovery.negotiate("application/json, */*") == "legacy"
    assert discovery.negotiate("") == "legacy"
    assert discovery.negotiate(
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList") is None
    assert discovery.negotiate("application/vnd.kubernetes.protobuf") is None


def test_version_info() -> None:
    info = discovery.version_info()
    assert info["gitVersion"].startswith(f"v{info['major']}.{info['minor']}.")
    assert info["major"] == "1" and int(info["minor"]) >= 32
    assert "/" in info["platform"]


# ---------------------------------------------------------------------------
# kubectl as the judge.


def _discovery_app(cat: Catalogue) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        if path == "/version":
            return web.json_response(discovery.version_info())
        if path in ("/api", "/apis"):
            form = discovery.negotiate(request.headers.get("Accept", ""))
            if form == "aggregated":
                return web.json_response(discovery.aggregated(cat, legacy=path == "/api"),
                                         content_type=None, headers={
                                             "Content-Type": discovery.AGGREGATED_CONTENT_TYPE})
            return web.json_response(discovery.api_versions() if path == "/api"
                                     else discovery.api_groups(cat))
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "reason": "NotFound", "code": 404}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _kubectl(app: web.Application, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    assert KUBECTL is not None
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        config = tmp_path / "kubeconfig"
        config.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
            "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
            "users: [{name: u, user: {}}]\n")
        env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path),
               "KUBECACHEDIR": str(tmp_path / "cache")}
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        return proc.returncode or 0, out.decode(), err.decode()
    finally:
        await runner.cleanup()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
async def test_kubectl_api_resources_reads_aggregated_discovery(tmp_path: Path) -> None:
    rc, out, err = await _kubectl(_discovery_app(catalogue_with_crd()), tmp_path,
                                  "api-resources", "--no-headers")
    assert rc == 0, err
    rows = {tuple(line.split()) for line in out.splitlines()}
    assert ("deployments", "deploy", "apps/v1", "true", "Deployment") in rows
    assert ("gitrepositories", "gitrepo", "source.toolkit.fluxcd.io/v1", "true",
            "GitRepository") in rows
    assert ("namespaces", "ns", "v1", "false", "Namespace") in rows
    rc, out, err = await _kubectl(_discovery_app(catalogue_with_crd()), tmp_path,
                                  "api-resources", "--categories=fluxcd", "-o", "name")
    assert rc == 0, err
    assert out.split() == ["gitrepositories.source.toolkit.fluxcd.io"]
