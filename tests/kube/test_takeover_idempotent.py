"""Taking over field ownership happens once: later reconciles of the same manifest write nothing.

Flux's kustomize-controller moves the fields of kubectl and of pre-tracking
objects to its own Apply entry before applying; once it has, applying the same
manifest again must find no difference, report ``unchanged`` and leave the
resourceVersion alone, whoever created the object.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluice.kube.apply import ApplyOptions, Owner, ResourceManager
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects

Obj = dict[str, Any]
OWNER = Owner("flux-system", "flux-system")
FAST = ApplyOptions(wait_timeout=20, wait_poll=0.1)


@pytest.fixture
def owner() -> Owner:
    """Reconciles here are the flux-system Kustomization's own."""
    return OWNER


async def _live(client: Objects, api_version: str, kind: str, name: str,
                ns: str | None = None) -> tuple[ResourceMapping, Obj]:
    m = await client.mapping(api_version, kind)
    got = await client.get_or_none(m, name, ns if m.namespaced else None)
    assert got is not None
    return m, got


async def _assert_settles(manager: ResourceManager, client: Objects, obj: Obj) -> Obj:
    """Apply ``obj`` three times: the second and third applies write nothing."""
    meta = obj["metadata"]
    ns = meta.get("namespace")
    await manager.apply_all_staged([obj], FAST)
    _, first = await _live(client, obj["apiVersion"], obj["kind"], meta["name"], ns)
    for _ in range(2):
        changes = await manager.apply_all_staged([obj], FAST)
        assert [str(e.action) for e in changes] == ["unchanged"]
        _, again = await _live(client, obj["apiVersion"], obj["kind"], meta["name"], ns)
        assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    managers = {(e["manager"], e["operation"]) for e in first["metadata"]["managedFields"]}
    assert ("kustomize-controller", "Update") not in managers
    return first


async def test_bootstrapped_flux_system_namespace_settles(manager: ResourceManager,
                                                           client: Objects) -> None:
    # Created by the embedded cluster at start, with no field manager at all.
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "flux-system",
                       "labels": {"app.kubernetes.io/instance": "flux-system"}}}
    got = await _assert_settles(manager, client, ns)
    assert {e["manager"] for e in got["metadata"]["managedFields"]} == {"kustomize-controller"}


async def test_object_without_managed_fields_settles(manager: ResourceManager, client: Objects,
                                                     namespace: str, kubectl: Any) -> None:
    kubectl.ok("create", "configmap", "legacy", "-n", namespace, "--from-literal=a=1")
    # A single empty entry clears managedFields: an object from before field tracking.
    kubectl.ok("patch", "configmap", "legacy", "-n", namespace, "--type=merge",
               "-p", json.dumps({"metadata": {"managedFields": [{}]}}))
    _, before = await _live(client, "v1", "ConfigMap", "legacy", namespace)
    assert not before["metadata"].get("managedFields")
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "legacy", "namespace": namespace}, "data": {"a": "1"}}
    got = await _assert_settles(manager, client, cm)
    assert "before-first-apply" not in {e["manager"] for e in got["metadata"]["managedFields"]}
    assert "annotations" not in got["metadata"]


async def test_kubectl_created_object_settles(manager: ResourceManager, client: Objects,
                                              namespace: str, kubectl: Any) -> None:
    kubectl.ok("create", "configmap", "made", "-n", namespace, "--from-literal=a=1")
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "made", "namespace": namespace}, "data": {"a": "1"}}
    await _assert_settles(manager, client, cm)


async def test_kubectl_applied_object_settles(manager: ResourceManager, client: Objects,
                                              namespace: str, kubectl: Any) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "csa", "namespace": namespace}, "data": {"a": "1"}}
    kubectl.ok("apply", "-f", "-", input=json.dumps(cm))
    got = await _assert_settles(manager, client, cm)
    assert "annotations" not in got["metadata"]
    assert {e["manager"] for e in got["metadata"]["managedFields"]} == {"kustomize-controller"}


async def test_kubectl_labelled_object_settles(manager: ResourceManager, client: Objects,
                                               namespace: str, kubectl: Any) -> None:
    # An edit recorded as kubectl's Update entry is taken over (and the label it
    # added removed); taking it over must not write an empty annotations map.
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "lab", "namespace": namespace}, "data": {"a": "1"}}
    await manager.apply_all_staged([cm], FAST)
    kubectl.ok("label", "configmap", "lab", "-n", namespace, "team=ops",
               "--field-manager=kubectl")
    got = await _assert_settles(manager, client, cm)
    assert "team" not in got["metadata"].get("labels", {})
    assert "annotations" not in got["metadata"]
