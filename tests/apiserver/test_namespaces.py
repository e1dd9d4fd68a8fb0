"""Namespaces come with their defaults and go with their content, as in Kubernetes.

- a new namespace gets the ``default`` ServiceAccount and the
  ``kube-root-ca.crt`` ConfigMap with the cluster CA, restored when deleted
  or edited;
- deleting a namespace deletes everything in it, custom resources included,
  then the namespace;
- content held by a finalizer (as Flux's ``finalizers.fluxcd.io``) keeps the
  namespace Terminating, with conditions naming what remains, until the
  finalizer goes;
- a namespace left Terminating when the controller was not running is
  finished when it starts.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import pytest

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest.registry import Cluster, DeleteOptions, WriteOptions
from sluice.apiserver.schemas.resources import ResourceType

from .conftest import Controllers, eventually

Obj = dict[str, Any]
T = TypeVar("T")
CA = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"

WIDGETS_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                       "listKind": "WidgetList"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                 "openAPIV3Schema": {"type": "object",
                                     "x-kubernetes-preserve-unknown-fields": True}}}]}}


class Api:
    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster

    def rt(self, group: str, plural: str) -> ResourceType:
        for rt in self.c.catalogue:
            if rt.group == group and rt.plural == plural:
                return rt
        raise KeyError(plural)

    def create(self, group: str, plural: str, ns: str, body: Obj) -> Obj:
        return self.c.create(self.rt(group, plural), ns, body, WriteOptions(manager="test"))

    def get(self, group: str, plural: str, ns: str, name: str) -> Obj | None:
        return self.c.storage.get((group, plural), ns, name)

    def namespace(self, name: str) -> Obj | None:
        return self.c.storage.get(("", "namespaces"), "", name)


def run_controllers(controllers: Controllers) -> None:
    controllers.start_gc(CA)
    controllers.start_workloads(0.05)


@pytest.fixture
async def api(cluster: Cluster, controllers: Controllers) -> Api:
    run_controllers(controllers)
    return Api(cluster)


async def test_new_namespace_gets_default_service_account_and_root_ca(api: Api) -> None:
    api.create("", "namespaces", "", {"metadata": {"name": "team"}})
    cm = await eventually(lambda: api.get("", "configmaps", "team", "kube-root-ca.crt"))
    assert cm["data"] == {"ca.crt": CA}
    assert api.get("", "serviceaccounts", "team", "default") is not None

    api.c.delete(api.rt("", "serviceaccounts"), "team", "default", DeleteOptions())
    edited = copy.deepcopy(cm)
    edited["data"] = {"ca.crt": "tampered"}
    api.c.update(api.rt("", "configmaps"), "team", "kube-root-ca.crt", edited,
                 WriteOptions(manager="test"))
    await eventually(lambda: api.get("", "serviceaccounts", "team", "default") is not None and
                     (c := api.get("", "configmaps", "team", "kube-root-ca.crt")) and
                     c["data"] == {"ca.crt": CA})


async def test_deleting_a_namespace_deletes_its_content_then_itself(api: Api) -> None:
    api.create("apiextensions.k8s.io", "customresourcedefinitions", "", WIDGETS_CRD)
    api.create("", "namespaces", "", {"metadata": {"name": "doomed"}})
    api.create("", "namespaces", "", {"metadata": {"name": "spared"}})
    for ns in ("doomed", "spared"):
        api.create("", "configmaps", ns, {"metadata": {"name": "settings"}})
        api.create("", "secrets", ns, {"metadata": {"name": "token"}})
        api.create("example.com", "widgets", ns, {"apiVersion": "example.com/v1",
                                                  "kind": "Widget",
                                                  "metadata": {"name": "w"}})
        api.create("apps", "deployments", ns, {"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})
    await eventually(lambda: api.c.storage.list(("", "pods"), "doomed"))
    api.c.delete(api.rt("", "namespaces"), "", "doomed", DeleteOptions())
    await eventually(lambda: api.namespace("doomed") is None)
    for key in (("", "configmaps"), ("", "secrets"), ("example.com", "widgets"),
                ("apps", "deployments"), ("apps", "replicasets"), ("", "pods"),
                ("", "serviceaccounts")):
        assert api.c.storage.list(key, "doomed") == [], key
        assert api.c.storage.list(key, "spared") != [], key


async def test_namespace_waits_for_content_finalizers(api: Api) -> None:
    api.create("apiextensions.k8s.io", "customresourcedefinitions", "", WIDGETS_CRD)
    api.create("", "namespaces", "", {"metadata": {"name": "flux-apps"}})
    api.create("example.com", "widgets", "flux-apps", {
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "held", "finalizers": ["finalizers.fluxcd.io"]}})
    api.create("", "configmaps", "flux-apps", {"metadata": {"name": "free"}})
    api.c.delete(api.rt("", "namespaces"), "", "flux-apps", DeleteOptions())

    def reported() -> Obj | None:
        ns = api.namespace("flux-apps")
        conds = {c["type"]: c for c in (ns or {}).get("status", {}).get("conditions", [])}
        fin = conds.get("NamespaceFinalizersRemaining", {})
        return conds if fin.get("status") == "True" else None

    conds = await eventually(reported)
    ns = api.namespace("flux-apps")
    assert ns is not None and ns["status"]["phase"] == "Terminating"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert conds["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: "
        "finalizers.fluxcd.io in 1 resource instances")
    assert conds["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: widgets.example.com has 1 resource instances")
    assert api.get("", "configmaps", "flux-apps", "free") is None
    held = api.get("example.com", "widgets", "flux-apps", "held")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiError) as refused:
        api.create("", "configmaps", "flux-apps", {"metadata": {"name": "late"}})
    assert refused.value.code == 403

    # The controller owning the finalizer finishes its cleanup and removes it.
    body = copy.deepcopy(held)
    body["metadata"]["finalizers"] = []
    api.c.update(api.rt("example.com", "widgets"), "flux-apps", "held", body,
                 WriteOptions(manager="kustomize-controller"))
    await eventually(lambda: api.namespace("flux-apps") is None)


async def test_terminating_namespace_is_finished_when_the_controller_starts(
        cluster: Cluster, controllers: Controllers) -> None:
    api = Api(cluster)
    api.create("", "namespaces", "", {"metadata": {"name": "leftover"}})
    api.create("", "configmaps", "leftover", {"metadata": {"name": "data"}})
    cluster.delete(api.rt("", "namespaces"), "", "leftover", DeleteOptions())
    assert api.namespace("leftover") is not None
    run_controllers(controllers)
    await eventually(lambda: api.namespace("leftover") is None)
    assert cluster.storage.list(("", "configmaps"), "leftover") == []
