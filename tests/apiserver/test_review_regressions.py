"""Regressions found reviewing the embedded cluster against kube-apiserver behaviour.

Each test names the behaviour a real client relies on and failed before its fix:
paging across namespaces, subresource verbs, Service updates, malformed input
answered with 4xx instead of 500, watch bookmarks and selector transitions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from sluice.apiserver.rest.registry import Cluster, WriteOptions
from sluice.testing.background import BackgroundCluster

CM = "/api/v1/namespaces/{ns}/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments"
MERGE = {"Content-Type": "application/merge-patch+json"}


def _deployment(name: str) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}


@pytest.fixture
def sibling_namespaces(sluice_cluster: BackgroundCluster) -> Iterator[tuple[str, str]]:
    """Two namespaces where one name is the other's prefix plus '-': "x" and "x-2"."""
    base = "r-" + uuid.uuid4().hex[:8]
    names = (base, base + "-2")

    def create(c: Cluster) -> None:
        rt = c.resource("", "v1", "namespaces")
        for n in names:
            c.create(rt, "", {"metadata": {"name": n}}, WriteOptions(manager="pytest"))

    sluice_cluster.call(create)
    yield names

    def delete(c: Cluster) -> None:
        from sluice.apiserver.rest.registry import DeleteOptions

        rt = c.resource("", "v1", "namespaces")
        for n in names:
            c.delete(rt, "", n, DeleteOptions())

    sluice_cluster.call(delete)


def test_paging_across_namespaces_returns_every_object(
        api: httpx.Client, sibling_namespaces: tuple[str, str]) -> None:
    label = "page-" + uuid.uuid4().hex[:6]
    expected = []
    for ns in sibling_namespaces:
        for name in ("a", "b"):
            r = api.post(CM.format(ns=ns), json={"metadata": {"name": name,
                                                              "labels": {"page": label}}})
            assert r.status_code == 201
            expected.append(f"{ns}/{name}")
    seen: list[str] = []
    cont = ""
    for _ in range(10):
        page = api.get("/api/v1/configmaps", params={"labelSelector": f"page={label}",
                                                     "limit": 1, "continue": cont}).json()
        seen += [f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in page["items"]]
        cont = page["metadata"].get("continue", "")
        if not cont:
            break
    assert seen == expected


def test_put_to_a_missing_configmap_is_not_found(api: httpx.Client, namespace: str) -> None:
    # A writer holding a deleted object must not bring it back by updating it.
    r = api.put(CM.format(ns=namespace) + "/ghost",
                json={"metadata": {"name": "ghost", "resourceVersion": "5"}})
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound"
    assert api.get(CM.format(ns=namespace) + "/ghost").status_code == 404


def test_put_creates_kinds_that_allow_it(api: httpx.Client, namespace: str) -> None:
    url = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/l1"
    r = api.put(url, json={"metadata": {"name": "l1"}, "spec": {"holderIdentity": "me"}})
    assert r.status_code == 201


def test_delete_on_a_subresource_keeps_the_object(api: httpx.Client, namespace: str) -> None:
    assert api.post(DEPLOY.format(ns=namespace), json=_deployment("keep")).status_code == 201
    for sub in ("scale", "status"):
        r = api.delete(DEPLOY.format(ns=namespace) + f"/keep/{sub}")
        assert r.status_code == 405
        assert r.json()["reason"] == "MethodNotAllowed"
    assert api.get(DEPLOY.format(ns=namespace) + "/keep").status_code == 200


def test_finalize_exists_only_for_namespaces(api: httpx.Client, namespace: str) -> None:
    api.post(CM.format(ns=namespace), json={"metadata": {"name": "fin"}})
    r = api.put(CM.format(ns=namespace) + "/fin/finalize",
                json={"metadata": {"name": "fin"}, "spec": {"finalizers": ["x"]}})
    assert r.status_code == 404
    assert "spec" not in api.get(CM.format(ns=namespace) + "/fin").json()


def test_json_patch_on_scale(api: httpx.Client, namespace: str) -> None:
    api.post(DEPLOY.format(ns=namespace), json=_deployment("jp"))
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    r = api.patch(DEPLOY.format(ns=namespace) + "/jp/scale", content=json.dumps(ops),
                  headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["replicas"] == 3
    assert api.get(DEPLOY.format(ns=namespace) + "/jp").json()["spec"]["replicas"] == 3


def test_service_put_without_cluster_ip_keeps_the_allocated_one(
        api: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/services"
    manifest = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    created = api.post(url, json=manifest).json()
    # `kubectl replace -f` sends the original manifest, which names no clusterIP.
    replaced = {**manifest, "metadata": {"name": "web", "labels": {"v": "2"},
                                         "resourceVersion": created["metadata"]["resourceVersion"]}}
    r = api.put(url + "/web", json=replaced)
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["clusterIP"] == created["spec"]["clusterIP"]


@pytest.mark.parametrize("body", [
    {"metadata": {"name": "bad-spec"}, "spec": "not-an-object"},
    {"metadata": {"name": "bad-op"}, "spec": {
        "selector": {"matchExpressions": [{"key": "a", "operator": "Sometimes"}]},
        "template": {"metadata": {"labels": {"a": "b"}},
                     "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
])
def test_malformed_deployment_is_a_client_error(api: httpx.Client, namespace: str,
                                                body: dict[str, object]) -> None:
    r = api.post(DEPLOY.format(ns=namespace), json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["kind"] == "Status"


def test_malformed_pod_volumes_and_configmap_values(api: httpx.Client, namespace: str) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}],
                                               "volumes": ["not-a-volume"]}}
    assert api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod).status_code == 400
    r = api.post(CM.format(ns=namespace), json={"metadata": {"name": "list"},
                                                "data": {"k": ["a", "b"]}})
    assert r.status_code == 400
    assert api.get(CM.format(ns=namespace) + "/list").status_code == 404


def test_malformed_query_parameters_are_bad_requests(api: httpx.Client, namespace: str) -> None:
    assert api.get(CM.format(ns=namespace), params={"limit": "ten"}).status_code == 400
    r = api.get(CM.format(ns=namespace), params={"watch": "1", "timeoutSeconds": "soon"})
    assert r.status_code == 400
    api.post(CM.format(ns=namespace), json={"metadata": {"name": "d"}})
    r = api.request("DELETE", CM.format(ns=namespace) + "/d", content=b"{: [",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_yaml_alias_bomb_is_refused(api: httpx.Client, namespace: str) -> None:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "x0: &a0 [lol]"]
    for i in range(1, 9):
        lines.append(f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("data: {k: *a8}")
    r = api.post(CM.format(ns=namespace), content="\n".join(lines),
                 headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400
    assert "expands" in r.json()["message"]


def test_creating_in_a_terminating_namespace_names_the_object(
        api: httpx.Client, sluice_cluster: BackgroundCluster) -> None:
    ns = "term-" + uuid.uuid4().hex[:8]
    api.post("/api/v1/namespaces", json={"metadata": {"name": ns}})
    # A finalizer nobody removes keeps the namespace Terminating for the test.
    api.post(CM.format(ns=ns), json={"metadata": {"name": "held", "finalizers": ["x.io/hold"]}})
    api.delete(f"/api/v1/namespaces/{ns}")
    r = api.post(CM.format(ns=ns), json={"metadata": {"name": "late"}})
    assert r.status_code == 403
    assert 'configmaps "late" is forbidden' in r.json()["message"]
    api.patch(CM.format(ns=ns) + "/held", content=json.dumps({"metadata": {"finalizers": None}}),
              headers=MERGE)


def test_bookmarks_advance_on_a_quiet_resource(api: httpx.Client, namespace: str) -> None:
    start = api.get(f"/api/v1/namespaces/{namespace}/secrets").json()["metadata"][
        "resourceVersion"]
    params = {"watch": "1", "resourceVersion": start, "allowWatchBookmarks": "true",
              "timeoutSeconds": "10"}
    with api.stream("GET", f"/api/v1/namespaces/{namespace}/secrets", params=params) as s:
        # Writes to another resource move the revision this watcher never sees.
        made = api.post(CM.format(ns=namespace), json={"metadata": {"name": "tick"}}).json()
        for line in s.iter_lines():
            event = json.loads(line)
            assert event["type"] == "BOOKMARK"
            assert int(event["object"]["metadata"]["resourceVersion"]) >= int(
                made["metadata"]["resourceVersion"])
            break


def test_leaving_a_selector_sends_the_last_matching_object(api: httpx.Client,
                                                           namespace: str) -> None:
    api.post(CM.format(ns=namespace), json={"metadata": {"name": "t", "labels": {"x": "1"}}})
    rv = api.get(CM.format(ns=namespace) + "/t").json()["metadata"]["resourceVersion"]
    moved = api.patch(CM.format(ns=namespace) + "/t", headers=MERGE,
                      content=json.dumps({"metadata": {"labels": {"x": "2"}}})).json()
    params = {"watch": "1", "resourceVersion": rv, "labelSelector": "x=1",
              "timeoutSeconds": "1"}
    with api.stream("GET", CM.format(ns=namespace), params=params) as s:
        events = [json.loads(line) for line in s.iter_lines() if line]
    assert [e["type"] for e in events] == ["DELETED"]
    obj = events[0]["object"]
    assert obj["metadata"]["labels"] == {"x": "1"}
    assert obj["metadata"]["resourceVersion"] == moved["metadata"]["resourceVersion"]


def test_apply_create_is_one_write_that_watchers_see() -> None:
    from sluice.apiserver.server import _builtin_schema
    from sluice.apiserver.store.storage import Storage
    from sluice.apiserver.store.watch import Event

    c = Cluster(Storage())
    c.builtin_schema = _builtin_schema
    c.create(c.resource("", "v1", "namespaces"), "", {"metadata": {"name": "a"}}, WriteOptions())
    seen: list[tuple[str, int, str, bool]] = []

    def record(ev: Event) -> None:
        meta = ev.obj["metadata"]
        seen.append((ev.type, ev.rv, meta["resourceVersion"], bool(meta.get("managedFields"))))

    c.events.add_listener(record)
    cm = c.resource("", "v1", "configmaps")
    created = c.patch(cm, "a", "ap", "application/apply-patch+yaml",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ap"},
                       "data": {"k": "v"}}, WriteOptions(manager="me"))
    rv = created["metadata"]["resourceVersion"]
    # Every revision is announced, the last one is what the client got, with its ownership.
    assert seen[-1] == ("ADDED", int(rv), rv, True)
    assert c.storage.revision == int(rv)
    c.storage.close()


def test_put_naming_another_uid_is_a_conflict(api: httpx.Client, namespace: str) -> None:
    api.post(CM.format(ns=namespace), json={"metadata": {"name": "u"}, "data": {"k": "1"}})
    body = api.get(CM.format(ns=namespace) + "/u").json()
    body["metadata"]["uid"] = str(uuid.uuid4())
    body["data"] = {"k": "2"}
    r = api.put(CM.format(ns=namespace) + "/u", json=body)
    assert r.status_code == 409
    assert r.json()["reason"] == "Conflict"
    assert api.get(CM.format(ns=namespace) + "/u").json()["data"] == {"k": "1"}


def test_empty_value_set_in_label_selector_is_refused(api: httpx.Client, namespace: str) -> None:
    r = api.get(CM.format(ns=namespace), params={"labelSelector": "a in ()"})
    assert r.status_code == 400
    assert r.json()["reason"] == "BadRequest"
