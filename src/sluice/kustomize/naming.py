"""Renaming objects and fixing the references to them.

``namePrefix``/``nameSuffix`` rename every object except Namespaces, CRDs
and APIServices, remembering the old id. At the very end of a build
(kustomize does it once, at the top level) ``fix_name_references`` walks the
fields known to name other objects (a pod's ConfigMap volume, a RoleBinding's
roleRef and ServiceAccount subjects, an HPA's target, ...) and rewrites those
that named an object by one of its old names. A reference is rewritten only
when exactly one object, reachable from the referrer's namespace, had that
name, as kustomize decides.
"""

from __future__ import annotations

from typing import Any

from .errors import BuildError
from .fieldspecs import NAME_REFERENCES, FieldSpec, NameRef, walk
from .resources import ResMap, Resource, gvk_selected

_NO_RENAME = (
    ("", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("", "Namespace"),
)


def _skips_rename(res: Resource) -> bool:
    org = res.org_id()
    return any(
        gvk_selected(org.group, org.version, org.kind, {"group": g, "kind": k})
        for g, k in _NO_RENAME
    )


def apply_prefix_suffix(resources: ResMap, prefix: str, suffix: str) -> None:
    for affix, is_prefix in ((prefix, True), (suffix, False)):
        if not affix:
            continue
        for res in resources:
            if _skips_rename(res):
                continue
            res.store_previous_id()
            res.set_name(affix + res.name if is_prefix else res.name + affix)


class _Pool:
    """The objects a referrer may name, indexed by their earlier names.

    A namespaced referrer reaches cluster-scoped objects, objects of its own
    namespace, and (for a RoleBinding) those in namespaces its ServiceAccount
    subjects name; a cluster-scoped referrer reaches everything.
    """

    def __init__(self, resources: ResMap) -> None:
        self.ids = {id(r): r.cur_id() for r in resources}
        self.by_prev_name: dict[str, list[Resource]] = {}
        for res in resources:
            for name in dict.fromkeys(p.name for p in res.prev_ids):
                self.by_prev_name.setdefault(name, []).append(res)

    def candidates(self, referrer: Resource, old_name: str) -> list[Resource]:
        found = self.by_prev_name.get(old_name, [])
        ref_id = self.ids[id(referrer)]
        if not found or ref_id.cluster_scoped:
            return list(found)
        namespaces = set()
        if referrer.kind == "RoleBinding":
            for subject in referrer.obj.get("subjects") or []:
                if (
                    isinstance(subject, dict)
                    and subject.get("kind") == "ServiceAccount"
                    and isinstance(subject.get("namespace"), str)
                ):
                    namespaces.add(subject["namespace"])
        out = []
        for res in found:
            rid = self.ids[id(res)]
            if rid.cluster_scoped or rid.ns_equals(ref_id) or rid.namespace in namespaces:
                out.append(res)
        return out


class _Fixer:
    def __init__(self, referrer: Resource, target: NameRef, spec: FieldSpec, pool: _Pool):
        self.referrer = referrer
        self.target = target
        self.spec = spec
        self.pool = pool

    def select(self, old_name: str, candidates: list[Resource]) -> Resource | None:
        sel = {"group": self.target.group, "version": self.target.version, "kind": self.target.kind}
        found = [r for r in candidates if any(p.name == old_name for p in r.prev_ids)]
        found = [
            r
            for r in found
            if any(gvk_selected(p.group, p.version, p.kind, sel) for p in r.prev_ids)
        ]
        if self.spec.path.endswith("roleRef/name"):
            role_ref = self.referrer.obj.get("roleRef")
            kind = role_ref.get("kind") if isinstance(role_ref, dict) else None
            found = [r for r in found if any(p.kind == kind for p in r.prev_ids)]
        ref_id = self.referrer.cur_id()
        if not ref_id.cluster_scoped:
            found = [
                r
                for r in found
                if r.cur_id().cluster_scoped
                or r.kind == "ServiceAccount"
                or ref_id.ns_equals(r.cur_id())
            ]
        if not found:
            return None
        if len(found) == 1 or len({r.name for r in found}) == 1:
            return found[0]
        ids = ", ".join(r.cur_id().describe() for r in found)
        raise BuildError(
            f"found multiple possible referrals for {old_name!r} in "
            f"{self.referrer.cur_id().describe()}: {ids}",
            path=self.referrer.source or None,
        )

    def scalar(self, parent: Any, key: Any) -> None:
        value = parent[key]
        if not isinstance(value, str):
            return
        referral = self.select(value, self.pool.candidates(self.referrer, value))
        if referral is not None and referral.name != value:
            parent[key] = referral.name

    def mapping(self, node: dict[str, Any]) -> None:
        # kustomize does not look at a subject's kind: any subject naming a
        # ServiceAccount of the build follows it, and gets its namespace.
        name = node.get("name")
        if not isinstance(name, str):
            return
        pool = self.pool.candidates(self.referrer, name)
        namespace = node.get("namespace")
        if "namespace" in node:
            wanted = str(namespace or "") or "default"
            pool = [r for r in pool if (r.org_id().namespace or "default") == wanted]
            if not pool:
                return
        referral = self.select(name, pool)
        if referral is None:
            return
        if referral.name == name and referral.namespace == (namespace or ""):
            return
        node["name"] = referral.name
        if referral.namespace:
            node["namespace"] = referral.namespace

    def leaf(self, parent: dict[str, Any], key: str) -> None:
        value = parent.get(key)
        if isinstance(value, str):
            self.scalar(parent, key)
        elif isinstance(value, dict):
            self.mapping(value)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    self.scalar(value, i)
                elif isinstance(item, dict):
                    self.mapping(item)


def fix_name_references(resources: ResMap) -> None:
    # Only a renamed object (prefix, suffix, a generator's hash) can be named by an
    # old name: a build that renamed nothing, as most plain folders of manifests,
    # has nothing to fix (and walking every reference field was half of its time).
    if not any(res.prev_ids for res in resources):
        return
    pool = _Pool(resources)
    for referrer in resources:
        for target in NAME_REFERENCES:
            for spec in target.specs:
                if spec.selects(referrer):
                    walk(referrer.obj, spec.segments(), _Fixer(referrer, target, spec, pool).leaf)
