"""A small strategic-merge-patch engine with kustomize's list semantics.

kustomize merges a patch into an object with kyaml, which consults the
Kubernetes OpenAPI schema: lists that the schema marks ``patchStrategy:
merge`` (containers by ``name``, ports by ``containerPort``, volume mounts by
``mountPath``, finalizers, ...) are merged element by element, with the
patch's elements first, in patch order, then the object's remaining ones;
every other list, and every list of a kind the schema does not know (custom
resources), is replaced by the patch's list. ``null`` deletes a field,
``$patch: delete`` deletes a map or a list element, ``$patch: replace``
replaces a map or a list. The schema is restated below for the built-in kinds
a kustomization usually patches.
"""

from __future__ import annotations

import copy
from typing import Any

# A schema node is a dict of field name -> (kind, keys, child schema), where kind
# is "map" (child schema applies), "list" (merge by keys; elements use child
# schema) or "set" (a merged list of scalars).
Schema = dict[str, tuple[str, tuple[str, ...], Any]]

_META: Schema = {
    "finalizers": ("set", (), None),
    "ownerReferences": ("list", ("uid",), None),
}
_CONTAINER: Schema = {
    "ports": ("list", ("containerPort", "protocol"), None),
    "env": ("list", ("name",), None),
    "volumeMounts": ("list", ("mountPath",), None),
    "volumeDevices": ("list", ("devicePath",), None),
}
_POD_SPEC: Schema = {
    "containers": ("list", ("name",), _CONTAINER),
    "initContainers": ("list", ("name",), _CONTAINER),
    "ephemeralContainers": ("list", ("name",), _CONTAINER),
    "volumes": ("list", ("name",), None),
    "imagePullSecrets": ("list", ("name",), None),
    "hostAliases": ("list", ("ip",), None),
    "topologySpreadConstraints": ("list", ("topologyKey", "whenUnsatisfiable"), None),
    "schedulingGates": ("list", ("name",), None),
    "resourceClaims": ("list", ("name",), None),
}
_TEMPLATE: Schema = {"metadata": ("map", (), _META), "spec": ("map", (), _POD_SPEC)}


def _object(spec: Schema | None = None, **extra: Any) -> Schema:
    schema: Schema = {"metadata": ("map", (), _META)}
    if spec is not None:
        schema["spec"] = ("map", (), spec)
    schema.update(extra)
    return schema


_WORKLOAD = _object({"template": ("map", (), _TEMPLATE)})
_BUILTIN_GROUPS = {
    "", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io",
    "apiregistration.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io",
    "certificates.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
}  # fmt: skip
_KINDS: dict[str, Schema] = {
    "Pod": _object(_POD_SPEC),
    "PodTemplate": _object(None, template=("map", (), _TEMPLATE)),
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "DaemonSet": _WORKLOAD,
    "StatefulSet": _WORKLOAD,
    "ReplicationController": _WORKLOAD,
    "Job": _WORKLOAD,
    "CronJob": _object(
        {"jobTemplate": ("map", (), {"spec": ("map", (), {"template": ("map", (), _TEMPLATE)})})}
    ),
    "Service": _object({"ports": ("list", ("port", "protocol"), None)}),
    "ServiceAccount": _object(None, secrets=("list", ("name",), None)),
}


def schema_for(group: str, kind: str) -> Schema | None:
    """The merge schema of a kind; None for kinds the schema does not know."""
    if group not in _BUILTIN_GROUPS:
        return None
    return _KINDS.get(kind, _object())


_DELETE = object()


def _directive(node: dict[str, Any]) -> str:
    value = node.get("$patch")
    return value if isinstance(value, str) else ""


def _clean(node: Any) -> Any:
    """A patch value added where the object had none: directives and nulls dropped."""
    if isinstance(node, dict):
        if _directive(node) == "delete":
            return _DELETE
        out = {}
        for key, value in node.items():
            if key.startswith("$"):
                continue
            if value is None:
                continue
            cleaned = _clean(value)
            if cleaned is not _DELETE:
                out[key] = cleaned
        return out
    if isinstance(node, list):
        items = [i for i in node if not (isinstance(i, dict) and set(i) == {"$patch"})]
        return [c for c in (_clean(i) for i in items) if c is not _DELETE]
    return copy.deepcopy(node)


def merge(dest: Any, patch: Any, schema: Schema | None) -> Any:
    """Merges ``patch`` into ``dest`` (a copy is returned); ``_DELETE`` drops it."""
    if patch is None:
        return _DELETE
    if isinstance(patch, dict):
        directive = _directive(patch)
        if directive == "delete":
            return _DELETE
        if directive == "replace" or not isinstance(dest, dict):
            return _clean(patch)
        out = copy.deepcopy(dest)
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            field = schema.get(key) if schema else None
            if value is None:
                out.pop(key, None)
                continue
            if key not in out or out[key] is None:
                cleaned = _clean(value)
                if cleaned is not _DELETE:
                    out[key] = cleaned
                continue
            child: Any
            if isinstance(value, list) and isinstance(out[key], list) and field:
                if field[0] == "set":
                    child = _merge_set(out[key], value)
                elif field[0] == "list":
                    child = _merge_list(out[key], value, field[1], field[2])
                else:
                    child = _clean(value)
            elif isinstance(value, list):
                child = _replace_list(value)
            else:
                sub = field[2] if field and field[0] == "map" else None
                child = merge(out[key], value, sub)
            if child is _DELETE:
                out.pop(key, None)
            else:
                out[key] = child
        return out
    if isinstance(patch, list):
        return _replace_list(patch)
    return copy.deepcopy(patch)


def _list_directive(items: list[Any]) -> str:
    for item in items:
        if isinstance(item, dict) and set(item) == {"$patch"}:
            return str(item["$patch"])
    return ""


def _replace_list(patch: list[Any]) -> Any:
    if _list_directive(patch) == "delete":
        return _DELETE
    return _clean(patch)


def _merge_set(dest: list[Any], patch: list[Any]) -> Any:
    directive = _list_directive(patch)
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _clean(patch)
    out: list[Any] = []
    for value in [*patch, *dest]:
        if isinstance(value, dict) and set(value) == {"$patch"}:
            continue
        if value not in out:
            out.append(copy.deepcopy(value))
    return out


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _key_values(item: Any, keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_scalar_text(item.get(k)) for k in keys)


def _valid(keys: tuple[str, ...], values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = [(k, v) for k, v in zip(keys, values, strict=True) if v != ""]
    return pairs or list(zip(keys, values, strict=True))


def _find(items: list[Any], pairs: list[tuple[str, str]]) -> int:
    for i, item in enumerate(items):
        if isinstance(item, dict) and all(_scalar_text(item.get(k)) == v for k, v in pairs):
            return i
    return -1


def _merge_list(dest: list[Any], patch: list[Any], keys: tuple[str, ...], elem: Any) -> Any:
    directive = _list_directive(patch)
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _clean(patch)
    patch = [i for i in patch if not (isinstance(i, dict) and set(i) == {"$patch"})]
    order: list[tuple[str, ...]] = []
    for item in [*patch, *dest]:
        if isinstance(item, dict):
            values = _key_values(item, keys)
            if values not in order:
                order.append(values)
    remaining = list(dest)
    origin = {id(item): i for i, item in enumerate(dest)}
    result: list[Any] = []
    from_dest: list[int] = []  # original dest position of each result item, -1 if new
    multi_key = False
    for values in order:
        pairs = _valid(keys, values)
        multi_key = multi_key or len(pairs) > 1
        d_index = _find(remaining, pairs)
        p_index = _find(patch, pairs)
        d_item = remaining[d_index] if d_index >= 0 else None
        if p_index >= 0:
            merged = (
                merge(d_item, patch[p_index], elem)
                if d_item is not None
                else _clean(patch[p_index])
            )
        else:
            merged = copy.deepcopy(d_item)
        if merged is _DELETE or merged == {} or merged is None:
            if d_index >= 0:
                remaining.pop(d_index)
            continue
        for k, v in pairs:
            merged.setdefault(k, v)
        position = origin[id(d_item)] if d_item is not None else -1
        at = _find(result, pairs)
        if at >= 0:
            result[at] = merged
            from_dest[at] = position
        else:
            result.append(merged)
            from_dest.append(position)
    if multi_key:
        # Observed kyaml behaviour: once any element is matched on more than one
        # key (containerPort and protocol), the patch's new elements come first
        # and the object's elements keep their own order after them.
        new = [item for item, pos in zip(result, from_dest, strict=True) if pos < 0]
        old = sorted(
            ((pos, item) for item, pos in zip(result, from_dest, strict=True) if pos >= 0),
            key=lambda pair: pair[0],
        )
        result = new + [item for _pos, item in old]
    for item in dest:
        if not isinstance(item, dict):
            result.append(copy.deepcopy(item))
    return result


def is_deleted(value: Any) -> bool:
    return value is _DELETE
