"""Staged server-side apply against the embedded cluster, as a Kustomization applies a build."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from sluice.kube.apply import ApplyError, ApplyOptions, Owner, ResourceManager
from sluice.kube.objects import Objects
from sluice.kube.ordering import ObjectRef, Stage, sort_objects, split_stages

Obj = dict[str, Any]
OWNER = Owner("apps", "flux-system")
FAST = ApplyOptions(wait_timeout=20, wait_poll=0.1)


def deployment(ns: str, name: str = "web", *, replicas: int = 2, image: str = "nginx:1.25",
               annotations: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": ns, "labels": {"app": name}}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}}


def configmap(ns: str, name: str, data: dict[str, str],
              annotations: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def service(ns: str, name: str = "web") -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


async def live(client: Objects, api_version: str, kind: str, name: str,
               ns: str | None = None) -> Obj | None:
    m = await client.mapping(api_version, kind)
    return await client.get_or_none(m, name, ns if m.namespaced else None)


def test_stages_and_kind_order() -> None:
    objs = [
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "hook"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b", "namespace": "x"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "x"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "namespace": "x"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "r"}},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": {"name": "widgets.example.com"}},
        {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "ca"}},
    ]
    stages = split_stages(objs, frozenset({("cert-manager.io", "ClusterIssuer")}))
    named = [(stage, [ObjectRef.of(o).subject for o in members]) for stage, members in stages]
    assert named == [
        (Stage.DEFINITIONS, ["CustomResourceDefinition/widgets.example.com", "Namespace/x",
                             "ClusterRole/r"]),
        (Stage.CLASSES, ["IngressClass/nginx"]),
        (Stage.CUSTOM, ["ClusterIssuer/ca"]),
        (Stage.RESOURCES, ["ConfigMap/x/a", "Deployment/x/a", "Deployment/x/b", "Widget/x/w",
                           "ValidatingWebhookConfiguration/hook"]),
    ]
    assert [o["kind"] for o in sort_objects(objs[:5])] == [
        "ConfigMap", "Deployment", "Deployment", "Widget", "ValidatingWebhookConfiguration"]


async def test_crd_and_its_custom_resources_apply_in_one_run(manager: ResourceManager,
                                                             client: Objects) -> None:
    suffix = uuid.uuid4().hex[:8]
    group = f"g{suffix}.example.com"
    ns = f"stage-{suffix}"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"widgets.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                              "listKind": "WidgetList"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                        "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                            "type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget",
              "metadata": {"name": "w1", "namespace": ns}, "spec": {"size": 3}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    try:
        # Given in the "wrong" order on purpose: stages put definitions first.
        changes = await manager.apply_all_staged([widget, configmap(ns, "cfg", {"a": "1"}), crd,
                                                  namespace], FAST)
        assert [str(e) for e in changes] == [
            f"CustomResourceDefinition/widgets.{group} created",
            f"Namespace/{ns} created",
            f"ConfigMap/{ns}/cfg created",
            f"Widget/{ns}/w1 created",
        ]
        got = await live(client, f"{group}/v1", "Widget", "w1", ns)
        assert got is not None and got["spec"] == {"size": 3}
        assert got["metadata"]["labels"] == OWNER.labels
        again = await manager.apply_all_staged([widget, crd, namespace,
                                                configmap(ns, "cfg", {"a": "1"})], FAST)
        assert {e.action for e in again} == {"unchanged"}
    finally:
        crd_map = await client.mapping("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        await client.delete(crd_map, f"widgets.{group}")
        ns_map = await client.mapping("v1", "Namespace")
        await client.delete(ns_map, ns)


async def test_unchanged_objects_are_not_written(manager: ResourceManager, client: Objects,
                                                 namespace: str) -> None:
    objs = [deployment(namespace), service(namespace), configmap(namespace, "cfg", {"k": "v"}),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": namespace},
             "stringData": {"password": "hunter2"}}]
    first = await manager.apply_all_staged(objs, FAST)
    assert first.to_map() == {
        f"ConfigMap/{namespace}/cfg": "created",
        f"Secret/{namespace}/s": "created",
        f"Service/{namespace}/web": "created",
        f"Deployment/{namespace}/web": "created",
    }
    assert first.message().splitlines()[0] == f"ConfigMap/{namespace}/cfg created"
    before = {}
    for api_version, kind, name in [("v1", "ConfigMap", "cfg"), ("v1", "Service", "web"),
                                    ("v1", "Secret", "s")]:
        obj = await live(client, api_version, kind, name, namespace)
        assert obj is not None
        before[kind] = obj["metadata"]["resourceVersion"]
    second = await manager.apply_all_staged(objs, FAST)
    assert {e.action for e in second} == {"unchanged"}
    assert second.message() == ""
    for api_version, kind, name in [("v1", "ConfigMap", "cfg"), ("v1", "Service", "web"),
                                    ("v1", "Secret", "s")]:
        obj = await live(client, api_version, kind, name, namespace)
        assert obj is not None
        assert obj["metadata"]["resourceVersion"] == before[kind], kind


async def test_change_in_git_is_configured(manager: ResourceManager, client: Objects,
                                           namespace: str) -> None:
    await manager.apply_all_staged([deployment(namespace)], FAST)
    changes = await manager.apply_all_staged([deployment(namespace, image="nginx:1.26")], FAST)
    assert [str(e) for e in changes] == [f"Deployment/{namespace}/web configured"]
    got = await live(client, "apps/v1", "Deployment", "web", namespace)
    assert got is not None
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"


async def test_kubectl_scale_is_reverted(manager: ResourceManager, client: Objects,
                                         namespace: str, kubectl: Any) -> None:
    await manager.apply_all_staged([deployment(namespace, replicas=2)], FAST)
    kubectl.ok("scale", "-n", namespace, "deployment/web", "--replicas=5")
    scaled = await live(client, "apps/v1", "Deployment", "web", namespace)
    assert scaled is not None and scaled["spec"]["replicas"] == 5
    changes = await manager.apply_all_staged([deployment(namespace, replicas=2)], FAST)
    assert changes.to_map() == {f"Deployment/{namespace}/web": "configured"}
    got = await live(client, "apps/v1", "Deployment", "web", namespace)
    assert got is not None and got["spec"]["replicas"] == 2
    managers = {e["manager"] for e in got["metadata"]["managedFields"]}
    assert "kubectl" not in managers
    again = await manager.apply_all_staged([deployment(namespace, replicas=2)], FAST)
    assert again.to_map() == {f"Deployment/{namespace}/web": "unchanged"}


async def test_patch_by_another_manager_is_reverted(manager: ResourceManager, client: Objects,
                                                    namespace: str) -> None:
    await manager.apply_all_staged([deployment(namespace)], FAST)
    m = await client.mapping("apps/v1", "Deployment")
    await client.merge_patch(m, "web", {
        "metadata": {"labels": {"team": "ops"}},
        "spec": {"replicas": 7, "template": {"spec": {"containers": [
            {"name": "web", "image": "evil:latest"}]}}}}, namespace, field_manager="hand-edit")
    changes = await manager.apply_all_staged([deployment(namespace)], FAST)
    assert changes.to_map() == {f"Deployment/{namespace}/web": "configured"}
    got = await live(client, "apps/v1", "Deployment", "web", namespace)
    assert got is not None
    assert got["spec"]["replicas"] == 2
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    # A field Git never set stays with the manager that set it (server-side apply).
    assert got["metadata"]["labels"]["team"] == "ops"


async def test_fields_added_with_kubectl_apply_are_removed(manager: ResourceManager,
                                                           client: Objects, namespace: str,
                                                           kubectl: Any) -> None:
    await manager.apply_all_staged([configmap(namespace, "cfg", {"a": "1"})], FAST)
    edited = configmap(namespace, "cfg", {"a": "1", "extra": "by-hand"})
    kubectl.ok("apply", "-f", "-", input=json.dumps(edited))
    got = await live(client, "v1", "ConfigMap", "cfg", namespace)
    assert got is not None and got["data"]["extra"] == "by-hand"
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]
    changes = await manager.apply_all_staged([configmap(namespace, "cfg", {"a": "1"})], FAST)
    assert changes.to_map() == {f"ConfigMap/{namespace}/cfg": "configured"}
    got = await live(client, "v1", "ConfigMap", "cfg", namespace)
    assert got is not None
    assert got["data"] == {"a": "1"}
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (
        got["metadata"].get("annotations") or {})
    assert {e["manager"] for e in got["metadata"]["managedFields"]} == {"kustomize-controller"}


async def test_ssa_merge_keeps_fields_added_with_kubectl(manager: ResourceManager,
                                                         client: Objects, namespace: str,
                                                         kubectl: Any) -> None:
    merge = {"kustomize.toolkit.fluxcd.io/ssa": "merge"}  # values match in any case
    await manager.apply_all_staged([configmap(namespace, "cfg", {"a": "1"}, merge)], FAST)
    kubectl.ok("apply", "-f", "-", input=json.dumps(
        configmap(namespace, "cfg", {"a": "1", "extra": "by-hand"}, merge)))
    changes = await manager.apply_all_staged(
        [configmap(namespace, "cfg", {"a": "2"}, merge)], FAST)
    assert changes.to_map() == {f"ConfigMap/{namespace}/cfg": "configured"}
    got = await live(client, "v1", "ConfigMap", "cfg", namespace)
    assert got is not None
    assert got["data"] == {"a": "2", "extra": "by-hand"}


async def test_if_not_present_only_creates(manager: ResourceManager, client: Objects,
                                           namespace: str) -> None:
    ann = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    first = await manager.apply_all_staged([configmap(namespace, "seed", {"v": "1"}, ann)], FAST)
    assert first.to_map() == {f"ConfigMap/{namespace}/seed": "created"}
    m = await client.mapping("v1", "ConfigMap")
    await client.merge_patch(m, "seed", {"data": {"v": "edited"}}, namespace,
                             field_manager="someone")
    second = await manager.apply_all_staged([configmap(namespace, "seed", {"v": "2"}, ann)], FAST)
    assert second.to_map() == {f"ConfigMap/{namespace}/seed": "skipped"}
    got = await live(client, "v1", "ConfigMap", "seed", namespace)
    assert got is not None and got["data"] == {"v": "edited"}


async def test_ignore_and_reconcile_disabled_skip(manager: ResourceManager, client: Objects,
                                                  namespace: str, kubectl: Any) -> None:
    ignored = configmap(namespace, "ignored", {"v": "1"}, {"kustomize.toolkit.fluxcd.io/ssa": "Ignore"})
    first = await manager.apply_all_staged([ignored, configmap(namespace, "held", {"v": "1"})],
                                           FAST)
    assert first.to_map() == {f"ConfigMap/{namespace}/held": "created",
                              f"ConfigMap/{namespace}/ignored": "skipped"}
    assert await live(client, "v1", "ConfigMap", "ignored", namespace) is None
    # Disabled on the live object (by hand), in upper case: Git's change is not applied.
    kubectl.ok("annotate", "-n", namespace, "configmap/held",
               "kustomize.toolkit.fluxcd.io/reconcile=DISABLED")
    second = await manager.apply_all_staged([ignored, configmap(namespace, "held", {"v": "2"})],
                                            FAST)
    assert second.to_map()[f"ConfigMap/{namespace}/held"] == "skipped"
    got = await live(client, "v1", "ConfigMap", "held", namespace)
    assert got is not None and got["data"] == {"v": "1"}


async def test_invalid_object_leaves_the_cluster_untouched(manager: ResourceManager,
                                                           client: Objects,
                                                           namespace: str) -> None:
    new_ns = f"never-{uuid.uuid4().hex[:8]}"
    bad = deployment(namespace, "broken")
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": new_ns}},
            configmap(namespace, "cfg", {"a": "1"}), bad, service(namespace)]
    with pytest.raises(ApplyError) as info:
        await manager.apply_all_staged(objs, FAST)
    assert str(info.value) == (
        f"Deployment/{namespace}/broken dry-run failed (Invalid): Deployment.apps \"broken\" "
        "is invalid: spec.template.spec.containers[0].image: Required value")
    assert len(info.value.change_set) == 0
    # Not the Namespace of the first stage, not the valid objects of the same stage.
    assert await live(client, "v1", "Namespace", new_ns) is None
    assert await live(client, "v1", "ConfigMap", "cfg", namespace) is None
    assert await live(client, "v1", "Service", "web", namespace) is None


async def test_every_invalid_object_is_named(manager: ResourceManager, namespace: str) -> None:
    bad_port = service(namespace, "bad")
    bad_port["spec"]["ports"][0]["port"] = 70000
    no_ns = configmap(namespace, "orphan", {})
    del no_ns["metadata"]["namespace"]
    unknown = {"apiVersion": "nowhere.example.com/v1", "kind": "Gadget",
               "metadata": {"name": "g", "namespace": namespace}}
    with pytest.raises(ApplyError) as info:
        await manager.apply_all_staged([bad_port, no_ns, unknown], FAST)
    assert sorted(info.value.errors) == sorted([
        "ConfigMap/orphan namespace not specified",
        f'Gadget/{namespace}/g dry-run failed: no matches for kind "Gadget" in version '
        '"nowhere.example.com/v1"',
        f'Service/{namespace}/bad dry-run failed (Invalid): Service "bad" is invalid: '
        "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
    ])


async def test_force_recreates_on_immutable_field(manager: ResourceManager, client: Objects,
                                                  namespace: str) -> None:
    await manager.apply_all_staged([deployment(namespace)], FAST)
    moved = deployment(namespace)
    moved["spec"]["selector"]["matchLabels"] = {"app": "web", "tier": "front"}
    moved["spec"]["template"]["metadata"]["labels"] = {"app": "web", "tier": "front"}
    mapping, desired = await manager.prepare(moved)
    probe = await manager.dry_run(mapping, desired, ApplyOptions())
    if probe.error is None:
        pytest.skip("the embedded cluster does not enforce the immutability of "
                    "Deployment.spec.selector yet")
    assert "field is immutable" in probe.error
    with pytest.raises(ApplyError) as info:
        await manager.apply_all_staged([moved], FAST)
    assert info.value.message.startswith(f"Deployment/{namespace}/web dry-run failed (Invalid)")
    old = await live(client, "apps/v1", "Deployment", "web", namespace)
    assert old is not None
    forced = copy.deepcopy(moved)
    forced["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/force": "enabled"}
    changes = await manager.apply_all_staged([forced], FAST)
    assert changes.to_map() == {f"Deployment/{namespace}/web": "created"}
    new = await live(client, "apps/v1", "Deployment", "web", namespace)
    assert new is not None
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert new["spec"]["selector"]["matchLabels"] == {"app": "web", "tier": "front"}
