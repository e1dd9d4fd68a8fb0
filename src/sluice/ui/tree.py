"""A Kustomization's inventory as a tree down to ReplicaSets and Pods, with health.

The inventory (`status.inventory.entries`, Flux's `<ns>_<name>_<group>_<kind>`
ids) names what the Kustomization applied; workloads are then followed through
`ownerReferences` (Deployment -> ReplicaSet -> Pod, StatefulSet/DaemonSet/Job ->
Pod) so the ImagePullBackOff or CrashLoopBackOff that blocks a rollout is one
click away. HelmReleases have no inventory in Flux's status: their objects are
found by the labels helm-controller (and Sluice) put on them,
``helm.toolkit.fluxcd.io/name|namespace``. Health is kstatus's, the same
`compute_status` the controllers wait on.

Built on demand when a page asks for it (one list per child kind and
namespace), not kept live: inventories can be large and are rarely looked at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice.kube.errors import KubeError
from sluice.kube.health import compute_status
from sluice.kube.objects import Obj, Objects
from sluice.kube.ordering import ObjectRef

__all__ = ["TreeNode", "inventory_tree", "pod_problem"]

_CHILDREN = {"Deployment": "ReplicaSet", "ReplicaSet": "Pod", "StatefulSet": "Pod",
             "DaemonSet": "Pod", "Job": "Pod"}
_CHILD_API = {"ReplicaSet": "apps/v1", "Pod": "v1"}
_HELM_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
               ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "ServiceAccount"),
               ("batch/v1", "Job"))
MAX_NODES = 2000


@dataclass
class TreeNode:
    kind: str
    namespace: str
    name: str
    status: str
    message: str
    children: list[TreeNode] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


def pod_problem(pod: Mapping[str, Any]) -> str:
    """The waiting or terminated reason that keeps a Pod from running, if any."""
    status = pod.get("status") or {}
    for cs in [*(status.get("initContainerStatuses") or []),
               *(status.get("containerStatuses") or [])]:
        state = cs.get("state") or {}
        for phase in ("waiting", "terminated"):
            info = state.get(phase) or {}
            reason = info.get("reason")
            if reason and reason not in ("Completed", "ContainerCreating", "PodInitializing"):
                detail = info.get("message") or ""
                return f"{cs.get('name')}: {reason}" + (f": {detail}" if detail else "")
    return ""


def _node(obj: Obj) -> TreeNode:
    meta = obj.get("metadata") or {}
    health = compute_status(obj)
    message = health.message
    if obj.get("kind") == "Pod":
        message = pod_problem(obj) or message
    return TreeNode(str(obj.get("kind") or ""), str(meta.get("namespace") or ""),
                    str(meta.get("name") or ""), str(health.status), message)


class _Lister:
    """Lists of child kinds per namespace, fetched once per tree."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self._cache: dict[tuple[str, str], list[Obj]] = {}

    async def children(self, kind: str, namespace: str) -> list[Obj]:
        key = (kind, namespace)
        if key not in self._cache:
            try:
                mapping = await self.objects.mapping(_CHILD_API[kind], kind)
                self._cache[key], _ = await self.objects.list(mapping, namespace)
            except KubeError:
                self._cache[key] = []
        return self._cache[key]


async def _expand(lister: _Lister, obj: Obj, node: TreeNode, budget: list[int]) -> None:
    child_kind = _CHILDREN.get(node.kind)
    if child_kind is None or budget[0] <= 0:
        return
    uid = (obj.get("metadata") or {}).get("uid")
    for child in await lister.children(child_kind, node.namespace):
        owners = (child.get("metadata") or {}).get("ownerReferences") or []
        if any(o.get("uid") == uid for o in owners):
            budget[0] -= 1
            child_node = _node(child)
            node.children.append(child_node)
            await _expand(lister, child, child_node, budget)
    node.children.sort(key=lambda n: n.name)


async def _get(objects: Objects, ref: ObjectRef) -> Obj | None:
    try:
        mapping = await objects.mapping(ref.api_version or "v1", ref.kind)
        return await objects.get_or_none(mapping, ref.name, ref.namespace or None)
    except KubeError:
        return None


async def inventory_tree(objects: Objects, kind: str, obj: Mapping[str, Any]) -> list[TreeNode]:
    """The objects `obj` (a Kustomization or HelmRelease) manages, each with its children."""
    lister = _Lister(objects)
    budget = [MAX_NODES]
    found: list[tuple[Obj | None, ObjectRef]] = []
    if kind == "Kustomization":
        entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []
        refs = []
        for entry in entries:
            try:
                refs.append(ObjectRef.parse_id(str(entry.get("id")), str(entry.get("v") or "")))
            except ValueError:
                continue
        got = await asyncio.gather(*(_get(objects, r) for r in refs))
        found = list(zip(got, refs, strict=True))
    elif kind == "HelmRelease":
        meta = obj.get("metadata") or {}
        selector = (f"helm.toolkit.fluxcd.io/name={meta.get('name')},"
                    f"helm.toolkit.fluxcd.io/namespace={meta.get('namespace')}")
        for api_version, k in _HELM_KINDS:
            try:
                mapping = await objects.mapping(api_version, k)
                items, _ = await objects.list(mapping, None, label_selector=selector)
            except KubeError:
                continue
            found += [(item, ObjectRef.of(item)) for item in items]
    nodes = []
    for live, ref in found:
        if live is None:
            nodes.append(TreeNode(ref.kind, ref.namespace, ref.name, "NotFound",
                                  "Resource not found"))
            continue
        node = _node(live)
        await _expand(lister, live, node, budget)
        nodes.append(node)
    return nodes
