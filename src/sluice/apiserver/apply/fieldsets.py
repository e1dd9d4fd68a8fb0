"""Field sets: which fields an object holds, as server-side apply counts them.

This is the structural half of :mod:`.managedfields` (Kubernetes keeps it in
structured-merge-diff). It walks a JSON object alongside its inlined OpenAPI
schema and answers: which field paths does the object set (:func:`fields_of`),
which paths differ between two objects (:func:`compare`), what is the merge of
a live object and an applied configuration (:func:`merge_values`), and how to
drop one path (:func:`remove_path`). The fieldsV1 encoding of a set is
:mod:`.fieldsv1`.

A path is a tuple of elements spelled as in fieldsV1: ``f:<field>``,
``k:<json of the key fields>`` for an item of a keyed list, ``v:<json>`` for
an item of a set, ``i:<n>`` for a positional item. Paths in a set are its
*members*: leaves (scalars, atomic lists and maps), every list item, map
fields that the schema does not declare (label keys, ConfigMap data keys,
anything under a schema-less node) and declared fields whose value is null or
``{}``. Granularity follows the schema: a list is atomic unless
``x-kubernetes-list-type`` (or, for built-ins, a ``merge`` patch strategy) says
``map``/``set``; a map is granular unless ``x-kubernetes-map-type: atomic``.
``metadata`` always follows ObjectMeta's real shape, whatever the schema says.
"""

from __future__ import annotations

import json
from typing import Any, Final

Path = tuple[str, ...]
Schema = dict[str, Any]


class _Missing:
    """Marks an absent value, unlike ``None`` which is JSON null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_STRING: Schema = {"type": "string"}
_LABELS: Schema = {"type": "object", "additionalProperties": _STRING}
# ObjectMeta as Kubernetes declares it, so that labels and annotations are granular
# maps, finalizers a set and ownerReferences a list keyed by uid even when a
# custom resource's schema only says ``metadata: {type: object}``.
_OBJECT_META: Schema = {
    "type": "object",
    "properties": {
        "name": _STRING, "generateName": _STRING, "namespace": _STRING, "selfLink": _STRING,
        "uid": _STRING, "resourceVersion": _STRING, "generation": {"type": "integer"},
        "creationTimestamp": _STRING, "deletionTimestamp": _STRING,
        "deletionGracePeriodSeconds": {"type": "integer"},
        "labels": _LABELS, "annotations": _LABELS,
        "finalizers": {"type": "array", "items": _STRING, "x-kubernetes-list-type": "set"},
        "ownerReferences": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["uid"],
            "items": {"type": "object", "properties": {
                "apiVersion": _STRING, "kind": _STRING, "name": _STRING, "uid": _STRING,
                "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"},
            }},
        },
        "managedFields": {"type": "array", "x-kubernetes-list-type": "atomic"},
    },
}

# Never recorded in a field set: type meta, the metadata node itself and the
# object's identity (Kubernetes strips exactly these) ...
_STRIPPED: frozenset[Path] = frozenset(
    {("f:apiVersion",), ("f:kind",), ("f:metadata",),
     ("f:metadata", "f:name"), ("f:metadata", "f:namespace")}
)
# ... and anything under what the server sets itself.
_SERVER_SET: frozenset[str] = frozenset(
    "f:" + name for name in ("managedFields", "resourceVersion", "uid", "creationTimestamp",
                             "generation", "selfLink", "deletionTimestamp", "clusterName")
)

# Defaults of list-map key fields that Kubernetes' OpenAPI states, for schemas that
# leave them out: every port list is keyed by a protocol that defaults to TCP.
_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


# --- schema -------------------------------------------------------------------------------------


def _resolve(schema: Any) -> Schema | None:
    """The schema node, with a wrapping single ``allOf`` folded in."""
    if not isinstance(schema, dict):
        return None
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged: Schema = {}
    for part in parts:
        merged.update(_resolve(part) or {})
    merged.update({k: v for k, v in schema.items() if k != "allOf"})
    return merged


def root_schema(schema: dict[str, Any] | None) -> Schema:
    """The schema to walk an object with: ``schema`` with ObjectMeta put in."""
    base = _resolve(schema) or {}
    props = base.get("properties")
    props = dict(props) if isinstance(props, dict) else {}
    props["metadata"] = _OBJECT_META
    return {**base, "properties": props}


def _field(schema: Schema | None, name: str) -> tuple[Schema | None, bool]:
    """The schema of a map's field, and whether the schema declares it by name."""
    if schema is None:
        return None, False
    props = schema.get("properties")
    if isinstance(props, dict) and name in props:
        return _resolve(props[name]), True
    return _resolve(schema.get("additionalProperties")), False


def _items(schema: Schema | None) -> Schema | None:
    return _resolve(schema.get("items")) if schema is not None else None


def _map_atomic(schema: Schema | None) -> bool:
    return schema is not None and schema.get("x-kubernetes-map-type") == "atomic"


def _list_kind(schema: Schema | None) -> tuple[str, tuple[str, ...]]:
    """``("atomic"|"map"|"set", map keys)`` for a list node."""
    if schema is None:
        return "atomic", ()
    merge_key = schema.get("x-kubernetes-patch-merge-key")
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or ([merge_key] if merge_key else [])
        return ("map", tuple(str(k) for k in keys)) if keys else ("set", ())
    if list_type in ("set", "atomic"):
        return str(list_type), ()
    # Built-in types without list markers: Kubernetes derives the list's kind from
    # its strategic-merge annotations.
    strategy = schema.get("x-kubernetes-patch-strategy")
    if isinstance(strategy, str) and "merge" in strategy.split(","):
        return ("map", (str(merge_key),)) if merge_key else ("set", ())
    return "atomic", ()


# --- values ---------------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys and Go's escaping, as fieldsV1 keys are written."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _item_element(item: Any, kind: str, keys: tuple[str, ...], items: Schema | None,
                  index: int) -> str:
    """The path element naming one item of a granular list."""
    if kind == "map" and isinstance(item, dict):
        props = (items or {}).get("properties") or {}
        key: dict[str, Any] = {}
        for name in keys:
            if item.get(name) is not None:
                key[name] = item[name]
            else:
                # A key field left out takes its schema default (a port's protocol is
                # TCP), as newer Kubernetes versions do.
                declared = _resolve(props.get(name)) or {}
                if "default" in declared:
                    key[name] = declared["default"]
                elif name in _KEY_DEFAULTS:
                    key[name] = _KEY_DEFAULTS[name]
        return "k:" + canonical_json(key) if key else f"i:{index}"
    return "v:" + canonical_json(item)


def _plain_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), check_circular=False)


def same_json(left: Any, right: Any) -> bool:
    """Whether two JSON values are the same JSON, as comparing their canonical forms says.

    Python's ``==`` alone is not enough: ``1``, ``1.0`` and ``true`` are equal for it
    but three different JSON values. So ``==`` (in C, and quick to say "different")
    comes first; values it finds equal are then told apart by type and, for
    containers, by their encodings (two encodings with the same key order are the
    same value; only a differing key order needs the canonical, sorted form).
    """
    if left is right:
        return True
    if left != right:
        return False
    kind = type(left)
    if kind is not type(right):
        return False
    if kind is str or kind is int or kind is bool or left is None:
        return True
    if kind is float:
        return canonical_json(left) == canonical_json(right)  # -0.0 is not 0.0
    return _plain_json(left) == _plain_json(right) or \
        canonical_json(left) == canonical_json(right)


def _category(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _strip_nulls(value: Any) -> Any:
    """A copy without null map fields: what a typed object keeps of them."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


# --- field sets --------------------------------------------------------------------------------


def tracked(path: Path, subresource: str = "", ignore_status: bool = False) -> bool:
    """Whether a path is recorded in managedFields for a write to ``subresource``."""
    if not path or path in _STRIPPED:
        return False
    if path[0] == "f:metadata" and len(path) > 1 and path[1] in _SERVER_SET:
        return False
    if subresource == "status":
        return path[0] == "f:status"
    return not (ignore_status and path[0] == "f:status")


def fields_of(obj: dict[str, Any], schema: dict[str, Any] | None, *, subresource: str = "",
              ignore_status: bool = False, strip: bool = True) -> set[Path]:
    """The field set of ``obj``: what an apply of ``obj`` claims.

    With ``strip`` (the default) paths never recorded in managedFields are left
    out (see :func:`tracked`).
    """
    out: set[Path] = set()
    _collect(obj, root_schema(schema), (), out)
    if strip:
        out = {p for p in out if tracked(p, subresource, ignore_status)}
    return out


def _collect(value: Any, schema: Schema | None, path: Path, out: set[Path]) -> None:
    if isinstance(value, dict):
        if _map_atomic(schema) and path:
            out.add(path)
            return
        for key, child in value.items():
            child_schema, declared = _field(schema, key)
            child_path = (*path, "f:" + key)
            _collect(child, child_schema, child_path, out)
            if not declared or child is None or child == {}:
                out.add(child_path)
    elif isinstance(value, list):
        kind, keys = _list_kind(schema)
        if kind == "atomic":
            out.add(path)
            return
        items = _items(schema)
        for index, item in enumerate(value):
            item_path = (*path, _item_element(item, kind, keys, items, index))
            _collect(item, items, item_path, out)
            out.add(item_path)
    else:
        out.add(path)


def named_field_closure(paths: set[Path], root: Schema) -> set[Path]:
    """``paths`` plus every schema-declared field above one of them.

    Owning ``.spec.replicas`` then also means owning ``.spec``, so that removing
    an unowned ``.spec.paused`` never removes ``.spec`` itself, while an
    undeclared map key or a list item stays owned only by name.
    """
    out = set(paths)
    for path in paths:
        schema: Schema | None = root
        for depth, element in enumerate(path[:-1]):
            if element.startswith("f:"):
                schema, declared = _field(schema, element[2:])
                if declared:
                    out.add(path[: depth + 1])
            else:
                schema = _items(schema)
    return out


# --- compare, merge, remove -----------------------------------------------------------------------


def compare(lhs: Any, rhs: Any, root: Schema) -> tuple[set[Path], set[Path], set[Path]]:
    """``(added, modified, removed)`` paths from ``lhs`` to ``rhs``.

    Leaves whose value changed are modified; a map, list or item that appears
    or disappears is added or removed along with everything inside it.
    """
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()

    def walk(left: Any, right: Any, schema: Schema | None, path: Path) -> None:
        # A null next to a map or list is an empty one that is there: its contents
        # are added or removed, not the node itself (so a Go slice that is null in
        # a built-in kind's empty object never shows as created).
        if left is None and isinstance(right, (dict, list)):
            left = type(right)()
        if right is None and isinstance(left, (dict, list)):
            right = type(left)()
        both = left is not MISSING and right is not MISSING
        if both and same_json(left, right):
            # Most of an update is unchanged: skip equal subtrees without walking them.
            return
        if both and _category(left) != _category(right):
            modified.add(path)
            for value, into in ((left, removed), (right, added)):
                inner: set[Path] = set()
                _collect(value, schema, path, inner)
                into.update(p for p in inner if p != path)
            return
        sample = right if right is not MISSING else left
        if isinstance(sample, dict) and not (_map_atomic(schema) and path):
            lmap = left if isinstance(left, dict) else {}
            rmap = right if isinstance(right, dict) else {}
            for key in [*lmap, *(k for k in rmap if k not in lmap)]:
                walk(lmap.get(key, MISSING), rmap.get(key, MISSING), _field(schema, key)[0],
                     (*path, "f:" + key))
        elif isinstance(sample, list) and _list_kind(schema)[0] != "atomic":
            litems = _index(left if isinstance(left, list) else [], schema)
            ritems = _index(right if isinstance(right, list) else [], schema)
            items = _items(schema)
            for element in [*litems, *(e for e in ritems if e not in litems)]:
                walk(litems.get(element, MISSING), ritems.get(element, MISSING), items,
                     (*path, element))
        elif both:
            modified.add(path)  # two different leaves (equal ones returned above)
            return
        if not path:
            return
        if left is MISSING:
            added.add(path)
        elif right is MISSING:
            removed.add(path)

    walk(lhs, rhs, root, ())
    return added, modified, removed


def _index(items: list[Any], schema: Schema | None) -> dict[str, Any]:
    """A granular list's items by path element (the first of duplicates wins)."""
    kind, keys = _list_kind(schema)
    item_schema = _items(schema)
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        out.setdefault(_item_element(item, kind, keys, item_schema, i), item)
    return out


def merge_values(lhs: Any, rhs: Any, schema: Schema | None) -> Any:
    """Apply's merge: ``rhs`` (the configuration) over ``lhs`` (the live value).

    Granular maps merge by key and granular lists by item; everything else is
    replaced. ``lhs`` may be reused in the result; ``rhs`` is copied.
    """
    if isinstance(lhs, dict) and isinstance(rhs, dict) and not _map_atomic(schema):
        out = dict(lhs)
        for key, value in rhs.items():
            child = _field(schema, key)[0]
            merged = merge_values(out[key], value, child) if key in out else _strip_nulls(value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        return out
    if isinstance(lhs, list) and isinstance(rhs, list) and _list_kind(schema)[0] != "atomic":
        return _merge_items(lhs, rhs, schema)
    return _strip_nulls(rhs)


def _merge_items(lhs: list[Any], rhs: list[Any], schema: Schema | None) -> list[Any]:
    """Merge two granular lists.

    Items only in the live list keep their place, items of the configuration
    come in the configuration's order, and an item present in both is merged
    where the configuration puts it relative to the other shared items.
    """
    kind, keys = _list_kind(schema)
    item_schema = _items(schema)
    lkeys = [_item_element(v, kind, keys, item_schema, i) for i, v in enumerate(lhs)]
    rkeys = [_item_element(v, kind, keys, item_schema, i) for i, v in enumerate(rhs)]
    duplicated = object()
    lseen: dict[str, Any] = {}
    for element, value in zip(lkeys, lhs, strict=True):
        lseen[element] = duplicated if element in lseen else value
    rseen = dict(zip(rkeys, rhs, strict=True))
    shared = [e for e in rkeys if e in lseen]

    def merged_item(element: str) -> Any:
        live = lseen.get(element, MISSING)
        if live is MISSING or live is duplicated:
            return _strip_nulls(rseen[element])
        return merge_values(live, rseen[element], item_schema)

    out: list[Any] = []
    done: set[str] = set()
    li = ri = si = 0
    while li < len(lkeys) or ri < len(rkeys):
        if li < len(lkeys) and ri < len(rkeys):
            element = lkeys[li]
            if element == rkeys[ri]:
                out.append(merged_item(element))
                done.add(element)
                li, ri, si = li + 1, ri + 1, si + 1
                continue
            if element in rseen and si < len(shared) and shared[si] != element:
                li += 1  # a shared item the configuration wants later
                continue
        if li < len(lkeys):
            element = lkeys[li]
            if element not in rseen:
                out.append(lhs[li])
                li += 1
                continue
            if element in done:
                li += 1
                continue
        if ri < len(rkeys):
            element = rkeys[ri]
            out.append(merged_item(element))
            done.add(element)
            ri += 1
            if si < len(shared) and shared[si] == element:
                si += 1
    return out


def remove_path(obj: Any, path: Path, schema: Schema | None) -> bool:
    """Remove the field or item at ``path`` from ``obj`` in place.

    A map or list emptied by the removal goes too (a typed object would drop it).
    Returns whether something was removed.
    """
    if not path:
        return False
    element, rest = path[0], path[1:]
    if isinstance(obj, dict) and element.startswith("f:"):
        name = element[2:]
        if name not in obj:
            return False
        if not rest:
            del obj[name]
            return True
        child = obj[name]
        if not remove_path(child, rest, _field(schema, name)[0]):
            return False
        if isinstance(child, (dict, list)) and not child:
            del obj[name]
        return True
    if isinstance(obj, list):
        kind, keys = _list_kind(schema)
        item_schema = _items(schema)
        for i, item in enumerate(obj):
            if _item_element(item, kind, keys, item_schema, i) != element:
                continue
            if not rest:
                del obj[i]
                return True
            if not remove_path(item, rest, item_schema):
                return False
            if isinstance(item, (dict, list)) and not item:
                del obj[i]
            return True
    return False


# --- order and text ----------------------------------------------------------------------------


def element_key(element: str) -> tuple[int, int, str]:
    """Kubernetes' order of path elements: fields, then keys, values, indexes."""
    rank = "fkvi".find(element[0])
    if element[0] == "i":
        return rank, int(element[2:]), ""
    return rank, 0, element[2:]


def path_order(path: Path) -> tuple[tuple[int, int, int, str], ...]:
    """Sort key listing a set as Kubernetes iterates it: at each level the members
    first, then the children, each in element order."""
    last = len(path) - 1
    return tuple((0 if i == last else 1, *element_key(e)) for i, e in enumerate(path))


def path_text(path: Path) -> str:
    """A path as conflict messages print it: ``.spec.containers[name="app"].image``."""
    parts: list[str] = []
    for element in path:
        kind, body = element[0], element[2:]
        if kind == "f":
            parts.append("." + body)
        elif kind == "k":
            key = json.loads(body)
            parts.append("[" + ",".join(f"{k}={_value_text(key[k])}" for k in sorted(key)) + "]")
        elif kind == "v":
            parts.append(f"[={_value_text(json.loads(body))}]")
        else:
            parts.append(f"[{body}]")
    return "".join(parts)


def _value_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_value_text(value[k])}" for k in sorted(value)) + "}"
    return str(value)
