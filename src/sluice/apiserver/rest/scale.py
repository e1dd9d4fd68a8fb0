"""The ``/scale`` subresource: a Deployment's (or a scalable CRD's) replicas as a Scale.

``kubectl scale`` and autoscalers read and write ``autoscaling/v1`` Scale
objects rather than the object itself. The paths to the replicas, the status
replicas and the selector come from the resource type (built-in kinds, or a
CRD's ``subresources.scale``); a write goes through
:meth:`sluice.apiserver.rest.registry.Cluster.update` like any other, so it is
admitted, versioned and watched the same way. Reached from
:mod:`sluice.apiserver.rest.handlers`.
"""

from __future__ import annotations

from typing import Any

from sluice.apiserver.errors import BadRequest, Cause, Invalid
from sluice.apiserver.rest.patching import json_patch, merge_patch
from sluice.apiserver.rest.registry import JSON_PATCH, Cluster, WriteOptions
from sluice.apiserver.schemas.resources import ResourceType

__all__ = ["patch_scale", "scale_of", "set_scale"]

Obj = dict[str, Any]


def patch_scale(c: Cluster, rt: ResourceType, ns: str, name: str, ctype: str, body: Any,
                opts: WriteOptions) -> Obj:
    """PATCH on /scale: JSON patches apply as operations, the merge kinds as merges."""
    scale = scale_of(rt, c.get(rt, ns, name))
    if ctype == JSON_PATCH:
        patched = json_patch(scale, body)
    elif isinstance(body, dict):
        patched = merge_patch(scale, body)
    else:
        raise BadRequest("the patch for the scale subresource must be a JSON object")
    if not isinstance(patched, dict) or not isinstance(patched.get("spec", {}), dict):
        raise BadRequest("the patched Scale is not an object with a spec")
    return set_scale(c, rt, ns, name, patched, opts)


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale of ``obj``, read at the paths its type declares."""
    spec_path, status_path, selector_path = rt.scale or ("", "", "")

    def get(path: str) -> Any:
        cur: Any = obj
        for part in path.strip(".").split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        return cur

    selector = get(selector_path) if selector_path else None
    if isinstance(selector, dict):
        selector = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
    if selector is None and rt.group == "apps":
        sel = (obj.get("spec") or {}).get("selector") or {}
        selector = ",".join(f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items())
    meta = obj["metadata"]
    status: Obj = {"replicas": get(status_path) or 0}
    if selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": get(spec_path) or 0}, "status": status}


def set_scale(c: Cluster, rt: ResourceType, ns: str, name: str, scale: Obj,
              opts: WriteOptions) -> Obj:
    """PUT on /scale: the replicas written into the object, its new Scale returned."""
    obj = c.get(rt, ns, name)
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise Invalid("autoscaling", "Scale", name, [Cause(
            "spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")])
    want_rv = (scale.get("metadata") or {}).get("resourceVersion")
    if want_rv:
        obj["metadata"]["resourceVersion"] = want_rv
    cur: Any = obj
    parts = (rt.scale or (".spec.replicas", "", ""))[0].strip(".").split(".")
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = replicas
    updated = c.update(rt, ns, name, obj, opts)
    return scale_of(rt, updated)
