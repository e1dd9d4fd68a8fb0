"""Output order: kustomize's "legacy" sort, its default.

Kinds listed first (Namespaces, quotas, CRDs, RBAC, ConfigMaps, Services,
workloads, ...) come in that order, webhook configurations come last, and all
other kinds sit in between; ties are broken by the group/version/kind string,
then namespace, then name. The sort is stable. ``sortOptions: {order: fifo}``
keeps the accumulation order instead.
"""

from __future__ import annotations

from typing import Any

from .resources import Resource

ORDER_FIRST = [
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
    "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
    "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
    "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
]  # fmt: skip
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]


def _gvk_string(res: Resource) -> str:
    group, version, kind = res.gvk
    return f"{group or '~G'}_{version or '~V'}_{kind or '~K'}"


def sort_resources(
    resources: list[Resource], options: dict[str, Any] | None = None
) -> list[Resource]:
    options = options or {}
    if options.get("order") == "fifo":
        return list(resources)
    legacy = options.get("legacySortOptions") or {}
    first = list(legacy.get("orderFirst") or ORDER_FIRST)
    last = list(legacy.get("orderLast") or ORDER_LAST)
    rank: dict[str, int] = {}
    for i, kind in enumerate(first):
        rank[kind] = -len(first) + i
    for i, kind in enumerate(last):
        rank[kind] = 1 + i

    def key(res: Resource) -> tuple[int, str, str, str]:
        gvk = _gvk_string(res)
        # An empty namespace sorts after every named one, as kustomize spells it "~X".
        return (rank.get(res.kind, 0), gvk, res.namespace or "~X", res.name)

    return sorted(resources, key=key)
