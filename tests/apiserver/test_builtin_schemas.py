"""The built-in kinds' schemas carry the shapes and merge rules Kubernetes publishes.

Strategic merge patch, server-side apply and kubectl all read these: a wrong
merge key merges a user's containers or env vars wrongly, a missing type lets
bad objects in or keeps good ones out.
"""

from __future__ import annotations

from typing import Any

import pytest

from sluice.apiserver.schemas import builtin_markers, builtin_schemas
from sluice.apiserver.schemas.builtin_schemas import REF_PREFIX, definitions, schema_for
from sluice.apiserver.schemas.resources import BUILTINS


def _pod_spec() -> dict[str, Any]:
    deploy = schema_for("apps", "v1", "Deployment")
    assert deploy is not None
    return deploy["properties"]["spec"]["properties"]["template"]["properties"]["spec"]


def _container() -> dict[str, Any]:
    items: dict[str, Any] = _pod_spec()["properties"]["containers"]["items"]
    return items


def _walk(schema: Any) -> list[Any]:
    out = [schema]
    if isinstance(schema, dict):
        for value in schema.values():
            out += _walk(value)
    elif isinstance(schema, list):
        for value in schema:
            out += _walk(value)
    return out


@pytest.mark.parametrize("rt", BUILTINS, ids=lambda rt: f"{rt.group or 'core'}/{rt.kind}")
def test_every_builtin_kind_has_a_schema_naming_its_kind(rt: Any) -> None:
    schema = schema_for(rt.group, rt.version, rt.kind)
    assert schema is not None
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": rt.group, "kind": rt.kind, "version": rt.version}]
    assert {"apiVersion", "kind", "metadata"} <= set(schema["properties"])


def test_custom_and_lookalike_groups_have_no_builtin_schema() -> None:
    assert schema_for("source.toolkit.fluxcd.io", "v1", "GitRepository") is None
    # A CRD that reuses a built-in kind name in its own group is not the built-in.
    assert schema_for("apps.example.com", "v1", "Deployment") is None
    assert schema_for("apps", "v1", "DeploymentSpec") is None
    assert schema_for("apps", "v9", "Deployment") is None


def test_inlined_schema_has_no_references() -> None:
    schema = schema_for("apps", "v1", "Deployment")
    assert not [node for node in _walk(schema) if isinstance(node, dict) and "$ref" in node]


def test_containers_merge_by_name_and_env_by_name() -> None:
    containers = _pod_spec()["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    env = _container()["properties"]["env"]
    assert (env["x-kubernetes-patch-merge-key"], env["x-kubernetes-list-map-keys"]) == (
        "name", ["name"])
    mounts = _container()["properties"]["volumeMounts"]
    assert mounts["x-kubernetes-patch-merge-key"] == "mountPath"


def test_ports_are_keyed_by_port_and_protocol() -> None:
    ports = _container()["properties"]["ports"]
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    service = schema_for("", "v1", "Service")
    assert service is not None
    svc_ports = service["properties"]["spec"]["properties"]["ports"]
    assert svc_ports["x-kubernetes-patch-merge-key"] == "port"
    assert svc_ports["x-kubernetes-list-map-keys"] == ["port", "protocol"]


def test_volumes_retain_keys_and_tolerations_are_atomic() -> None:
    props = _pod_spec()["properties"]
    assert props["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert props["volumes"]["x-kubernetes-patch-merge-key"] == "name"
    assert props["tolerations"]["x-kubernetes-list-type"] == "atomic"
    assert "x-kubernetes-patch-strategy" not in props["tolerations"]
    assert props["imagePullSecrets"]["x-kubernetes-patch-merge-key"] == "name"
    deploy = schema_for("apps", "v1", "Deployment")
    assert deploy is not None
    strategy = deploy["properties"]["spec"]["properties"]["strategy"]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"


def test_object_meta_lists() -> None:
    meta = definitions()["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    assert meta["finalizers"]["x-kubernetes-list-type"] == "set"
    assert meta["finalizers"]["x-kubernetes-patch-strategy"] == "merge"
    owners = meta["ownerReferences"]
    assert (owners["x-kubernetes-patch-merge-key"], owners["x-kubernetes-list-map-keys"]) == (
        "uid", ["uid"])
    assert meta["labels"]["additionalProperties"] == {"type": "string"}


def test_conditions_merge_by_type_except_where_kubernetes_says_otherwise() -> None:
    defs = definitions()
    for status in ("io.k8s.api.apps.v1.DeploymentStatus", "io.k8s.api.core.v1.PodStatus",
                   "io.k8s.api.core.v1.NamespaceStatus"):
        conditions = defs[status]["properties"]["conditions"]
        assert conditions["x-kubernetes-patch-merge-key"] == "type", status
        assert conditions["x-kubernetes-list-map-keys"] == ["type"], status
    job = defs["io.k8s.api.batch.v1.JobStatus"]["properties"]["conditions"]
    assert job["x-kubernetes-list-type"] == "atomic"
    assert job["x-kubernetes-patch-merge-key"] == "type"


def test_selectors_and_references_are_atomic_structs() -> None:
    defs = definitions()
    assert defs["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"][
        "x-kubernetes-map-type"] == "atomic"
    assert defs["io.k8s.api.core.v1.LocalObjectReference"]["x-kubernetes-map-type"] == "atomic"
    assert "x-kubernetes-map-type" not in defs["io.k8s.api.core.v1.Container"]


def test_every_marked_field_exists_in_the_models() -> None:
    by_class: dict[str, set[str]] = {}
    for name, schema in definitions().items():
        by_class.setdefault(name.rsplit(".", 1)[-1], set()).update(schema.get("properties", {}))
    missing = [(owner, field) for owner, field in builtin_markers.marked_fields()
               if field not in by_class.get(owner, set())]
    assert not missing
    assert not [s for s in builtin_markers.ATOMIC_STRUCTS if s not in by_class]


def test_scalar_types() -> None:
    container = _container()["properties"]
    assert container["ports"]["items"]["properties"]["containerPort"]["type"] == "integer"
    assert container["image"]["type"] == "string"
    assert container["stdin"]["type"] == "boolean"
    limits = container["resources"]["properties"]["limits"]["additionalProperties"]
    # Quantities come as numbers (cpu: 0.5) or strings (memory: 1Gi).
    assert {"type": "number"} in limits["anyOf"] and {"type": "string"} in limits["anyOf"]
    deploy = schema_for("apps", "v1", "Deployment")
    assert deploy is not None
    rolling = deploy["properties"]["spec"]["properties"]["strategy"]["properties"][
        "rollingUpdate"]["properties"]
    assert rolling["maxSurge"]["x-kubernetes-int-or-string"] is True
    created = deploy["properties"]["metadata"]["properties"]["creationTimestamp"]
    assert (created["type"], created["format"]) == ("string", "date-time")
    revision = schema_for("apps", "v1", "ControllerRevision")
    assert revision is not None
    assert revision["properties"]["data"]["x-kubernetes-preserve-unknown-fields"] is True
    secret = schema_for("", "v1", "Secret")
    assert secret is not None
    assert secret["properties"]["data"]["additionalProperties"]["format"] == "byte"
    assert secret["properties"]["stringData"]["additionalProperties"] == {"type": "string"}


def test_required_fields_and_descriptions_come_from_the_models() -> None:
    defs = definitions()
    spec = defs["io.k8s.api.apps.v1.DeploymentSpec"]
    assert set(spec["required"]) == {"selector", "template"}
    assert defs["io.k8s.api.core.v1.Container"]["required"] == ["name"]
    assert "required" not in defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    assert defs["io.k8s.api.apps.v1.Deployment"]["description"].startswith(
        "Deployment enables declarative updates")
    replicas = spec["properties"]["replicas"]["description"]
    # Docstring lines that lightkube wrapped are joined back into one paragraph.
    assert "\n" not in replicas and replicas.startswith("Number of desired pods.")


def test_definitions_are_closed_and_name_kinds_as_kubernetes_does() -> None:
    defs = definitions()
    for name in ("io.k8s.api.apps.v1.Deployment", "io.k8s.api.core.v1.PodSpec",
                 "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                 "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
                 "io.k8s.apimachinery.pkg.api.resource.Quantity",
                 "io.k8s.api.autoscaling.v1.Scale", "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                 "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
                 "CustomResourceDefinition"):
        assert name in defs, name
    refs = {node["$ref"] for node in _walk(defs) if isinstance(node, dict) and "$ref" in node}
    assert all(ref.startswith(REF_PREFIX) for ref in refs)
    assert not {ref.removeprefix(REF_PREFIX) for ref in refs} - set(defs)
    kinds = {name for name, s in defs.items() if "x-kubernetes-group-version-kind" in s}
    assert "io.k8s.api.apps.v1.DeploymentList" in kinds
    assert "io.k8s.api.apps.v1.DeploymentSpec" not in kinds
    # A described reference is wrapped so that OpenAPI v3 keeps its description.
    template = defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"]
    assert template["allOf"] == [{"$ref": REF_PREFIX + "io.k8s.api.core.v1.PodTemplateSpec"}]


def test_model_class_maps_groups_to_lightkube_modules() -> None:
    cls = builtin_schemas.model_class("rbac.authorization.k8s.io", "v1", "ClusterRole")
    assert cls is not None
    assert builtin_schemas.definition_name(cls) == "io.k8s.api.rbac.v1.ClusterRole"
    core = builtin_schemas.model_class("", "v1", "Event")
    events = builtin_schemas.model_class("events.k8s.io", "v1", "Event")
    assert core is not None and events is not None and core is not events
