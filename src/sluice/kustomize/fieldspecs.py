"""Field specs: where in which kinds a transformer writes.

kustomize's transformers are driven by tables of "field specs": a path like
``spec/template/metadata/labels`` plus the group/version/kind it applies to
and whether to create it when missing. A path walks maps by key and fans out
over every element of a list it meets (``volumeClaimTemplates[]`` says so
explicitly); ``\\/`` escapes a slash inside a key (annotation names). This
module holds the walker and kustomize's default tables, restated here as data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .resources import Resource, gvk_selected


@dataclass(frozen=True)
class FieldSpec:
    path: str
    kind: str = ""
    group: str = ""
    version: str = ""
    create: bool = False

    def selects(self, res: Resource) -> bool:
        group, version, kind = res.gvk
        return gvk_selected(
            group, version, kind, {"group": self.group, "version": self.version, "kind": self.kind}
        )

    def segments(self) -> list[str]:
        return split_path(self.path)


def split_path(path: str) -> list[str]:
    """Splits on ``/`` except where escaped as ``\\/``."""
    parts, current, i = [], "", 0
    while i < len(path):
        if path[i] == "\\" and i + 1 < len(path) and path[i + 1] == "/":
            current += "/"
            i += 2
            continue
        if path[i] == "/":
            parts.append(current)
            current = ""
        else:
            current += path[i]
        i += 1
    parts.append(current)
    return [p for p in parts if p]


Leaf = Callable[[dict[str, Any], str], None]


def walk(node: Any, segments: list[str], leaf: Leaf, create: bool = False) -> None:
    """Calls ``leaf(parent, key)`` for every place the path reaches."""
    if not segments or not isinstance(node, dict):
        return
    head = segments[0]
    key = head[:-2] if head.endswith("[]") else head
    if len(segments) == 1:
        if key in node or create:
            leaf(node, key)
        return
    child = node.get(key)
    if child is None:
        if not create:
            return
        child = node[key] = [] if head.endswith("[]") else {}
    if isinstance(child, list):
        for item in child:
            walk(item, segments[1:], leaf, create)
    elif isinstance(child, dict):
        walk(child, segments[1:], leaf, create)


def apply_specs(res: Resource, specs: list[FieldSpec], leaf: Leaf) -> None:
    for spec in specs:
        if spec.selects(res):
            walk(res.obj, spec.segments(), leaf, spec.create)


# --- default tables -------------------------------------------------------------

_TEMPLATED = [("Deployment", ""), ("ReplicaSet", ""), ("DaemonSet", ""), ("StatefulSet", "apps")]


def _template_meta(field: str) -> list[FieldSpec]:
    specs = [FieldSpec(f"metadata/{field}", create=True)]
    specs.append(
        FieldSpec(
            f"spec/template/metadata/{field}",
            kind="ReplicationController",
            version="v1",
            create=True,
        )
    )
    for kind, group in _TEMPLATED:
        specs.append(
            FieldSpec(f"spec/template/metadata/{field}", kind=kind, group=group, create=True)
        )
    if field == "labels":
        specs.append(
            FieldSpec(
                "spec/volumeClaimTemplates[]/metadata/labels",
                kind="StatefulSet",
                group="apps",
                create=True,
            )
        )
    specs.append(
        FieldSpec(f"spec/template/metadata/{field}", kind="Job", group="batch", create=True)
    )
    specs.append(
        FieldSpec(f"spec/jobTemplate/metadata/{field}", kind="CronJob", group="batch", create=True)
    )
    specs.append(
        FieldSpec(
            f"spec/jobTemplate/spec/template/metadata/{field}",
            kind="CronJob",
            group="batch",
            create=True,
        )
    )
    return specs


METADATA_LABELS = _template_meta("labels")
COMMON_ANNOTATIONS = _template_meta("annotations")

_AFFINITY = [
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
]

COMMON_LABELS: list[FieldSpec] = [
    FieldSpec("spec/selector", kind="Service", version="v1", create=True),
    FieldSpec("spec/selector", kind="ReplicationController", version="v1", create=True),
    FieldSpec("spec/selector/matchLabels", kind="Deployment", create=True),
    *[FieldSpec(p, kind="Deployment", group="apps") for p in _AFFINITY],
    FieldSpec("spec/selector/matchLabels", kind="ReplicaSet", create=True),
    FieldSpec("spec/selector/matchLabels", kind="DaemonSet", create=True),
    FieldSpec("spec/selector/matchLabels", kind="StatefulSet", group="apps", create=True),
    FieldSpec(
        "spec/volumeClaimTemplates[]/metadata/labels", kind="StatefulSet", group="apps", create=True
    ),
    *[FieldSpec(p, kind="StatefulSet", group="apps") for p in _AFFINITY],
    FieldSpec("spec/selector/matchLabels", kind="Job", group="batch"),
    FieldSpec("spec/jobTemplate/spec/selector/matchLabels", kind="CronJob", group="batch"),
    FieldSpec("spec/selector/matchLabels", kind="PodDisruptionBudget", group="policy"),
    FieldSpec("spec/podSelector/matchLabels", kind="NetworkPolicy", group="networking.k8s.io"),
    FieldSpec(
        "spec/ingress/from/podSelector/matchLabels", kind="NetworkPolicy", group="networking.k8s.io"
    ),
    FieldSpec(
        "spec/egress/to/podSelector/matchLabels", kind="NetworkPolicy", group="networking.k8s.io"
    ),
    *METADATA_LABELS,
]

TEMPLATE_LABELS = METADATA_LABELS

NAMESPACE_SPECS: list[FieldSpec] = [
    FieldSpec(
        "spec/service/namespace", kind="APIService", group="apiregistration.k8s.io", create=True
    ),
    FieldSpec(
        "spec/conversion/webhook/clientConfig/service/namespace",
        kind="CustomResourceDefinition",
        group="apiextensions.k8s.io",
    ),
    FieldSpec(
        "webhooks/clientConfig/service/namespace",
        kind="MutatingWebhookConfiguration",
        group="admissionregistration.k8s.io",
    ),
    FieldSpec(
        "webhooks/clientConfig/service/namespace",
        kind="ValidatingWebhookConfiguration",
        group="admissionregistration.k8s.io",
    ),
]

REPLICAS_SPECS = [
    FieldSpec("spec/replicas", kind=k, create=True)
    for k in ("Deployment", "ReplicationController", "ReplicaSet", "StatefulSet")
]


# --- name references: which fields of which kinds name an object of a kind -----

_POD_OWNERS = [
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("PodTemplate", "template/spec"),
]


def _pod_refs(paths: list[str], owners: list[tuple[str, str]]) -> list[FieldSpec]:
    specs = [FieldSpec(f"spec/{p}", kind="Pod", version="v1") for p in paths]
    for kind, prefix in owners:
        specs.extend(FieldSpec(f"{prefix}/{p}", kind=kind) for p in paths)
    return specs


_CM_PATHS = [
    "volumes/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "volumes/projected/sources/configMap/name",
]
_SECRET_PATHS = [
    "volumes/secret/secretName",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "volumes/projected/sources/secret/name",
]
_WORKLOADS = ["StatefulSet", "Deployment", "ReplicationController", "CronJob", "Job", "DaemonSet"]


def _workload_refs(leaf: str) -> list[FieldSpec]:
    specs = [FieldSpec(f"spec/{leaf}", kind="Pod")]
    for kind in _WORKLOADS:
        prefix = (
            "spec/jobTemplate/spec/template/spec" if kind == "CronJob" else "spec/template/spec"
        )
        specs.append(FieldSpec(f"{prefix}/{leaf}", kind=kind))
    return specs


@dataclass(frozen=True)
class NameRef:
    """Objects of ``kind`` (group/version) are named by these fields of referrers."""

    kind: str
    group: str
    version: str
    specs: tuple[FieldSpec, ...]


_RBAC = "rbac.authorization.k8s.io"
_HPA = FieldSpec("spec/scaleTargetRef/name", kind="HorizontalPodAutoscaler")

NAME_REFERENCES: list[NameRef] = [
    NameRef("Deployment", "", "", (_HPA,)),
    NameRef("ReplicationController", "", "", (_HPA,)),
    NameRef("ReplicaSet", "", "", (_HPA,)),
    NameRef("StatefulSet", "", "", (_HPA,)),
    NameRef(
        "ConfigMap",
        "",
        "v1",
        (
            *_pod_refs(_CM_PATHS, _POD_OWNERS),
            FieldSpec("spec/configSource/configMap", kind="Node"),
            FieldSpec("rules/resourceNames", kind="Role"),
            FieldSpec("rules/resourceNames", kind="ClusterRole"),
            FieldSpec(
                "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
                kind="Ingress",
            ),
        ),
    ),
    NameRef(
        "Secret",
        "",
        "v1",
        (
            *_pod_refs(_SECRET_PATHS, _POD_OWNERS),
            FieldSpec("spec/tls/secretName", kind="Ingress"),
            FieldSpec("metadata/annotations/ingress.kubernetes.io\\/auth-secret", kind="Ingress"),
            FieldSpec(
                "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret", kind="Ingress"
            ),
            FieldSpec(
                "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret", kind="Ingress"
            ),
            FieldSpec("imagePullSecrets/name", kind="ServiceAccount"),
            FieldSpec("parameters/secretName", kind="StorageClass"),
            FieldSpec("parameters/adminSecretName", kind="StorageClass"),
            FieldSpec("parameters/userSecretName", kind="StorageClass"),
            FieldSpec("parameters/secretRef", kind="StorageClass"),
            FieldSpec("rules/resourceNames", kind="Role"),
            FieldSpec("rules/resourceNames", kind="ClusterRole"),
            FieldSpec(
                "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
                kind="Service",
                group="serving.knative.dev",
                version="v1",
            ),
            FieldSpec("spec/azureFile/secretName", kind="PersistentVolume"),
        ),
    ),
    NameRef(
        "Service",
        "",
        "v1",
        (
            FieldSpec("spec/serviceName", kind="StatefulSet", group="apps"),
            FieldSpec("spec/rules/http/paths/backend/serviceName", kind="Ingress"),
            FieldSpec("spec/backend/serviceName", kind="Ingress"),
            FieldSpec("spec/rules/http/paths/backend/service/name", kind="Ingress"),
            FieldSpec("spec/defaultBackend/service/name", kind="Ingress"),
            FieldSpec("spec/service/name", kind="APIService", group="apiregistration.k8s.io"),
            FieldSpec(
                "webhooks/clientConfig/service",
                kind="ValidatingWebhookConfiguration",
                group="admissionregistration.k8s.io",
            ),
            FieldSpec(
                "webhooks/clientConfig/service",
                kind="MutatingWebhookConfiguration",
                group="admissionregistration.k8s.io",
            ),
            FieldSpec("spec/rules/backendRefs/name", kind="HTTPRoute"),
        ),
    ),
    NameRef("Role", _RBAC, "", (FieldSpec("roleRef/name", kind="RoleBinding", group=_RBAC),)),
    NameRef(
        "ClusterRole",
        _RBAC,
        "",
        (
            FieldSpec("roleRef/name", kind="RoleBinding", group=_RBAC),
            FieldSpec("roleRef/name", kind="ClusterRoleBinding", group=_RBAC),
        ),
    ),
    NameRef(
        "ServiceAccount",
        "",
        "v1",
        (
            FieldSpec("subjects", kind="RoleBinding", group=_RBAC),
            FieldSpec("subjects", kind="ClusterRoleBinding", group=_RBAC),
            *_workload_refs("serviceAccountName"),
        ),
    ),
    NameRef(
        "PersistentVolumeClaim",
        "",
        "v1",
        tuple(_workload_refs("volumes/persistentVolumeClaim/claimName")),
    ),
    NameRef(
        "PersistentVolume",
        "",
        "v1",
        (
            FieldSpec("spec/volumeName", kind="PersistentVolumeClaim"),
            FieldSpec("rules/resourceNames", kind="ClusterRole"),
        ),
    ),
    NameRef(
        "StorageClass",
        "storage.k8s.io",
        "v1",
        (
            FieldSpec("spec/storageClassName", kind="PersistentVolume"),
            FieldSpec("spec/storageClassName", kind="PersistentVolumeClaim"),
            FieldSpec("spec/volumeClaimTemplates/spec/storageClassName", kind="StatefulSet"),
        ),
    ),
    NameRef(
        "PriorityClass",
        "scheduling.k8s.io",
        "v1",
        tuple(_workload_refs("priorityClassName")),
    ),
    NameRef(
        "IngressClass",
        "networking.k8s.io/v1",
        "v1",
        (FieldSpec("spec/ingressClassName", kind="Ingress"),),
    ),
]
