"""The embedded cluster answers the Kubernetes REST API as kube-apiserver does.

Driven over HTTPS with a plain HTTP client, so every status code, reason and
body shape is what any Kubernetes client would receive.
"""

from __future__ import annotations

import json
import ssl

import httpx
import pytest

from sluice.testing.background import BackgroundCluster

CM = "/api/v1/namespaces/{ns}/configmaps"


def cm(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_missing_or_wrong_token_is_unauthorized(sluice_cluster: BackgroundCluster) -> None:
    ctx = ssl.create_default_context(cafile=str(sluice_cluster.ca_file))
    with httpx.Client(base_url=sluice_cluster.url, verify=ctx) as anon:
        r = anon.get("/api/v1/namespaces")
        assert r.status_code == 401
        assert r.json()["reason"] == "Unauthorized"
        r = anon.get("/api/v1/namespaces", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401


def test_server_certificate_is_signed_by_the_cluster_ca(sluice_cluster: BackgroundCluster) -> None:
    with httpx.Client(base_url=sluice_cluster.url) as untrusting, pytest.raises(httpx.ConnectError):
        untrusting.get("/version")


def test_create_get_and_conflict_on_duplicate(api: httpx.Client, namespace: str) -> None:
    r = api.post(CM.format(ns=namespace), json=cm("one", a="1"))
    assert r.status_code == 201
    created = r.json()
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    assert created["metadata"]["creationTimestamp"].endswith("Z")
    again = api.post(CM.format(ns=namespace), json=cm("one"))
    assert again.status_code == 409
    assert again.json()["reason"] == "AlreadyExists"
    assert again.json()["message"] == 'configmaps "one" already exists'
    got = api.get(CM.format(ns=namespace) + "/one").json()
    assert got["data"] == {"a": "1"}


def test_missing_object_is_not_found_status(api: httpx.Client, namespace: str) -> None:
    r = api.get(CM.format(ns=namespace) + "/absent")
    assert r.status_code == 404
    body = r.json()
    assert body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["details"] == {"name": "absent", "kind": "configmaps"}
    assert body["message"] == 'configmaps "absent" not found'


def test_generate_name_and_dry_run(api: httpx.Client, namespace: str) -> None:
    r = api.post(CM.format(ns=namespace), json={"metadata": {"generateName": "gen-"}})
    assert r.status_code == 201
    name = r.json()["metadata"]["name"]
    assert name.startswith("gen-") and len(name) == len("gen-") + 5
    r = api.post(CM.format(ns=namespace), params={"dryRun": "All"}, json=cm("dry"))
    assert r.status_code == 201
    assert api.get(CM.format(ns=namespace) + "/dry").status_code == 404


def test_update_with_stale_resource_version_conflicts(api: httpx.Client, namespace: str) -> None:
    obj = api.post(CM.format(ns=namespace), json=cm("cas", v="1")).json()
    stale = json.loads(json.dumps(obj))
    obj["data"]["v"] = "2"
    r = api.put(CM.format(ns=namespace) + "/cas", json=obj)
    assert r.status_code == 200
    stale["data"]["v"] = "3"
    r = api.put(CM.format(ns=namespace) + "/cas", json=stale)
    assert r.status_code == 409
    assert r.json()["reason"] == "Conflict"
    assert "the object has been modified" in r.json()["message"]
    assert api.get(CM.format(ns=namespace) + "/cas").json()["data"]["v"] == "2"


def test_label_and_field_selectors_and_paging(api: httpx.Client, namespace: str) -> None:
    for i, tier in enumerate(["web", "web", "db", "cache", "web"]):
        body = cm(f"sel-{i}")
        body["metadata"]["labels"] = {"tier": tier, **({"canary": "yes"} if i == 0 else {})}
        api.post(CM.format(ns=namespace), json=body)

    def names(**params: str) -> list[str]:
        r = api.get(CM.format(ns=namespace), params=params)
        assert r.status_code == 200, r.text
        return [i["metadata"]["name"] for i in r.json()["items"]]

    assert names(labelSelector="tier=web") == ["sel-0", "sel-1", "sel-4"]
    assert names(labelSelector="tier in (db,cache)") == ["sel-2", "sel-3"]
    assert names(labelSelector="tier notin (web),tier") == ["sel-2", "sel-3"]
    assert names(labelSelector="canary") == ["sel-0"]
    assert names(labelSelector="tier=web,!canary") == ["sel-1", "sel-4"]
    assert names(fieldSelector="metadata.name=sel-3") == ["sel-3"]
    assert names(fieldSelector="metadata.name!=sel-3", labelSelector="tier") == [
        "sel-0", "sel-1", "sel-2", "sel-4"]
    bad = api.get(CM.format(ns=namespace), params={"fieldSelector": "data.a=1"})
    assert bad.status_code == 400
    page = api.get(CM.format(ns=namespace), params={"limit": "2", "labelSelector": "tier"}).json()
    assert [i["metadata"]["name"] for i in page["items"]] == ["sel-0", "sel-1"]
    token = page["metadata"]["continue"]
    rest = api.get(CM.format(ns=namespace), params={"limit": "2", "continue": token,
                                                    "labelSelector": "tier"}).json()
    assert [i["metadata"]["name"] for i in rest["items"]] == ["sel-2", "sel-3"]


def test_merge_json_and_strategic_patches(api: httpx.Client, namespace: str) -> None:
    api.post(CM.format(ns=namespace), json=cm("p", a="1", b="2"))
    url = CM.format(ns=namespace) + "/p"
    r = api.patch(url, content=json.dumps({"data": {"a": None, "c": "3"}}),
                  headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["data"] == {"b": "2", "c": "3"}
    r = api.patch(url, content=json.dumps([{"op": "replace", "path": "/data/b", "value": "9"}]),
                  headers={"Content-Type": "application/json-patch+json"})
    assert r.json()["data"] == {"b": "9", "c": "3"}
    r = api.patch(url, content=json.dumps([{"op": "test", "path": "/data/b", "value": "0"}]),
                  headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 422
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "side:1"}]}}}}
    durl = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    assert api.post(durl, json=deploy).status_code == 201
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]}]}}}}
    r = api.patch(durl + "/web", content=json.dumps(patch),
                  headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200, r.text
    containers = r.json()["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "app:2"),
                                                             ("sidecar", "side:1")]
    # Like kubectl's own strategic merge: new list items come before the untouched ones.
    assert containers[0]["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
    assert r.json()["metadata"]["generation"] == 2


def test_invalid_names_and_bodies_store_nothing(api: httpx.Client, namespace: str) -> None:
    r = api.post(CM.format(ns=namespace), json=cm("Bad_Name"))
    assert r.status_code == 422
    body = r.json()
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in \
        body["message"]
    r = api.post(CM.format(ns=namespace), content=b"{not json",
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    r = api.post(CM.format(ns=namespace), json={"kind": "Secret", "apiVersion": "v1",
                                                "metadata": {"name": "x"}})
    assert r.status_code == 400
    listed = api.get(CM.format(ns=namespace)).json()["items"]
    assert [i["metadata"]["name"] for i in listed if i["metadata"]["name"] != "kube-root-ca.crt"] \
        == []


def test_oversized_object_is_refused(api: httpx.Client, namespace: str) -> None:
    big = cm("big", blob="x" * 1_600_000)
    r = api.post(CM.format(ns=namespace), json=big)
    assert r.status_code == 413
    assert r.json()["reason"] == "RequestEntityTooLarge"
    assert api.get(CM.format(ns=namespace) + "/big").status_code == 404


def test_finalizers_hold_deletion_until_removed(api: httpx.Client, namespace: str) -> None:
    body = cm("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    api.post(CM.format(ns=namespace), json=body)
    url = CM.format(ns=namespace) + "/held"
    r = api.delete(url)
    assert r.status_code in (200, 202)
    held = api.get(url).json()
    assert held["metadata"]["deletionTimestamp"]
    r = api.patch(url, content=json.dumps({"metadata": {"finalizers": None}}),
                  headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200
    assert api.get(url).status_code == 404


def test_delete_preconditions_and_collection(api: httpx.Client, namespace: str) -> None:
    obj = api.post(CM.format(ns=namespace), json=cm("pre")).json()
    r = api.request("DELETE", CM.format(ns=namespace) + "/pre",
                    json={"preconditions": {"uid": "not-the-uid"}})
    assert r.status_code == 409
    r = api.request("DELETE", CM.format(ns=namespace) + "/pre",
                    json={"preconditions": {"uid": obj["metadata"]["uid"]}})
    assert r.status_code == 200
    for i in range(3):
        body = cm(f"col-{i}")
        body["metadata"]["labels"] = {"batch": "yes"}
        api.post(CM.format(ns=namespace), json=body)
    r = api.delete(CM.format(ns=namespace), params={"labelSelector": "batch=yes"})
    assert r.status_code == 200
    left = api.get(CM.format(ns=namespace), params={"labelSelector": "batch"}).json()["items"]
    assert left == []


def test_status_and_scale_subresources(api: httpx.Client, namespace: str) -> None:
    durl = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sc"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "sc"}},
                       "template": {"metadata": {"labels": {"app": "sc"}},
                                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    api.post(durl, json=deploy)
    scale = api.get(durl + "/sc/scale").json()
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
    scale["spec"]["replicas"] = 3
    r = api.put(durl + "/sc/scale", json=scale)
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 3
    assert api.get(durl + "/sc").json()["spec"]["replicas"] == 3
    # Status is written only through /status (on a kind no controller here touches).
    gurl = f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/gitrepositories"
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "st"},
            "spec": {"url": "https://example.com/x", "interval": "1m"}}
    assert api.post(gurl, json=repo).status_code == 201
    obj = api.get(gurl + "/st").json()
    assert obj["status"] == {"observedGeneration": -1}
    obj["status"] = {"observedGeneration": 42}
    obj["spec"]["interval"] = "2m"
    after = api.put(gurl + "/st", json=obj).json()
    assert after["spec"]["interval"] == "2m" and after["metadata"]["generation"] == 2
    assert after["status"]["observedGeneration"] == -1
    fresh = api.get(gurl + "/st").json()
    fresh["status"] = {"observedGeneration": 2}
    fresh["spec"]["interval"] = "9m"
    r = api.put(gurl + "/st/status", json=fresh)
    assert r.status_code == 200
    final = api.get(gurl + "/st").json()
    assert final["spec"]["interval"] == "2m"
    assert final["status"]["observedGeneration"] == 2
    assert final["metadata"]["generation"] == 2


def test_watch_from_resource_version_and_gone(api: httpx.Client, namespace: str) -> None:
    start = api.get(CM.format(ns=namespace)).json()["metadata"]["resourceVersion"]
    api.post(CM.format(ns=namespace), json=cm("w1"))
    obj = api.get(CM.format(ns=namespace) + "/w1").json()
    obj["data"] = {"x": "1"}
    api.put(CM.format(ns=namespace) + "/w1", json=obj)
    api.delete(CM.format(ns=namespace) + "/w1")
    events = []
    with api.stream("GET", CM.format(ns=namespace), params={
            "watch": "1", "resourceVersion": start, "timeoutSeconds": "2",
            "fieldSelector": "metadata.name=w1"}) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line:
                events.append(json.loads(line))
            if len(events) == 3:
                break
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(start)


def test_watch_bookmarks_and_initial_events(api: httpx.Client, namespace: str) -> None:
    api.post(CM.format(ns=namespace), json=cm("bm"))
    seen = []
    with api.stream("GET", CM.format(ns=namespace), params={
            "watch": "true", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
            "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "5"}) as resp:
        for line in resp.iter_lines():
            if not line:
                continue
            ev = json.loads(line)
            seen.append(ev)
            if ev["type"] == "BOOKMARK":
                break
    assert any(e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "bm" for e in seen)
    assert seen[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_strict_field_validation_refuses_unknown_fields(api: httpx.Client, namespace: str) -> None:
    body = cm("strict")
    body["datta"] = {"typo": "1"}
    r = api.post(CM.format(ns=namespace), params={"fieldValidation": "Strict"}, json=body)
    assert r.status_code == 400
    assert 'unknown field "datta"' in r.json()["message"]
    assert api.get(CM.format(ns=namespace) + "/strict").status_code == 404
    # Without Strict the unknown field is dropped, as the API server does.
    r = api.post(CM.format(ns=namespace), params={"fieldValidation": "Ignore"}, json=body)
    assert r.status_code == 201 and "datta" not in r.json()


def test_custom_resource_schema_violations_are_invalid(api: httpx.Client, namespace: str) -> None:
    url = f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/gitrepositories"
    bad = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "bad"},
           "spec": {"url": "ftp://example.com/repo", "interval": 5, "provider": "gitlab"}}
    r = api.post(url, json=bad)
    assert r.status_code == 422
    body = r.json()
    assert body["reason"] == "Invalid"
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"spec.url", "spec.interval", "spec.provider"} <= fields
    assert body["message"].startswith('GitRepository.source.toolkit.fluxcd.io "bad" is invalid: ')
    assert api.get(url + "/bad").status_code == 404
    missing = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "bad"}, "spec": {"interval": "1m"}}
    r = api.post(url, json=missing)
    assert r.status_code == 422
    assert any(c["field"] == "spec.url" and c["reason"] == "FieldValueRequired"
               for c in r.json()["details"]["causes"])


def test_crd_is_served_at_once_with_printer_columns(api: httpx.Client, namespace: str) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                           "shortNames": ["wdg"]},
                 "versions": [{
                     "name": "v1", "served": True, "storage": True,
                     "subresources": {"status": {}},
                     "additionalPrinterColumns": [
                         {"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                         "spec": {"type": "object", "required": ["size"], "properties": {
                             "size": {"type": "integer", "minimum": 1, "default": 3},
                             "color": {"type": "string", "enum": ["red", "blue"],
                                       "default": "red"}}},
                         "status": {"type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True}}}}}]}}
    r = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
    assert r.status_code == 201, r.text
    got = api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    conds = {c["type"]: c["status"] for c in got.json()["status"]["conditions"]}
    assert conds["Established"] == "True"
    groups = api.get("/apis").json()["groups"]
    assert any(g["name"] == "example.com" for g in groups)
    url = f"/apis/example.com/v1/namespaces/{namespace}/widgets"
    r = api.post(url, json={"apiVersion": "example.com/v1", "kind": "Widget",
                            "metadata": {"name": "w"}, "spec": {"size": 2, "shape": "round"}})
    assert r.status_code == 201, r.text
    assert r.json()["spec"] == {"size": 2, "color": "red"}  # defaulted, unknown field pruned
    r = api.post(url, json={"apiVersion": "example.com/v1", "kind": "Widget",
                            "metadata": {"name": "z"}, "spec": {"size": 0}})
    assert r.status_code == 422
    table = api.get(url, headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Size"]
    assert table["rows"][0]["cells"][:2] == ["w", 2]
    r = api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert r.status_code == 200
    assert api.get(url).status_code == 404


def test_no_new_finalizers_on_an_object_being_deleted(api: httpx.Client, namespace: str) -> None:
    body = cm("closing")
    body["metadata"]["finalizers"] = ["example.com/a"]
    api.post(CM.format(ns=namespace), json=body)
    url = CM.format(ns=namespace) + "/closing"
    api.delete(url)
    r = api.patch(url, content=json.dumps({"metadata": {"finalizers": ["example.com/a",
                                                                      "example.com/b"]}}),
                  headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422
    assert "no new finalizers can be added if the object is being deleted" in r.json()["message"]
    assert api.get(url).json()["metadata"]["finalizers"] == ["example.com/a"]


def test_built_in_fields_of_the_wrong_type_are_refused(api: httpx.Client, namespace: str) -> None:
    durl = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "typed"},
              "spec": {"replicas": "three", "selector": {"matchLabels": {"app": "t"}},
                       "template": {"metadata": {"labels": {"app": "t"}},
                                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    r = api.post(durl, json=deploy)
    assert r.status_code == 400
    message = r.json()["message"]
    assert message.startswith('Deployment in version "v1" cannot be handled as a Deployment')
    assert "spec.replicas" in message
    assert api.get(durl + "/typed").status_code == 404
    # Quantities and int-or-string ports take both forms, as on a real cluster.
    deploy["spec"]["replicas"] = 1
    deploy["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": 0.5, "memory": "64Mi"}, "limits": {"cpu": "1"}}
    deploy["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"port": "http", "path": "/"}}
    r = api.post(durl, json=deploy)
    assert r.status_code == 201, r.text
