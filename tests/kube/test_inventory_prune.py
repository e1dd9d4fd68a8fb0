"""Inventory ids, prune of what left Git, and deletion policies, on the embedded cluster."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.kube.apply import ApplyOptions, Owner, ResourceManager
from sluice.kube.inventory import (
    Inventory,
    PruneError,
    deletes_on_finalize,
    finalize,
    prune,
)
from sluice.kube.objects import Objects
from sluice.kube.ordering import ObjectRef
from sluice.testing.polling import async_wait_for

Obj = dict[str, Any]
OWNER = Owner("apps", "flux-system")
FAST = ApplyOptions(wait_timeout=20, wait_poll=0.1)


def cm(ns: str, name: str, annotations: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"n": name}}


async def exists(client: Objects, name: str, ns: str) -> bool:
    m = await client.mapping("v1", "ConfigMap")
    return await client.get_or_none(m, name, ns) is not None


def test_inventory_ids_round_trip() -> None:
    status = {"entries": [
        {"id": "agnhost_agnhost_apps_Deployment", "v": "v1"},
        {"id": "agnhost_agnhost__Service", "v": "v1"},
        {"id": "_agnhost__Namespace", "v": "v1"},
        {"id": "_system__controller_rbac.authorization.k8s.io_ClusterRole", "v": "v1"},
        {"id": "garbage", "v": "v1"},
    ]}
    inv = Inventory.from_status(status)
    assert [r.subject for r in inv] == ["Deployment/agnhost/agnhost", "Service/agnhost/agnhost",
                                        "Namespace/agnhost", "ClusterRole/system:controller"]
    assert inv.refs[0].api_version == "apps/v1"
    assert inv.refs[1].api_version == "v1"
    assert inv.to_status() == {"entries": status["entries"][:4]}
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "agnhost", "namespace": "agnhost"}}
    assert ObjectRef.of(dep).id == "agnhost_agnhost_apps_Deployment"
    # Identity ignores the version an object was recorded at.
    assert ObjectRef.of(dep) in Inventory.from_status({"entries": [
        {"id": "agnhost_agnhost_apps_Deployment", "v": "v1beta1"}]})
    newer = Inventory.from_status({"entries": status["entries"][1:3]})
    assert [r.id for r in inv.diff(newer)] == [
        "agnhost_agnhost_apps_Deployment",
        "_system__controller_rbac.authorization.k8s.io_ClusterRole"]


def test_deletion_policies() -> None:
    assert deletes_on_finalize("MirrorPrune", prune=True)
    assert not deletes_on_finalize("MirrorPrune", prune=False)
    assert deletes_on_finalize(None, prune=True)
    assert deletes_on_finalize("Delete", prune=False)
    assert deletes_on_finalize("WaitForTermination", prune=False)
    assert not deletes_on_finalize("Orphan", prune=True)
    assert not deletes_on_finalize("Delete", prune=True, suspended=True)


async def test_prune_deletes_only_owned_objects(manager: ResourceManager, client: Objects,
                                                namespace: str, kubectl: Any) -> None:
    names = ["keep", "gone", "adopted", "protected", "vanished"]
    objs = [cm(namespace, n) for n in names[:3]]
    objs.append(cm(namespace, "protected", {"kustomize.toolkit.fluxcd.io/prune": "Disabled"}))
    objs.append(cm(namespace, "vanished"))
    old = Inventory.from_change_set(await manager.apply_all_staged(objs, FAST))
    assert len(old) == 5
    # Another Kustomization took "adopted" over; "vanished" was deleted by hand.
    kubectl.ok("label", "--overwrite", "-n", namespace, "configmap/adopted",
               "kustomize.toolkit.fluxcd.io/name=other")
    kubectl.ok("delete", "-n", namespace, "configmap/vanished")

    new = Inventory.from_change_set(await manager.apply_all_staged([cm(namespace, "keep")], FAST))
    changes = await prune(manager, old, new)
    assert changes.to_map() == {
        f"ConfigMap/{namespace}/vanished": "deleted",
        f"ConfigMap/{namespace}/protected": "skipped",
        f"ConfigMap/{namespace}/gone": "deleted",
        f"ConfigMap/{namespace}/adopted": "skipped",
    }
    assert [str(e) for e in changes.changed()] == [f"ConfigMap/{namespace}/vanished deleted",
                                                   f"ConfigMap/{namespace}/gone deleted"]
    assert await exists(client, "keep", namespace)
    assert not await exists(client, "gone", namespace)
    assert await exists(client, "adopted", namespace)
    assert await exists(client, "protected", namespace)


async def test_prune_takes_dependents_with_it(manager: ResourceManager, client: Objects,
                                              namespace: str) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": namespace},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    old = Inventory.from_change_set(await manager.apply_all_staged([dep], FAST))
    rs = await client.mapping("apps/v1", "ReplicaSet")

    async def replicasets() -> list[Obj]:
        items, _ = await client.list(rs, namespace)
        return items

    await async_wait_for(replicasets, what="a ReplicaSet for the Deployment")
    await prune(manager, old, Inventory())

    async def none_left() -> bool:
        return not await replicasets()

    await async_wait_for(none_left, what="ReplicaSets garbage-collected")


async def test_finalize_policies(manager: ResourceManager, client: Objects,
                                 namespace: str) -> None:
    inv = Inventory.from_change_set(await manager.apply_all_staged(
        [cm(namespace, "a"), cm(namespace, "b")], FAST))
    assert len(await finalize(manager, inv, "Orphan", prune=True)) == 0
    assert len(await finalize(manager, inv, "MirrorPrune", prune=False)) == 0
    assert await exists(client, "a", namespace)
    changes = await finalize(manager, inv, "Delete", prune=False)
    assert sorted(changes.to_map().values()) == ["deleted", "deleted"]
    assert not await exists(client, "a", namespace)
    assert not await exists(client, "b", namespace)


async def test_wait_for_termination_waits_for_finalizers(manager: ResourceManager,
                                                         client: Objects,
                                                         namespace: str) -> None:
    held = cm(namespace, "held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    inv = Inventory.from_change_set(await manager.apply_all_staged([held], FAST))
    with pytest.raises(PruneError) as info:
        await finalize(manager, inv, "WaitForTermination", prune=False, timeout=0.3, poll=0.05)
    assert str(info.value) == (
        f"timeout waiting for: [ConfigMap/{namespace}/held status: 'Terminating']")
    m = await client.mapping("v1", "ConfigMap")
    await client.merge_patch(m, "held", {"metadata": {"finalizers": None}}, namespace)
    changes = await finalize(manager, inv, "WaitForTermination", prune=False, timeout=10,
                             poll=0.05)
    assert changes.to_map() == {f"ConfigMap/{namespace}/held": "deleted"}
    assert not await exists(client, "held", namespace)
