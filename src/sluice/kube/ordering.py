"""Which object is which, and in what order a Kustomization applies them.

Flux's kustomize-controller does not apply a build's objects in file order. It
splits them into stages and applies each stage fully (and, for the first
two, waits for it to be ready) before the next, so that a custom resource
finds its CRD served and a Deployment finds its Namespace:

1. cluster definitions: CustomResourceDefinitions, Namespaces, ClusterRoles
   (waited for);
2. every kind whose name ends in ``Class`` (StorageClass, IngressClass,
   GatewayClass, PriorityClass...) (waited for);
3. the kinds an operator lists with ``--custom-apply-stage-kinds``
   (``group/Kind``, e.g. ``cert-manager.io/ClusterIssuer``);
4. everything else.

Inside a stage objects are sorted by kind, following Flux's reconcile order
(`RECONCILE_ORDER`: definitions and RBAC first, workloads after the
ConfigMaps and Secrets they mount, admission webhooks last so that they do
not intercept the objects applied with them); kinds the list does not name
sit between the named ones, alphabetically; ties go by namespace, then name.

`ObjectRef` is the identity every part of the apply machinery shares: the
``Kind/namespace/name`` subject of events and errors, and the
``<namespace>_<name>_<group>_<kind>`` id of a Kustomization's inventory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sluice.kube.mapping import split_api_version

__all__ = [
    "LAST_KINDS",
    "RECONCILE_ORDER",
    "ObjectRef",
    "Stage",
    "parse_stage_kinds",
    "sort_key",
    "sort_objects",
    "split_stages",
    "stage_of",
]

Obj = dict[str, Any]

# Flux's kind order (fluxcd/pkg/ssa sort.go), as listed in its documentation.
RECONCILE_ORDER: tuple[str, ...] = (
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
# Webhooks go last: applied earlier, they would be asked to admit their own set.
LAST_KINDS: tuple[str, ...] = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

_FIRST_INDEX = {kind: i for i, kind in enumerate(RECONCILE_ORDER)}
_LAST_INDEX = {kind: i for i, kind in enumerate(LAST_KINDS)}

# RBAC object names may contain ':' (system:controller:foo), which the
# inventory id could not split on; cli-utils (and so Flux) writes it as '__'.
_COLON = "__"


@dataclass(frozen=True, order=True)
class ObjectRef:
    """An object's identity: group, kind, namespace, name (+ the version it is served at).

    ``version`` is carried along to address the object but takes no part in
    identity: the same Deployment applied as ``apps/v1`` and later found in an
    inventory recorded under another version is still the same object.
    """

    group: str
    kind: str
    namespace: str
    name: str
    version: str = field(default="", compare=False)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        group, version = split_api_version(str(obj.get("apiVersion") or ""))
        return cls(group, str(obj.get("kind") or ""), str(meta.get("namespace") or ""),
                   str(meta.get("name") or ""), version)

    @classmethod
    def parse_id(cls, ident: str, version: str = "") -> ObjectRef:
        """Read an inventory id ``<namespace>_<name>_<group>_<kind>``.

        Raises ValueError when the id does not have the four fields.
        """
        parts = ident.split("_")
        # Names may hold '__' (an encoded ':'), so read the fixed fields from
        # both ends: namespace first, group and kind last, the name between.
        if len(parts) < 4:
            raise ValueError(f"invalid inventory id {ident!r}")
        namespace, group, kind = parts[0], parts[-2], parts[-1]
        name = "_".join(parts[1:-2]).replace(_COLON, ":")
        if not name or not kind:
            raise ValueError(f"invalid inventory id {ident!r}")
        return cls(group, kind, namespace, name, version)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def id(self) -> str:
        """The inventory id (``ns_name__Service`` for the core group)."""
        return "_".join((self.namespace, self.name.replace(":", _COLON), self.group, self.kind))

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity without the version."""
        return (self.group, self.kind, self.namespace, self.name)

    @property
    def subject(self) -> str:
        """``Kind/namespace/name``, or ``Kind/name`` when cluster-scoped, as Flux writes it."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def with_version(self, version: str) -> ObjectRef:
        return ObjectRef(self.group, self.kind, self.namespace, self.name, version)

    def __str__(self) -> str:
        return self.subject


class Stage(IntEnum):
    """Apply stages, in the order they run."""

    DEFINITIONS = 1
    CLASSES = 2
    CUSTOM = 3
    RESOURCES = 4

    @property
    def waits(self) -> bool:
        """Stages whose objects must be ready before the next stage starts."""
        return self in (Stage.DEFINITIONS, Stage.CLASSES)


def parse_stage_kinds(values: Iterable[str]) -> frozenset[tuple[str, str]]:
    """``--custom-apply-stage-kinds`` values (``group/Kind``, ``Kind`` for core) -> (group, kind)."""
    out: set[tuple[str, str]] = set()
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            group, _, kind = item.rpartition("/")
            if not kind:
                raise ValueError(f"invalid apply stage kind {item!r}: expected group/Kind")
            out.add((group, kind))
    return frozenset(out)


def _is_definition(group: str, kind: str) -> bool:
    return ((kind == "CustomResourceDefinition" and group == "apiextensions.k8s.io")
            or (kind == "Namespace" and group == "")
            or (kind == "ClusterRole" and group == "rbac.authorization.k8s.io"))


def stage_of(obj: Mapping[str, Any] | ObjectRef,
             custom_kinds: frozenset[tuple[str, str]] = frozenset()) -> Stage:
    ref = obj if isinstance(obj, ObjectRef) else ObjectRef.of(obj)
    if _is_definition(ref.group, ref.kind):
        return Stage.DEFINITIONS
    if ref.kind.endswith("Class"):
        return Stage.CLASSES
    if (ref.group, ref.kind) in custom_kinds:
        return Stage.CUSTOM
    return Stage.RESOURCES


def _kind_rank(kind: str) -> tuple[int, int, str]:
    if kind in _FIRST_INDEX:
        return (0, _FIRST_INDEX[kind], "")
    if kind in _LAST_INDEX:
        return (2, _LAST_INDEX[kind], "")
    return (1, 0, kind)


def sort_key(obj: Mapping[str, Any] | ObjectRef) -> tuple[tuple[int, int, str], str, str]:
    ref = obj if isinstance(obj, ObjectRef) else ObjectRef.of(obj)
    return (_kind_rank(ref.kind), ref.namespace, ref.name)


def sort_objects(objects: Iterable[Obj]) -> list[Obj]:
    """Objects in reconcile order (stable for equal keys)."""
    return sorted(objects, key=sort_key)


def split_stages(objects: Sequence[Obj],
                 custom_kinds: frozenset[tuple[str, str]] = frozenset()
                 ) -> list[tuple[Stage, list[Obj]]]:
    """The non-empty stages of ``objects``, in apply order, each sorted."""
    buckets: dict[Stage, list[Obj]] = {}
    for obj in objects:
        buckets.setdefault(stage_of(obj, custom_kinds), []).append(obj)
    return [(stage, sort_objects(buckets[stage])) for stage in sorted(buckets)]
