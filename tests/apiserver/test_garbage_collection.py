"""Deleting an owner deletes, waits for, or orphans its dependents, as Kubernetes' GC does.

Driven in-process on a real ``Cluster``: objects point at owners through
``ownerReferences`` (by uid), and the garbage collector acts on deletion:

- background: dependents whose owners are all gone are deleted, down a
  chain; a dependent with a live owner left only loses the dangling reference;
- foreground: the owner stays (``foregroundDeletion``) until dependents
  that block it are gone, including ones held by their own finalizers;
- orphan: dependents stay and lose the reference;
- references to owners in another namespace count as absent, to unknown
  kinds as unresolvable (kept), and pending work is finished after a restart.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import pytest

from sluice.apiserver.rest.registry import Cluster, DeleteOptions, WriteOptions

from .conftest import Controllers, eventually

Obj = dict[str, Any]
T = TypeVar("T")
NS = "gc"


class Objects:
    """ConfigMaps (and other kinds) with owner references, over a Cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster
        self.cm = cluster.catalogue.get("", "v1", "configmaps")
        self.ns = cluster.catalogue.get("", "v1", "namespaces")
        assert self.cm is not None and self.ns is not None

    def namespace(self, name: str) -> Obj:
        return self.c.create(self.ns, "", {"metadata": {"name": name}}, WriteOptions())

    def configmap(self, name: str, *owners: Obj, ns: str = NS, block: bool = False,
                  finalizers: tuple[str, ...] = ()) -> Obj:
        meta: Obj = {"name": name}
        if owners:
            meta["ownerReferences"] = [ref(o, block) for o in owners]
        if finalizers:
            meta["finalizers"] = list(finalizers)
        return self.c.create(self.cm, ns, {"metadata": meta}, WriteOptions(manager="test"))

    def get(self, name: str, ns: str = NS) -> Obj | None:
        return self.c.storage.get(("", "configmaps"), ns, name)

    def delete(self, name: str, propagation: str = "", ns: str = NS) -> None:
        self.c.delete(self.cm, ns, name, DeleteOptions(propagation=propagation))

    def drop_finalizers(self, name: str, ns: str = NS) -> None:
        obj = copy.deepcopy(self.get(name, ns))
        assert obj is not None
        obj["metadata"].pop("finalizers", None)
        self.c.update(self.cm, ns, name, obj, WriteOptions(manager="test"))


def ref(owner: Obj, block: bool = False) -> Obj:
    r = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
         "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    if block:
        r["blockOwnerDeletion"] = True
    return r


@pytest.fixture
async def objs(cluster: Cluster, controllers: Controllers) -> Objects:
    o = Objects(cluster)
    o.namespace(NS)
    controllers.start_gc()
    return o


async def test_background_deletion_removes_dependents_down_the_chain(objs: Objects) -> None:
    top = objs.configmap("top")
    mid = objs.configmap("mid", top)
    objs.configmap("leaf", mid)
    objs.configmap("bystander")
    objs.delete("top")
    await eventually(lambda: objs.get("mid") is None and objs.get("leaf") is None)
    assert objs.get("bystander") is not None


async def test_dependent_with_a_live_owner_only_loses_the_dangling_reference(
        objs: Objects) -> None:
    a = objs.configmap("a")
    b = objs.configmap("b")
    objs.configmap("shared", a, b)
    objs.delete("a")
    shared = await eventually(lambda: (s := objs.get("shared")) and
                              len(s["metadata"]["ownerReferences"]) == 1 and s)
    assert shared["metadata"]["ownerReferences"][0]["uid"] == b["metadata"]["uid"]
    objs.delete("b")
    await eventually(lambda: objs.get("shared") is None)


async def test_foreground_owner_waits_for_blocking_dependents(objs: Objects) -> None:
    owner = objs.configmap("owner")
    objs.configmap("blocker", owner, block=True, finalizers=("example.com/cleanup",))
    objs.configmap("free", owner)
    objs.delete("owner", propagation="Foreground")
    # Every dependent is being deleted; the one held by its finalizer keeps the owner.
    blocker = await eventually(lambda: (b := objs.get("blocker")) and
                               b["metadata"].get("deletionTimestamp") and b)
    await eventually(lambda: objs.get("free") is None)
    held = objs.get("owner")
    assert held is not None
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert held["metadata"]["deletionTimestamp"]
    assert blocker["metadata"]["finalizers"] == ["example.com/cleanup"]
    objs.drop_finalizers("blocker")
    await eventually(lambda: objs.get("owner") is None and objs.get("blocker") is None)


async def test_foreground_deletion_goes_through_grandchildren_first(objs: Objects) -> None:
    owner = objs.configmap("owner")
    child = objs.configmap("child", owner, block=True)
    objs.configmap("grandchild", child, block=True, finalizers=("example.com/hold",))
    objs.delete("owner", propagation="Foreground")
    # The child has dependents of its own, so it is deleted in the foreground too.
    await eventually(lambda: (c := objs.get("child")) and
                     "foregroundDeletion" in (c["metadata"].get("finalizers") or []))
    assert objs.get("owner") is not None
    objs.drop_finalizers("grandchild")
    await eventually(lambda: objs.get("owner") is None and objs.get("child") is None and
                     objs.get("grandchild") is None)


async def test_orphan_deletion_keeps_dependents_without_the_reference(objs: Objects) -> None:
    owner = objs.configmap("owner")
    other = objs.configmap("other")
    objs.configmap("kept", owner, other)
    objs.configmap("alone", owner)
    objs.delete("owner", propagation="Orphan")
    await eventually(lambda: objs.get("owner") is None)
    kept, alone = objs.get("kept"), objs.get("alone")
    assert kept is not None and alone is not None
    assert [r["uid"] for r in kept["metadata"]["ownerReferences"]] == [other["metadata"]["uid"]]
    assert "ownerReferences" not in alone["metadata"]


async def test_owner_references_resolve_only_where_kubernetes_looks(objs: Objects) -> None:
    objs.namespace("elsewhere")
    foreign = objs.configmap("foreign", ns="elsewhere")
    cluster_owner = objs.c.storage.get(("", "namespaces"), "", "elsewhere")
    assert cluster_owner is not None
    owner_ns = {**cluster_owner, "apiVersion": "v1", "kind": "Namespace"}
    # A namespaced owner in another namespace is not an owner: the dependent goes.
    objs.configmap("cross", foreign)
    # A cluster-scoped owner that exists keeps its namespaced dependent.
    objs.configmap("scoped", owner_ns)
    # An owner of a kind the cluster does not serve cannot be resolved: kept, as in Kubernetes.
    objs.configmap("unknown", {"apiVersion": "example.com/v1", "kind": "Gadget",
                               "metadata": {"name": "g", "uid": "0000-gadget"}})
    await eventually(lambda: objs.get("cross") is None)
    assert objs.get("scoped") is not None
    assert objs.get("unknown") is not None
    assert objs.get("foreign", ns="elsewhere") is not None


async def test_dependent_created_after_its_owner_is_gone_is_deleted(objs: Objects) -> None:
    owner = objs.configmap("owner")
    objs.delete("owner")
    objs.configmap("late", owner)
    await eventually(lambda: objs.get("late") is None)


async def test_pending_work_is_finished_when_the_collector_starts(
        cluster: Cluster, controllers: Controllers) -> None:
    objs = Objects(cluster)
    objs.namespace(NS)
    fg = objs.configmap("fg")
    objs.configmap("fg-child", fg, block=True)
    objs.delete("fg", propagation="Foreground")
    gone = objs.configmap("gone")
    objs.configmap("orphaned", gone)
    objs.delete("gone")
    assert objs.get("fg") is not None and objs.get("orphaned") is not None
    controllers.start_gc()
    await eventually(lambda: objs.get("fg") is None and objs.get("fg-child") is None and
                     objs.get("orphaned") is None)


async def test_deleting_a_deployment_removes_its_replicasets_and_pods(
        objs: Objects, controllers: Controllers) -> None:
    controllers.start_workloads(0.05)
    deploy = objs.c.catalogue.get("apps", "v1", "deployments")
    assert deploy is not None
    objs.c.create(deploy, NS, {"metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
        WriteOptions(manager="kubectl"))

    def count(key: tuple[str, str]) -> int:
        return len(objs.c.storage.list(key, NS))

    await eventually(lambda: count(("", "pods")) == 2)
    for policy in ("Foreground", "Background"):
        objs.c.delete(deploy, NS, "web", DeleteOptions(propagation=policy))
        await eventually(lambda: count(("apps", "deployments")) == 0 and
                         count(("apps", "replicasets")) == 0 and count(("", "pods")) == 0)
        if policy == "Foreground":
            objs.c.create(deploy, NS, {"metadata": {"name": "web"}, "spec": {
                "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
                WriteOptions(manager="kubectl"))
            await eventually(lambda: count(("", "pods")) == 2)
