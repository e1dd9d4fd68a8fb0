"""The OpenAPI documents let kubectl validate on the server, build patches and explain fields.

kubectl reads ``/openapi/v3`` to decide whether the server validates fields
(it then sends ``fieldValidation=Strict`` instead of validating itself), to
find the merge keys of a strategic merge patch in client-side ``apply``, and to
``explain`` fields of built-in and custom kinds. It falls back to the protobuf
``/openapi/v2`` document when validating a ``kind: List`` file.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sluice.apiserver.schemas import discovery, openapi, openapi_proto
from sluice.apiserver.schemas.builtin_schemas import OBJECT_META, REF_PREFIX
from sluice.apiserver.schemas.resources import Catalogue, ResourceType, types_from_crd

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

FLUX = "source.toolkit.fluxcd.io"

GITREPO_SCHEMA: dict[str, Any] = {
    "description": "GitRepository is the Schema for the gitrepositories API.",
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "description": "GitRepositorySpec specifies how to fetch a Git repository.",
            "type": "object",
            "required": ["url", "interval"],
            "properties": {
                "url": {"description": "URL specifies the Git repository URL.",
                        "type": "string", "pattern": "^(http|https|ssh)://.*$"},
                "interval": {"description": "Interval at which to check the URL.",
                             "type": "string"},
                "ref": {"description": "Reference specifies the Git reference to check out.",
                        "type": "object",
                        "properties": {"branch": {"type": "string"}}},
                "ignore": {"x-kubernetes-int-or-string": True,
                           "anyOf": [{"type": "integer"}, {"type": "string"}]},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def _crd(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": f"gitrepositories.{FLUX}"},
        "spec": {
            "group": FLUX, "scope": "Namespaced",
            "names": {"kind": "GitRepository", "plural": "gitrepositories",
                      "singular": "gitrepository", "shortNames": ["gitrepo"]},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": schema}}],
        },
    }


class Cluster:
    """A catalogue with the GitRepository CRD, and its schemas as the registry would give them."""

    def __init__(self, schema: dict[str, Any] = GITREPO_SCHEMA) -> None:
        self.cat = Catalogue.with_builtins()
        self.schema = schema
        self.register(schema)

    def register(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        for rt in types_from_crd(_crd(schema)):
            self.cat.add(rt)

    def crd_schemas(self, rt: ResourceType) -> dict[str, Any] | None:
        assert rt.is_custom, "only custom types are asked for"
        return self.schema

    def v3(self, group: str, version: str) -> dict[str, Any]:
        doc = openapi.v3_group_version(self.cat, group, version, self.crd_schemas)
        assert doc is not None
        return doc


def _walk(node: Any) -> list[Any]:
    out = [node]
    if isinstance(node, dict):
        for value in node.values():
            out += _walk(value)
    elif isinstance(node, list):
        for value in node:
            out += _walk(value)
    return out


def _refs(doc: Any) -> set[str]:
    return {n["$ref"] for n in _walk(doc) if isinstance(n, dict) and isinstance(n.get("$ref"), str)}


def test_v3_root_lists_every_group_version_with_a_content_hash() -> None:
    c = Cluster()
    paths = openapi.v3_root(c.cat, c.crd_schemas)["paths"]
    for key in ("api/v1", "apis/apps/v1", "apis/batch/v1", f"apis/{FLUX}/v1"):
        assert paths[key]["serverRelativeURL"].startswith(f"/openapi/v3/{key}?hash="), key
    apps_hash = paths["apis/apps/v1"]["serverRelativeURL"].split("hash=")[1]
    assert apps_hash == openapi.document_hash(c.v3("apps", "v1"))


def test_v3_root_hash_moves_when_a_crd_schema_changes() -> None:
    c = Cluster()
    before = openapi.v3_root(c.cat, c.crd_schemas)["paths"]
    changed = json.loads(json.dumps(GITREPO_SCHEMA))
    changed["properties"]["spec"]["properties"]["suspend"] = {"type": "boolean"}
    c.register(changed)
    after = openapi.v3_root(c.cat, c.crd_schemas)["paths"]
    assert after[f"apis/{FLUX}/v1"] != before[f"apis/{FLUX}/v1"]
    assert after["apis/apps/v1"] == before["apis/apps/v1"]
    assert "suspend" in c.v3(FLUX, "v1")["components"]["schemas"][
        "io.fluxcd.toolkit.source.v1.GitRepository"]["properties"]["spec"]["properties"]


def test_builtin_patch_declares_field_validation_and_strategic_merge() -> None:
    doc = Cluster().v3("apps", "v1")
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps", "kind": "Deployment", "version": "v1"}
    assert patch["x-kubernetes-action"] == "patch"
    names = {p["name"] for p in patch["parameters"]}
    assert {"fieldValidation", "fieldManager", "dryRun", "force"} <= names
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert "application/apply-patch+yaml" in patch["requestBody"]["content"]
    assert "fieldValidation" in {p["name"] for p in item["put"]["parameters"]}
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}
    collection = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert "fieldValidation" in {p["name"] for p in collection["post"]["parameters"]}
    assert collection["get"]["x-kubernetes-action"] == "list"
    assert "/apis/apps/v1/deployments" in doc["paths"]


def test_status_and_scale_subresources_have_operations() -> None:
    doc = Cluster().v3("apps", "v1")
    base = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    status = doc["paths"][base + "/status"]["patch"]
    assert status["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    scale = doc["paths"][base + "/scale"]["get"]
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert "io.k8s.api.autoscaling.v1.Scale" in doc["components"]["schemas"]
    assert base + "/status" not in Cluster().v3("", "v1")["paths"]  # configmaps have none
    core = Cluster().v3("", "v1")["paths"]
    assert "/api/v1/namespaces/{name}/status" in core
    assert "/api/v1/namespaces/{namespace}/configmaps/{name}/status" not in core


def test_builtin_components_carry_one_kind_and_patch_metadata() -> None:
    schemas = Cluster().v3("apps", "v1")["components"]["schemas"]
    deploy = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deploy["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    env = schemas["io.k8s.api.core.v1.Container"]["properties"]["env"]
    assert env["x-kubernetes-patch-merge-key"] == "name"
    assert OBJECT_META in schemas
    # Every reference resolves inside the document itself.
    assert {r.removeprefix(REF_PREFIX) for r in _refs(schemas)} <= set(schemas)


def test_custom_kind_components_and_merge_patch_only() -> None:
    doc = Cluster().v3(FLUX, "v1")
    schemas = doc["components"]["schemas"]
    repo = schemas["io.fluxcd.toolkit.source.v1.GitRepository"]
    assert repo["x-kubernetes-group-version-kind"] == [
        {"group": FLUX, "kind": "GitRepository", "version": "v1"}]
    assert repo["properties"]["metadata"]["allOf"] == [{"$ref": REF_PREFIX + OBJECT_META}]
    assert repo["properties"]["spec"]["required"] == ["url", "interval"]
    assert repo["properties"]["kind"]["description"]
    listing = schemas["io.fluxcd.toolkit.source.v1.GitRepositoryList"]
    assert listing["properties"]["items"]["items"] == {
        "$ref": REF_PREFIX + "io.fluxcd.toolkit.source.v1.GitRepository"}
    assert {r.removeprefix(REF_PREFIX) for r in _refs(schemas)} <= set(schemas)
    patch = doc["paths"][f"/apis/{FLUX}/v1/namespaces/{{namespace}}/gitrepositories/{{name}}"][
        "patch"]
    # Like a real cluster: kubectl sends JSON merge patches to custom resources.
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    # The CRD's own schema is left untouched.
    assert GITREPO_SCHEMA["properties"]["metadata"] == {"type": "object"}


def test_unknown_group_version_has_no_document() -> None:
    c = Cluster()
    assert openapi.v3_group_version(c.cat, "apps", "v2", c.crd_schemas) is None
    assert openapi.v3_group_version(c.cat, "example.com", "v1", c.crd_schemas) is None


def test_documents_are_cached_until_the_catalogue_changes() -> None:
    c = Cluster()
    first = c.v3("apps", "v1")
    assert c.v3("apps", "v1") is first
    assert openapi.v2_document(c.cat) is openapi.v2_document(c.cat)
    c.register(GITREPO_SCHEMA)
    assert c.v3("apps", "v1") is not first
    other = Cluster()
    assert other.v3("apps", "v1") is not c.v3("apps", "v1")


def test_v2_document_is_swagger_2() -> None:
    c = Cluster()
    doc = openapi.v2_document(c.cat, c.crd_schemas)
    assert doc["swagger"] == "2.0"
    defs = doc["definitions"]
    refs = _refs(doc)
    assert all(r.startswith("#/definitions/") for r in refs)
    assert {r.removeprefix("#/definitions/") for r in refs} <= set(defs)
    assert not [n for n in _walk(defs) if isinstance(n, dict) and ("oneOf" in n or "anyOf" in n)]
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "description": defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["description"],
        "type": "string", "format": "int-or-string"}
    template = defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"]
    assert template["$ref"] == "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"
    assert "io.fluxcd.toolkit.source.v1.GitRepository" in defs
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert patch["parameters"][0]["in"] == "body"
    assert {"fieldValidation", "force"} <= {p["name"] for p in patch["parameters"]}


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """Top-level protobuf fields as (number, wire type, value); enough to check structure."""
    out: list[tuple[int, int, Any]] = []
    i = 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while i < len(data):
        key = varint()
        wire = key & 7
        if wire == 0:
            out.append((key >> 3, wire, varint()))
        elif wire == 2:
            size = varint()
            out.append((key >> 3, wire, data[i:i + size]))
            i += size
        else:
            assert wire == 1
            out.append((key >> 3, wire, data[i:i + 8]))
            i += 8
    return out


def test_v2_protobuf_is_a_gnostic_document() -> None:
    c = Cluster()
    fields = _fields(openapi.v2_protobuf(c.cat, c.crd_schemas))
    assert fields[0] == (1, 2, b"2.0")
    numbers = [f[0] for f in fields]
    assert {2, 8, 9} <= set(numbers)
    definitions = _fields(next(v for n, _, v in fields if n == 9))
    names = {_fields(v)[0][2].decode() for _, _, v in definitions}
    assert "io.k8s.api.apps.v1.Deployment" in names
    assert len(definitions) == len(openapi.v2_document(c.cat, c.crd_schemas)["definitions"])
    assert openapi_proto.wants_protobuf(
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    assert not openapi_proto.wants_protobuf("application/json, */*")


# ---------------------------------------------------------------------------
# kubectl as the judge, against an app that serves only these documents.


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{
                "name": "web", "image": "nginx:1",
                "env": [{"name": "A", "value": "1"}],
                "resources": {"limits": {"cpu": 0.5, "memory": "1Gi"}},
            }]},
        },
    },
}


class DocServer:
    """Discovery and OpenAPI from this project, plus a canned object store; records requests."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.objects: dict[str, Any] = {}
        self.requests: list[tuple[str, str, str, str]] = []  # method, path?query, type, body
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        self.requests.append((request.method, request.path_qs, request.content_type, body))
        cat, path = self.cluster.cat, request.path.rstrip("/")
        accept = request.headers.get("Accept", "")
        if path == "/version":
            return web.json_response(discovery.version_info())
        if path in ("/api", "/apis"):
            if discovery.negotiate(accept) == "aggregated":
                return web.json_response(discovery.aggregated(cat, legacy=path == "/api"),
                                         content_type=None, headers={
                                             "Content-Type": discovery.AGGREGATED_CONTENT_TYPE})
            return web.json_response(discovery.api_versions() if path == "/api"
                                     else discovery.api_groups(cat))
        if path == "/openapi/v2":
            if openapi_proto.wants_protobuf(accept):
                return web.Response(body=openapi.v2_protobuf(cat, self.cluster.crd_schemas),
                                    headers={"Content-Type": openapi_proto.CONTENT_TYPE})
            return web.json_response(openapi.v2_document(cat, self.cluster.crd_schemas))
        if path == "/openapi/v3":
            return web.json_response(openapi.v3_root(cat, self.cluster.crd_schemas))
        if path.startswith("/openapi/v3/"):
            parts = path.split("/")[3:]
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            doc = openapi.v3_group_version(cat, group, version, self.cluster.crd_schemas)
            if doc is not None:
                return web.json_response(doc)
        elif request.method == "GET" and path in self.objects:
            return web.json_response(self.objects[path])
        elif request.method == "POST":
            obj = json.loads(body)
            self.objects[f"{path}/{obj['metadata']['name']}"] = obj
            return web.json_response(obj, status=201)
        elif request.method == "PATCH":
            return web.json_response(self.objects.get(path) or json.loads(body))
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "reason": "NotFound", "code": 404}, status=404)

    def paths(self, method: str) -> list[str]:
        return [p for m, p, _, _ in self.requests if m == method]

    async def kubectl(self, tmp_path: Path, *args: str,
                      stdin: str | None = None) -> tuple[int, str, str]:
        assert KUBECTL is not None
        runner = web.AppRunner(self.app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            config = tmp_path / "kubeconfig"
            config.write_text(
                "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                f"clusters: [{{name: c, cluster: {{server: "
                f"'http://127.0.0.1:{runner.addresses[0][1]}'}}}}]\n"
                "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
                "users: [{name: u, user: {}}]\n")
            env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path),
                   "KUBECACHEDIR": str(tmp_path / "cache")}
            proc = await asyncio.create_subprocess_exec(
                KUBECTL, *args, env=env, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin else None), 90)
            return proc.returncode or 0, out.decode(), err.decode()
        finally:
            await runner.cleanup()


@needs_kubectl
async def test_kubectl_explains_builtin_fields(tmp_path: Path) -> None:
    rc, out, err = await DocServer(Cluster()).kubectl(tmp_path, "explain", "deployment.spec")
    assert rc == 0, err
    assert "FIELD: spec <DeploymentSpec>" in out
    assert "template\t<PodTemplateSpec> -required-" in out
    rc, out, err = await DocServer(Cluster()).kubectl(
        tmp_path, "explain", "deploy.spec.template.spec.containers.resources.limits")
    assert rc == 0, err
    assert "<map[string]Quantity>" in out


@needs_kubectl
async def test_kubectl_explains_custom_resource_fields(tmp_path: Path) -> None:
    rc, out, err = await DocServer(Cluster()).kubectl(tmp_path, "explain", "gitrepository.spec")
    assert rc == 0, err
    assert "GitRepositorySpec specifies how to fetch a Git repository." in out
    assert "url\t<string> -required-" in out
    rc, out, err = await DocServer(Cluster()).kubectl(tmp_path, "explain", "gitrepo.metadata")
    assert rc == 0, err
    assert "FIELD: metadata <ObjectMeta>" in out and "finalizers" in out


@needs_kubectl
async def test_kubectl_leaves_field_validation_to_the_server(tmp_path: Path) -> None:
    server = DocServer(Cluster())
    for manifest in (DEPLOYMENT, {"apiVersion": f"{FLUX}/v1", "kind": "GitRepository",
                                  "metadata": {"name": "podinfo", "namespace": "default"},
                                  "spec": {"url": "https://example.com/x", "interval": "1m",
                                           "bogus": True}}):
        rc, _, err = await server.kubectl(tmp_path, "apply", "--server-side", "-f", "-",
                                          stdin=json.dumps(manifest))
        assert rc == 0, err
    patches = server.paths("PATCH")
    assert len(patches) == 2
    assert all("fieldValidation=Strict" in p for p in patches)
    # It never needed the v2 document to decide.
    assert not [p for p in server.paths("GET") if p.startswith("/openapi/v2")]


@needs_kubectl
async def test_client_side_apply_merges_env_by_name(tmp_path: Path) -> None:
    server = DocServer(Cluster())
    applied = json.loads(json.dumps(DEPLOYMENT))
    live = json.loads(json.dumps(DEPLOYMENT))
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)}
    server.objects["/apis/apps/v1/namespaces/default/deployments/web"] = live
    applied["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "B", "value": "2"})
    rc, _, err = await server.kubectl(tmp_path, "apply", "-f", "-", stdin=json.dumps(applied))
    assert rc == 0, err
    (ctype, body), = [(t, b) for m, _, t, b in server.requests if m == "PATCH"]
    assert ctype == "application/strategic-merge-patch+json"
    container = json.loads(body)["spec"]["template"]["spec"]["containers"][0]
    # Merged by key: only the new variable travels, with the order of all of them.
    assert container["env"] == [{"name": "B", "value": "2"}]
    assert container["$setElementOrder/env"] == [{"name": "A"}, {"name": "B"}]
    assert not err.strip()


@needs_kubectl
async def test_kubectl_validates_list_files_with_the_v2_document(tmp_path: Path) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "a", "namespace": "default"}, "data": {"x": "y"}}
    listing = {"apiVersion": "v1", "kind": "List", "items": [cm, DEPLOYMENT]}
    server = DocServer(Cluster())
    rc, out, err = await server.kubectl(tmp_path, "apply", "-f", "-", stdin=json.dumps(listing))
    assert rc == 0, err
    assert "configmap/a created" in out
    bad = {**listing, "items": [{**cm, "bogus": 1}]}
    rc, _, err = await server.kubectl(tmp_path, "create", "-f", "-", stdin=json.dumps(bad))
    assert rc != 0
    assert 'unknown field "bogus" in io.k8s.api.core.v1.ConfigMap' in err
