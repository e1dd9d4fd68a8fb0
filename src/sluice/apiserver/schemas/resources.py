"""The catalogue of resource types the embedded cluster serves.

Kubernetes addresses everything by group, version and plural resource name;
clients learn the mapping to kinds through discovery. This module is that
mapping: the built-in kinds users apply from Git, and the custom kinds that
CustomResourceDefinitions add while the server runs. Discovery, OpenAPI,
the HTTP handlers and storage all read it, so a CRD becomes visible
everywhere at once when it is registered here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# The storage keys (group, plural) the server itself reads: CRDs register types,
# namespaces gate namespaced writes.
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/resource and what it can do."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False
    # (specReplicasPath, statusReplicasPath, labelSelectorPath) for the scale subresource.
    scale: tuple[str, str, str] | None = None
    verbs: tuple[str, ...] = ALL_VERBS
    storage_version: str = ""
    # The CRD that declared this type, when it is a custom resource.
    crd_name: str = ""
    singular_name: str = ""
    served_versions: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.singular_name or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def storage_key(self) -> tuple[str, str]:
        """Storage is per group/resource: every served version shares one set of objects."""
        return (self.group, self.plural)

    @property
    def is_custom(self) -> bool:
        return bool(self.crd_name)


def _rt(group: str, version: str, kind: str, plural: str, namespaced: bool = True,
        short: tuple[str, ...] = (), cats: tuple[str, ...] = (), status: bool = False,
        scale: tuple[str, str, str] | None = None,
        verbs: tuple[str, ...] = ALL_VERBS) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, short, cats, status, scale, verbs)


_REPLICAS = (".spec.replicas", ".status.replicas", ".status.selector")
_ALL = ("all",)

BUILTINS: tuple[ResourceType, ...] = (
    _rt("", "v1", "Namespace", "namespaces", False, ("ns",), status=True),
    _rt("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _rt("", "v1", "Secret", "secrets"),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _rt("", "v1", "Service", "services", short=("svc",), cats=_ALL, status=True),
    _rt("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _rt("", "v1", "Event", "events", short=("ev",)),
    _rt("", "v1", "Pod", "pods", short=("po",), cats=_ALL, status=True),
    _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), status=True),
    _rt("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), status=True),
    _rt("", "v1", "Node", "nodes", False, ("no",), status=True),
    _rt("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), status=True),
    _rt("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _rt("apps", "v1", "Deployment", "deployments", short=("deploy",), cats=_ALL, status=True,
        scale=_REPLICAS),
    _rt("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), cats=_ALL, status=True,
        scale=_REPLICAS),
    _rt("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), cats=_ALL, status=True,
        scale=_REPLICAS),
    _rt("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), cats=_ALL, status=True),
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _rt("batch", "v1", "Job", "jobs", cats=_ALL, status=True),
    _rt("batch", "v1", "CronJob", "cronjobs", short=("cj",), cats=_ALL, status=True),
    _rt("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), status=True),
    _rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",),
        status=True),
    _rt("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
        short=("hpa",), cats=_ALL, status=True),
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _rt("coordination.k8s.io", "v1", "Lease", "leases"),
    _rt("events.k8s.io", "v1", "Event", "events", short=("ev",)),
    _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
        False, ("crd", "crds"), status=True),
    _rt("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations", False),
    _rt("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations", False),
    _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
        False, verbs=("create",)),
)


@dataclass
class Catalogue:
    """Every served resource type, built-in and custom, indexed the ways requests need."""

    _by_gvr: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _generation: int = 0

    @classmethod
    def with_builtins(cls) -> Catalogue:
        cat = cls()
        for rt in BUILTINS:
            cat.add(rt)
        return cat

    @property
    def generation(self) -> int:
        """Moves whenever the set of served types changes (discovery caches key on it)."""
        return self._generation

    def add(self, rt: ResourceType) -> None:
        self._by_gvr[(rt.group, rt.version, rt.plural)] = rt
        self._generation += 1

    def remove_crd(self, crd_name: str) -> None:
        for key in [k for k, v in self._by_gvr.items() if v.crd_name == crd_name]:
            del self._by_gvr[key]
        self._generation += 1

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_gvr.values()))

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        """The preferred (storage) version's type for a group and kind."""
        found = [rt for rt in self if rt.group == group and rt.kind == kind]
        for rt in found:
            if not rt.storage_version or rt.storage_version == rt.version:
                return rt
        return found[0] if found else None

    def for_storage_key(self, group: str, plural: str) -> list[ResourceType]:
        return [rt for rt in self if rt.group == group and rt.plural == plural]

    def groups(self) -> dict[str, list[str]]:
        """Group name to its versions, preferred version first."""
        out: dict[str, list[str]] = {}
        for rt in self:
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                if rt.storage_version == rt.version:
                    versions.insert(0, rt.version)
                else:
                    versions.append(rt.version)
        return out


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    group = spec.get("group", "")
    storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")), "")
    served = tuple(v["name"] for v in spec.get("versions", []) if v.get("served", True))
    out: list[ResourceType] = []
    for ver in spec.get("versions", []):
        if not ver.get("served", True):
            continue
        sub = ver.get("subresources") or spec.get("subresources") or {}
        scale = None
        if "scale" in sub:
            s = sub["scale"] or {}
            scale = (s.get("specReplicasPath", ".spec.replicas"),
                     s.get("statusReplicasPath", ".status.replicas"),
                     s.get("labelSelectorPath", ""))
        out.append(ResourceType(
            group=group, version=ver["name"], kind=names.get("kind", ""),
            plural=names.get("plural", ""), namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            status="status" in sub, scale=scale, storage_version=storage,
            crd_name=crd.get("metadata", {}).get("name", ""),
            singular_name=names.get("singular", ""), served_versions=served,
        ))
    return out
