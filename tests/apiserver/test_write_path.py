"""The write path stores what it builds without copying it: no version is changed afterwards.

Writes keep the object they commit as it is, responses and watch events
encode the stored values without copying them, and managedFields trees are
shared between objects (issue 14). What must hold whatever is shared: every
version reads back, from the watch history, exactly as its write answered,
and nothing a reader does to what it got reaches the store.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx

from sluice.apiserver.rest.registry import APPLY_PATCH, MERGE_PATCH, Cluster, WriteOptions

DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments"


def deployment(name: str, image: str = "nginx:1") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "app", "image": image}]}}}}


def test_watch_history_replays_each_version_as_its_write_answered(
        api: httpx.Client, namespace: str) -> None:
    url = DEPLOY.format(ns=namespace) + "/web"
    apply = {"Content-Type": APPLY_PATCH}
    merge = {"Content-Type": MERGE_PATCH}
    answers = [
        api.patch(url, content=json.dumps(deployment("web")), headers=apply,
                  params={"fieldManager": "flux"}),
        api.patch(url + "/status", content=json.dumps({"status": {"replicas": 0,
                  "conditions": [{"type": "Available", "status": "True"}]}}),
                  headers=merge, params={"fieldManager": "kcm"}),
        api.patch(url, content=json.dumps(deployment("web", "nginx:2")), headers=apply,
                  params={"fieldManager": "flux"}),
        api.patch(url, content=json.dumps({"metadata": {"labels": {"extra": "yes"}}}),
                  headers=merge, params={"fieldManager": "kubectl"}),
        api.patch(url + "/status", content=json.dumps({"status": {"replicas": 1}}),
                  headers=merge, params={"fieldManager": "kcm"}),
    ]
    assert [r.status_code for r in answers] == [201, 200, 200, 200, 200], answers[-1].text
    written = [r.json() for r in answers]
    assert len({w["metadata"]["resourceVersion"] for w in written}) == len(written)

    # The workload simulator writes too (status, revision annotation): match by revision.
    seen: dict[str, dict[str, Any]] = {}
    last = written[-1]["metadata"]["resourceVersion"]
    with api.stream("GET", DEPLOY.format(ns=namespace), params={
            "watch": "true", "resourceVersion": "1", "fieldSelector": "metadata.name=web"},
            timeout=30) as stream:
        for line in stream.iter_lines():
            if line:
                obj = json.loads(line)["object"]
                seen[obj["metadata"]["resourceVersion"]] = obj
            if last in seen:
                break
    # Each version as its write answered it: later writes changed none of them.
    assert [seen.get(w["metadata"]["resourceVersion"]) for w in written] == written


async def test_shared_managed_fields_never_leak_between_objects(cluster: Cluster) -> None:
    rt = cluster.resource("apps", "v1", "deployments")
    ns = cluster.resource("", "v1", "namespaces")
    cluster.create(ns, "", {"metadata": {"name": "apps"}}, WriteOptions())
    opts = WriteOptions(manager="flux")
    for name in ("one", "two"):
        cluster.patch(rt, "apps", name, APPLY_PATCH, deployment("x") | {
            "metadata": {"name": name}}, opts)
    stored = [cluster.storage.get(rt.storage_key, "apps", n) for n in ("one", "two")]
    assert stored[0] is not None and stored[1] is not None
    trees = [s["metadata"]["managedFields"][0]["fieldsV1"] for s in stored]
    # The same field set is kept once, not once per object.
    assert trees[0] is trees[1]
    before = copy.deepcopy(trees[1])

    # A reader changing what it got (a copy) and a writer moving ownership of one
    # object leave the other object's entries as they were.
    got = cluster.get(rt, "apps", "one")
    got["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"].clear()
    cluster.patch(rt, "apps", "one", MERGE_PATCH, {"spec": {"replicas": 3}},
                  WriteOptions(manager="hpa"))
    one = cluster.get(rt, "apps", "one")
    assert {e["manager"] for e in one["metadata"]["managedFields"]} == {"flux", "hpa"}
    two = cluster.storage.get(rt.storage_key, "apps", "two")
    assert two is not None
    assert two["metadata"]["managedFields"][0]["fieldsV1"] == before
    assert "f:replicas" in before["f:spec"]


def test_an_update_of_a_built_in_still_prunes_and_type_checks_what_it_changes(
        api: httpx.Client, namespace: str) -> None:
    # Updates only look at what changed since the stored version: that part must still
    # be pruned and type-checked as a create is.
    url = DEPLOY.format(ns=namespace) + "/typed"
    merge = {"Content-Type": MERGE_PATCH}
    assert api.post(DEPLOY.format(ns=namespace), json=deployment("typed")).status_code == 201
    r = api.patch(url, content=json.dumps({"spec": {"replicas": "three"}}), headers=merge)
    assert r.status_code == 400
    assert "spec.replicas" in r.json()["message"]
    r = api.patch(url, content=json.dumps({"bogus": {"a": 1}, "spec": {"paused": True}}),
                  headers=merge, params={"fieldValidation": "Strict"})
    assert r.status_code == 400
    assert 'unknown field "bogus"' in r.json()["message"]
    r = api.patch(url, content=json.dumps({"bogus": {"a": 1}, "spec": {"paused": True}}),
                  headers=merge)
    assert r.status_code == 200, r.text
    assert "bogus" not in r.json()
    assert r.json()["spec"]["paused"] is True
    assert "bogus" not in api.get(url).json()
