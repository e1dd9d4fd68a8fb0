"""Kubernetes' list, map and patch markers for the built-in kinds.

Kubernetes declares in its Go types, with comment markers, how each list is
merged: by strategic merge patch (``patchStrategy``, ``patchMergeKey``) and by
server-side apply (``listType``, ``listMapKey``, ``mapType``, ``structType``).
The lightkube models that :mod:`builtin_schemas` reads carry none of that, so
this table restates the markers for the kinds Sluice serves, keyed by model
class name and JSON field name. :func:`field_markers` turns it into the
``x-kubernetes-*`` keys that OpenAPI documents and the patch machinery read.
Lists and maps without an entry are atomic for both, as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

Schema = dict[str, Any]

# Lists merged by key: owners, fields, key, patch strategy. The key "a+b" means
# patch merge key ``a`` and list-map keys ``[a, b]``; an empty strategy means
# server-side apply merges by key but strategic merge patch replaces the list.
_KEYED_LISTS: tuple[tuple[str, str, str, str], ...] = (
    ("PodSpec", "containers initContainers ephemeralContainers imagePullSecrets "
                "schedulingGates", "name", "merge"),
    ("PodSpec", "volumes resourceClaims", "name", "merge,retainKeys"),
    ("PodSpec", "hostAliases", "ip", "merge"),
    ("PodSpec", "topologySpreadConstraints", "topologyKey+whenUnsatisfiable", "merge"),
    ("Container EphemeralContainer", "env", "name", "merge"),
    ("Container EphemeralContainer", "ports", "containerPort+protocol", "merge"),
    ("Container EphemeralContainer", "volumeMounts", "mountPath", "merge"),
    ("Container EphemeralContainer", "volumeDevices", "devicePath", "merge"),
    ("ResourceRequirements", "claims", "name", ""),
    ("PodStatus", "podIPs", "ip", "merge"),
    ("PodStatus", "resourceClaimStatuses", "name", "merge,retainKeys"),
    ("ServiceSpec", "ports", "port+protocol", "merge"),
    ("ServiceAccount", "secrets", "name", "merge"),
    ("ObjectMeta", "ownerReferences", "uid", "merge"),
    ("NodeStatus", "addresses", "type", "merge"),
    ("MutatingWebhookConfiguration ValidatingWebhookConfiguration", "webhooks", "name", "merge"),
    ("MutatingWebhook ValidatingWebhook", "matchConditions", "name", "merge"),
    ("CustomResourceDefinitionStatus", "conditions", "type", ""),
)
# Every other list of ``conditions`` whose items have a ``type`` merges by it
# (Deployment, Pod, Node, Namespace, Service, PVC, PDB, HPA...): see field_markers.

# Lists of scalars merged as sets: owner -> (fields, patch strategy).
_SET_LISTS: dict[str, tuple[str, str]] = {
    "ObjectMeta": ("finalizers", "merge"),
    "NodeSpec": ("podCIDRs", "merge"),
    "Endpoint": ("addresses", ""),
    "PodFailurePolicyOnExitCodesRequirement": ("values", ""),
}

# Lists replaced whole by both patch styles, as Kubernetes declares them.
_ATOMIC_LISTS: dict[str, str] = {
    "ObjectMeta": "managedFields",
    "PodSpec": "tolerations readinessGates",
    "Container": "command args envFrom resizePolicy",
    "EphemeralContainer": "command args envFrom resizePolicy",
    "PodStatus": "containerStatuses initContainerStatuses ephemeralContainerStatuses hostIPs",
    "PodSecurityContext": "supplementalGroups sysctls",
    "Capabilities": "add drop",
    "ExecAction": "command",
    "HTTPGetAction": "httpHeaders",
    "PodAffinity": "requiredDuringSchedulingIgnoredDuringExecution "
                   "preferredDuringSchedulingIgnoredDuringExecution",
    "PodAntiAffinity": "requiredDuringSchedulingIgnoredDuringExecution "
                       "preferredDuringSchedulingIgnoredDuringExecution",
    "NodeAffinity": "preferredDuringSchedulingIgnoredDuringExecution",
    "PodAffinityTerm": "namespaces matchLabelKeys mismatchLabelKeys",
    "TopologySpreadConstraint": "matchLabelKeys",
    "NodeSelector": "nodeSelectorTerms",
    "NodeSelectorTerm": "matchExpressions matchFields",
    "NodeSelectorRequirement": "values",
    "LabelSelector": "matchExpressions",
    "LabelSelectorRequirement": "values",
    "ConfigMapVolumeSource": "items",
    "SecretVolumeSource": "items",
    "DownwardAPIVolumeSource": "items",
    "ConfigMapProjection": "items",
    "SecretProjection": "items",
    "DownwardAPIProjection": "items",
    "ProjectedVolumeSource": "sources",
    "ServiceSpec": "clusterIPs externalIPs ipFamilies loadBalancerSourceRanges",
    "ServiceAccount": "imagePullSecrets",
    "NamespaceSpec": "finalizers",
    "NodeSpec": "taints",
    "NodeStatus": "images volumesInUse volumesAttached",
    "PersistentVolumeClaimSpec": "accessModes",
    "PersistentVolumeSpec": "accessModes mountOptions",
    "Endpoints": "subsets",
    "EndpointSubset": "addresses notReadyAddresses ports",
    "ResourceQuotaSpec": "scopes",
    "LimitRangeSpec": "limits",
    "StatefulSetSpec": "volumeClaimTemplates",
    "CronJobStatus": "active",
    "PodFailurePolicy": "rules",
    "IngressSpec": "rules tls",
    "IngressTLS": "hosts",
    "HTTPIngressRuleValue": "paths",
    "NetworkPolicySpec": "ingress egress policyTypes",
    "NetworkPolicyIngressRule": "ports from",
    "NetworkPolicyEgressRule": "ports to",
    "IPBlock": "except",
    "Role": "rules",
    "ClusterRole": "rules",
    "RoleBinding": "subjects",
    "ClusterRoleBinding": "subjects",
    "AggregationRule": "clusterRoleSelectors",
    "PolicyRule": "verbs apiGroups resources resourceNames nonResourceURLs",
    "HorizontalPodAutoscalerSpec": "metrics",
    "HorizontalPodAutoscalerStatus": "currentMetrics",
    "HPAScalingRules": "policies",
    "EndpointSlice": "endpoints ports",
    "CustomResourceDefinitionSpec": "versions",
    "CustomResourceDefinitionNames": "shortNames categories",
    "CustomResourceDefinitionStatus": "storedVersions",
    "StorageClass": "mountOptions allowedTopologies",
    "MutatingWebhook": "rules",
    "ValidatingWebhook": "rules",
}

# Structs that server-side apply owns as one value (``+structType=atomic``).
ATOMIC_STRUCTS = frozenset({
    "LabelSelector", "NodeSelector", "NodeSelectorTerm", "OwnerReference", "ObjectReference",
    "LocalObjectReference", "TypedLocalObjectReference", "ConfigMapKeySelector",
    "SecretKeySelector", "ObjectFieldSelector", "ResourceFieldSelector", "SecretReference",
    "TopologySelectorTerm", "EndpointPort", "RoleRef",
})

# Anything else Kubernetes declares on one field.
_FIELD_EXTRAS: dict[tuple[str, str], Schema] = {
    ("DeploymentSpec", "strategy"): {"x-kubernetes-patch-strategy": "retainKeys"},
    ("ServiceSpec", "selector"): {"x-kubernetes-map-type": "atomic"},
    ("PodSpec", "nodeSelector"): {"x-kubernetes-map-type": "atomic"},
}


def _split_keys(spec: str) -> list[str]:
    return spec.split("+")


def _overlay() -> dict[tuple[str, str], Schema]:
    out: dict[tuple[str, str], Schema] = {}
    for owners, fields, key, strategy in _KEYED_LISTS:
        for owner in owners.split():
            for name in fields.split():
                keys = _split_keys(key)
                ext: Schema = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys}
                if strategy:
                    ext["x-kubernetes-patch-merge-key"] = keys[0]
                    ext["x-kubernetes-patch-strategy"] = strategy
                out[(owner, name)] = ext
    for owner, (fields, strategy) in _SET_LISTS.items():
        for name in fields.split():
            ext = {"x-kubernetes-list-type": "set"}
            if strategy:
                ext["x-kubernetes-patch-strategy"] = strategy
            out[(owner, name)] = ext
    for owner, fields in _ATOMIC_LISTS.items():
        for name in fields.split():
            out.setdefault((owner, name), {"x-kubernetes-list-type": "atomic"})
    # Job conditions are atomic for apply, yet strategic merge patch merges them by type.
    out[("JobStatus", "conditions")] = {
        "x-kubernetes-list-type": "atomic",
        "x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
    }
    for where, extra in _FIELD_EXTRAS.items():
        out.setdefault(where, {}).update(extra)
    return out


_OVERLAY = _overlay()


def marked_fields() -> list[tuple[str, str]]:
    """Every (model class, field) the table names; tests check each one exists."""
    return sorted(_OVERLAY)


def field_markers(owner: str, field: str, item_fields: Collection[str] = ()) -> Schema:
    """The ``x-kubernetes-*`` keys of one field of a model.

    ``item_fields`` names the fields of the list's item model, if the field is
    a list of objects: lists of conditions with a ``type`` merge by it.
    """
    found = _OVERLAY.get((owner, field))
    if found is not None:
        return dict(found)
    if field == "conditions" and "type" in item_fields:
        return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                "x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge"}
    return {}
