"""Server-side dry-run diff: what a reconcile would change, without changing anything."""

from __future__ import annotations

import base64
from typing import Any

from sluice.kube.apply import ApplyOptions, ResourceManager
from sluice.kube.diff import MISSING, FieldChange, diff_objects, field_changes
from sluice.kube.health import Status, compute_status
from sluice.kube.inventory import Inventory
from sluice.kube.objects import Objects
from sluice.testing.polling import async_wait_for

Obj = dict[str, Any]
FAST = ApplyOptions(wait_timeout=20, wait_poll=0.1)


def deployment(ns: str, image: str = "agnhost:2.39", replicas: int = 1) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "agnhost", "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "agnhost"}},
                     "template": {"metadata": {"labels": {"app": "agnhost"}}, "spec": {
                         "containers": [{"name": "agnhost", "image": image}]}}}}


def secret(ns: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": ns},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def cm(ns: str, name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": {"k": "v"}}


async def test_diff_reports_drift_creation_and_prune_without_writing(
        manager: ResourceManager, client: Objects, namespace: str) -> None:
    applied = await manager.apply_all_staged(
        [deployment(namespace), secret(namespace, user="admin", password="old"),
         cm(namespace, "same"), cm(namespace, "dropped")], FAST)
    inventory = Inventory.from_change_set(applied)
    dm = await client.mapping("apps/v1", "Deployment")

    async def rolled_out() -> Obj | None:
        # The cluster's Deployment controller writes status until the rollout is done;
        # only then does an unchanged resourceVersion mean the diff wrote nothing.
        dep = await client.get(dm, "agnhost", namespace)
        return dep if compute_status(dep).status == Status.CURRENT else None

    before_rv = (await async_wait_for(rolled_out, what="agnhost rolled out")
                 )["metadata"]["resourceVersion"]

    build = [deployment(namespace, image="agnhost:2.40", replicas=3),
             secret(namespace, user="admin", password="new", token="t0k3n"),
             cm(namespace, "same"), cm(namespace, "added")]
    report = await diff_objects(manager, build, inventory=inventory)

    assert report.errors == []
    assert report.to_map() == {
        f"ConfigMap/{namespace}/added": "created",
        f"ConfigMap/{namespace}/same": "unchanged",
        f"Secret/{namespace}/creds": "configured",
        f"Deployment/{namespace}/agnhost": "configured",
        f"ConfigMap/{namespace}/dropped": "deleted",
    }
    dep = report.get(f"Deployment/{namespace}/agnhost")
    assert dep is not None
    assert dep.changes == [
        FieldChange("spec.replicas", 1, 3),
        FieldChange("spec.template.spec.containers[name=agnhost].image", "agnhost:2.39",
                    "agnhost:2.40"),
    ]
    sec = report.get(f"Secret/{namespace}/creds")
    assert sec is not None
    assert sec.changes == [
        FieldChange("data.password", "*** (before)", "*** (after)"),
        FieldChange("data.token", MISSING, "***"),
    ]
    text = report.render()
    assert f"► Deployment/{namespace}/agnhost drifted" in text
    assert f"► ConfigMap/{namespace}/added created" in text
    assert f"► ConfigMap/{namespace}/dropped deleted" in text
    assert "same" not in text
    for plain in ("old", "new", "t0k3n", base64.b64encode(b"new").decode()):
        assert plain not in text, plain

    # Nothing was written.
    assert (await client.get(dm, "agnhost", namespace))["metadata"]["resourceVersion"] == \
        before_rv
    cmm = await client.mapping("v1", "ConfigMap")
    assert await client.get_or_none(cmm, "added", namespace) is None
    assert await client.get_or_none(cmm, "dropped", namespace) is not None


async def test_diff_of_a_new_namespace_and_an_invalid_object(manager: ResourceManager,
                                                             namespace: str) -> None:
    fresh = f"{namespace}-new"
    bad = cm(namespace, "bad")
    bad["data"] = "not a map"
    report = await diff_objects(manager, [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": fresh}},
        cm(fresh, "inside"), bad])
    assert report.to_map() == {f"Namespace/{fresh}": "created",
                               f"ConfigMap/{fresh}/inside": "created"}
    assert len(report.errors) == 1
    assert report.errors[0].startswith(f"ConfigMap/{namespace}/bad dry-run failed (")


def test_field_changes_of_lists_and_removals() -> None:
    before = {"kind": "Service", "metadata": {"labels": {"a": "1", "b": "2"}},
              "spec": {"ports": [{"port": 80}, {"port": 443}], "args": ["x", "y"]}}
    after = {"kind": "Service", "metadata": {"labels": {"a": "1"}},
             "spec": {"ports": [{"port": 80}, {"port": 8443}], "args": ["x", "z"]}}
    assert field_changes(before, after) == [
        FieldChange("metadata.labels.b", "2", MISSING),
        FieldChange("spec.args[1]", "y", "z"),
        FieldChange("spec.ports[port=443]", {"port": 443}, MISSING),
        FieldChange("spec.ports[port=8443]", MISSING, {"port": 8443}),
    ]
