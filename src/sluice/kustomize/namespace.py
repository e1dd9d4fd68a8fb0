"""The ``namespace:`` transformer.

Every namespaced object gets ``metadata.namespace`` (cluster-scoped kinds are
left alone, but a Namespace object is renamed to the namespace), and so do the few fields that point at a namespace (an
APIService's or a webhook's service). RoleBinding subjects named ``default``
follow too, as kustomize's default ``setRoleBindingSubjects: defaultOnly``
does; subjects that name a ServiceAccount of the build are fixed later by the
name-reference pass.
"""

from __future__ import annotations

from typing import Any

from .errors import IdConflict
from .fieldspecs import NAMESPACE_SPECS, apply_specs
from .resources import ResMap


def apply_namespace(resources: ResMap, namespace: str) -> None:
    if not namespace:
        return

    def set_value(parent: dict[str, Any], key: str) -> None:
        parent[key] = namespace

    for res in resources:
        res.store_previous_id()
        if not res.cur_id().cluster_scoped:
            res.set_namespace(namespace)
        if res.kind == "Namespace" and res.gvk[0] == "":
            # kustomize's field specs include metadata/name of Namespace objects.
            res.set_name(namespace)
        if res.kind in ("RoleBinding", "ClusterRoleBinding"):
            subjects = res.obj.get("subjects")
            for subject in subjects if isinstance(subjects, list) else []:
                if isinstance(subject, dict) and subject.get("name") == "default":
                    subject["namespace"] = namespace
        apply_specs(res, NAMESPACE_SPECS, set_value)
    seen: dict[Any, Any] = {}
    for res in resources:
        rid = res.cur_id()
        key = (rid.group, rid.version, rid.kind, rid.name, rid.effective_namespace())
        if key in seen:
            raise IdConflict(
                f"namespace transformation produces ID conflict: {rid.describe()}",
                path=res.source or None,
            )
        seen[key] = res
