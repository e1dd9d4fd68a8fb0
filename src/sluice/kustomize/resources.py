"""Resources, their ids, and the ordered collection a build accumulates.

kustomize identifies an object by group, version, kind, namespace and name,
and remembers the ids an object had before a transformer renamed it (a name
prefix, a namespace, a hash suffix). Patches, generators with
``behavior: merge`` and name references all look objects up by any of those
ids, so an overlay can still say ``name: app`` after its base turned it into
``base-app``. ``Resource`` carries that history next to the object itself.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from sluice.core.splitting import split_selector

from .errors import IdConflict

# Kinds the API server stores without a namespace; everything else, custom
# kinds included, counts as namespaced (kustomize assumes the same).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterRole",
        "ClusterRoleBinding", "ComponentStatus", "CustomResourceDefinition", "FlowSchema",
        "IngressClass", "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume",
        "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass",
        "SelfSubjectAccessReview", "SelfSubjectRulesReview", "StorageClass", "SubjectAccessReview",
        "TokenReview", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration", "VolumeAttachment",
    }
)  # fmt: skip


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> ("apps", "v1"); ``v1`` -> ("", "v1")."""
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


@dataclass(frozen=True)
class ResId:
    """group/version/kind plus namespace and name, as kustomize's ResId."""

    group: str
    version: str
    kind: str
    name: str
    namespace: str

    @property
    def cluster_scoped(self) -> bool:
        return self.kind in CLUSTER_SCOPED_KINDS

    def ns_equals(self, other: ResId) -> bool:
        """Namespaces match, treating an empty namespace as ``default``."""
        return (self.namespace or "default") == (other.namespace or "default")

    def equals(self, other: ResId) -> bool:
        return (
            self.group == other.group
            and self.version == other.version
            and self.kind == other.kind
            and self.name == other.name
            and (self.cluster_scoped or self.ns_equals(other))
        )

    def effective_namespace(self) -> str:
        if self.cluster_scoped:
            return ""
        return self.namespace or "default"

    def describe(self) -> str:
        """kustomize's spelling of an id, e.g. ``Deployment.v1.apps/web.[noNs]``."""
        return (
            f"{self.kind}.{self.version or '[noVer]'}.{self.group or '[noGrp]'}/"
            f"{self.name}.{self.namespace or '[noNs]'}"
        )


def gvk_selected(group: str, version: str, kind: str, sel: dict[str, Any]) -> bool:
    """kustomize's Gvk.IsSelected: empty selector fields match anything."""
    if sel.get("group") and sel["group"] != group:
        return False
    if sel.get("version") and sel["version"] != version:
        return False
    return not (sel.get("kind") and sel["kind"] != kind)


@dataclass
class GeneratorInfo:
    """What a ConfigMap/Secret generator asked for, kept until hashes are added."""

    behavior: str = "create"
    hash_suffix: bool = True


@dataclass(eq=False)
class Resource:
    obj: dict[str, Any]
    source: str = ""
    prev_ids: list[ResId] = field(default_factory=list)
    generated: GeneratorInfo | None = None

    # --- accessors -----------------------------------------------------------
    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    @property
    def gvk(self) -> tuple[str, str, str]:
        group, version = split_api_version(self.api_version)
        return group, version, self.kind

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
            self.obj["metadata"] = meta
        return meta

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata")
        return str(meta.get("name") or "") if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str:
        meta = self.obj.get("metadata")
        return str(meta.get("namespace") or "") if isinstance(meta, dict) else ""

    def labels(self) -> dict[str, Any]:
        value = self.metadata.get("labels")
        return value if isinstance(value, dict) else {}

    def annotations(self) -> dict[str, Any]:
        value = self.metadata.get("annotations")
        return value if isinstance(value, dict) else {}

    def cur_id(self) -> ResId:
        group, version, kind = self.gvk
        return ResId(group, version, kind, self.name, self.namespace)

    def org_id(self) -> ResId:
        return self.prev_ids[0] if self.prev_ids else self.cur_id()

    def all_ids(self) -> list[ResId]:
        return [self.cur_id(), *self.prev_ids]

    def store_previous_id(self) -> None:
        self.prev_ids.append(self.cur_id())

    def set_name(self, name: str) -> None:
        self.metadata["name"] = name

    def set_namespace(self, namespace: str) -> None:
        self.metadata["namespace"] = namespace

    def copy(self) -> Resource:
        return Resource(
            copy.deepcopy(self.obj),
            self.source,
            list(self.prev_ids),
            copy.copy(self.generated),
        )


def matches_any_id(res: Resource, wanted: ResId) -> bool:
    return any(rid.equals(wanted) for rid in res.all_ids())


class ResMap:
    """The ordered list of resources of one kustomization layer."""

    def __init__(self, resources: list[Resource] | None = None) -> None:
        self.resources: list[Resource] = list(resources or [])

    def __iter__(self) -> Any:
        return iter(list(self.resources))

    def __len__(self) -> int:
        return len(self.resources)

    @staticmethod
    def _key(rid: ResId) -> tuple[str, str, str, str, str]:
        return (rid.group, rid.version, rid.kind, rid.name, rid.effective_namespace())

    def append(self, res: Resource) -> None:
        self.extend([res])

    def extend(self, resources: ResMap | list[Resource]) -> None:
        seen = {self._key(r.cur_id()) for r in self.resources}
        for res in resources:
            rid = res.cur_id()
            key = self._key(rid)
            if key in seen:
                raise IdConflict(
                    f"may not add resource with an already registered id: {rid.describe()}",
                    path=res.source or None,
                )
            seen.add(key)
            self.resources.append(res)

    def by_any_id(self, wanted: ResId) -> list[Resource]:
        return [r for r in self.resources if matches_any_id(r, wanted)]

    def remove(self, res: Resource) -> None:
        self.resources = [r for r in self.resources if r is not res]

    def replace(self, old: Resource, new: Resource) -> None:
        self.resources = [new if r is old else r for r in self.resources]


# --- label and annotation selectors -------------------------------------------

_REQ_RE = re.compile(
    r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=|\s+in\s+|\s+notin\s+)\s*(.*?))?\s*$"
)


def selector_matches(selector: str, values: dict[str, Any]) -> bool:
    """Kubernetes label-selector syntax (=, ==, !=, in, notin, exists, !exists)."""
    for requirement in split_selector(selector):
        m = _REQ_RE.match(requirement)
        if not m:
            raise ValueError(f"unable to parse requirement: {requirement!r}")
        negate, key, op, operand = m.group(1), m.group(2), (m.group(3) or "").strip(), m.group(4)
        present = key in values
        actual = str(values.get(key, ""))
        if not op:
            if present == bool(negate):
                return False
        elif op in ("=", "=="):
            if not present or actual != (operand or "").strip():
                return False
        elif op == "!=":
            if present and actual == (operand or "").strip():
                return False
        else:
            options = {o.strip() for o in (operand or "").strip().strip("()").split(",")}
            if op == "in" and (not present or actual not in options):
                return False
            if op == "notin" and present and actual in options:
                return False
    return True


def _full_match(pattern: str | None, value: str) -> bool:
    if not pattern:
        return True
    return re.fullmatch(f"(?:{pattern})", value) is not None


def select(resources: ResMap, target: dict[str, Any]) -> list[Resource]:
    """Resources matched by a patch/replacement target selector (regex on names)."""
    result = []
    for res in resources:
        cur, org = res.cur_id(), res.org_id()
        ns = target.get("namespace")
        if ns and not (
            _full_match(ns, org.effective_namespace()) or _full_match(ns, cur.effective_namespace())
        ):
            continue
        name = target.get("name")
        if name and not (_full_match(name, org.name) or _full_match(name, cur.name)):
            continue
        group, version, kind = res.gvk
        if not (
            _full_match(target.get("group"), group)
            and _full_match(target.get("version"), version)
            and _full_match(target.get("kind"), kind)
        ):
            continue
        if target.get("labelSelector") and not selector_matches(
            str(target["labelSelector"]), res.labels()
        ):
            continue
        if target.get("annotationSelector") and not selector_matches(
            str(target["annotationSelector"]), res.annotations()
        ):
            continue
        result.append(res)
    return result
