"""Strategic merge patch, as ``kubectl patch --type strategic`` and client-side apply send it.

A strategic merge patch is a JSON merge patch (maps merge, ``null`` deletes a
key) in which some lists merge instead of being replaced: the object's schema
marks them with ``x-kubernetes-patch-strategy: merge`` and, for lists of maps,
``x-kubernetes-patch-merge-key`` (a Pod's containers merge by ``name``, their
ports by ``containerPort``). The patch may also carry directives:

* ``$patch: replace`` / ``$patch: delete`` inside a map replaces or empties it;
  as a list element, ``{"$patch": "replace"}`` replaces the whole list and
  ``{"name": "x", "$patch": "delete"}`` removes the element with that key;
* ``$deleteFromPrimitiveList/<field>: [values]`` removes values from a merged
  list of scalars;
* ``$setElementOrder/<field>: [...]`` fixes the order of a merged list;
* ``$retainKeys: [keys]`` drops every key of the original map not listed
  (``x-kubernetes-patch-strategy: retainKeys``, e.g. a Deployment's strategy).

The embedded API server calls :func:`strategic_merge` for PATCH requests with
``application/strategic-merge-patch+json``; the schema comes from
``sluice.apiserver.schemas.builtin_schemas``. Without a schema every list is replaced,
which makes the patch behave as a JSON merge patch.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from sluice.apiserver.errors import ApiError, BadRequest

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_LIST = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"

Schema = dict[str, Any]


def strategic_merge(
    original: dict[str, Any], patch: dict[str, Any], schema: dict[str, Any] | None
) -> dict[str, Any]:
    """Return ``original`` with the strategic merge ``patch`` applied; neither input changes.

    Raises a 400 :class:`ApiError` when the patch is malformed (a list element
    without its merge key, an unknown ``$patch`` value, keys outside
    ``$retainKeys``).
    """
    if not isinstance(original, dict) or not isinstance(patch, dict):
        raise BadRequest("a strategic merge patch and its target must both be JSON objects")
    return _merge_map(copy.deepcopy(original), patch, _resolve(schema))


# --- schema look-ups -------------------------------------------------------------------


def _resolve(schema: Any) -> Schema | None:
    """The schema node itself, with a wrapping ``allOf`` folded in (OpenAPI v3 uses it
    to attach a description or default to a referenced type)."""
    if not isinstance(schema, dict):
        return None
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged: Schema = {}
    for part in parts:
        if isinstance(part, dict):
            merged.update(_resolve(part) or {})
    merged.update({k: v for k, v in schema.items() if k != "allOf"})
    return merged


def _field_schema(schema: Schema | None, name: str) -> Schema | None:
    if schema is None:
        return None
    props = schema.get("properties")
    if isinstance(props, dict) and name in props:
        return _resolve(props[name])
    extra = schema.get("additionalProperties")
    return _resolve(extra) if isinstance(extra, dict) else None


def _strategies(schema: Schema | None) -> list[str]:
    if schema is None:
        return []
    raw = schema.get("x-kubernetes-patch-strategy")
    return [s.strip() for s in raw.split(",")] if isinstance(raw, str) else []


def _list_merge_key(schema: Schema | None) -> tuple[bool, str | None]:
    """Whether a list merges, and by which key when its elements are maps."""
    if "merge" not in _strategies(schema):
        return False, None
    assert schema is not None
    key = schema.get("x-kubernetes-patch-merge-key")
    if isinstance(key, str) and key:
        return True, key
    # A hand-written schema may state the key only as a list-map key.
    keys = schema.get("x-kubernetes-list-map-keys")
    if isinstance(keys, list) and len(keys) == 1 and isinstance(keys[0], str):
        return True, keys[0]
    return True, None


# --- values ------------------------------------------------------------------------------


def _canon(value: Any) -> str:
    """A text that is equal for equal JSON values (so ``1`` and ``True`` differ)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _is_directive_key(key: str) -> bool:
    return key in (_PATCH, _RETAIN_KEYS) or key.startswith((_DELETE_FROM_LIST, _SET_ORDER))


def _clean(value: Any) -> Any:
    """A copy of a value taken whole from the patch: directives and ``null`` fields dropped,
    as the API server's decoding into typed objects drops them."""
    if isinstance(value, dict):
        return {
            k: _clean(v)
            for k, v in value.items()
            if v is not None and not (isinstance(k, str) and _is_directive_key(k))
        }
    if isinstance(value, list):
        return [
            _clean(v) for v in value if not (isinstance(v, dict) and _PATCH in v)
        ]
    return copy.deepcopy(value)


def _bad_directive(value: Any, where: Any) -> ApiError:
    return BadRequest(f"unknown patch type: {value} in {where}")


# --- maps ----------------------------------------------------------------------------------


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    """Merge ``patch`` into ``original`` (a private copy that may be changed in place)."""
    directive = patch.get(_PATCH)
    if directive is not None:
        if directive == "replace":
            replaced: dict[str, Any] = _clean(patch)
            return replaced
        if directive == "delete":
            return {}
        if directive != "merge":
            raise _bad_directive(directive, "map")
        # Kubernetes refuses an explicit "merge" in a map; it can only mean the
        # default behaviour, so it is accepted as such.

    retain = patch.get(_RETAIN_KEYS)
    if retain is not None:
        _apply_retain_keys(original, patch, retain)

    ordered = _apply_element_orders(original, patch, schema)

    # Deletions from primitive lists first, so that a value deleted and re-added
    # by the same patch ends up present.
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM_LIST):
            field = key[len(_DELETE_FROM_LIST):]
            current = original.get(field)
            if isinstance(current, list):
                if not isinstance(value, list):
                    raise BadRequest(f"{key} must be a list")
                gone = {_canon(v) for v in value}
                original[field] = [v for v in current if _canon(v) not in gone]

    for key, value in patch.items():
        if _is_directive_key(key) or key in ordered:
            continue
        if value is None:
            original.pop(key, None)
            continue
        sub = _field_schema(schema, key)
        if key not in original:
            if isinstance(value, dict) and value.get(_PATCH) == "delete":
                continue
            original[key] = _fresh(value, sub)
            continue
        current = original[key]
        if isinstance(current, dict) and isinstance(value, dict):
            if "replace" in _strategies(sub):
                original[key] = _clean(value)
            else:
                original[key] = _merge_map(current, value, sub)
        elif isinstance(current, list) and isinstance(value, list):
            original[key] = _merge_list(current, value, sub)
        else:
            original[key] = _clean(value)
    return original


def _fresh(value: Any, schema: Schema | None) -> Any:
    """A patch value for a key the original lacks: merged into an empty value of its own
    type, which strips directives and nulls the same way a merge would."""
    if isinstance(value, dict):
        return _merge_map({}, value, schema)
    if isinstance(value, list):
        return _merge_list([], value, schema)
    return copy.deepcopy(value)


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any], retain: Any) -> None:
    if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
        raise BadRequest("$retainKeys must be a list of field names")
    keep = set(retain)
    for key, value in patch.items():
        if value is None or _is_directive_key(key):
            continue
        if key not in keep:
            raise BadRequest(
                f"invalid patch format of retainKeys: field {key!r} is not in $retainKeys {retain}"
            )
    for key in list(original):
        if key not in keep:
            del original[key]


def _apply_element_orders(
    original: dict[str, Any], patch: dict[str, Any], schema: Schema | None
) -> set[str]:
    """Handle ``$setElementOrder/<field>``: merge that field's list now and put it in the
    given order. Returns the fields done, which the main merge then skips."""
    done: set[str] = set()
    for key, order in patch.items():
        if not key.startswith(_SET_ORDER):
            continue
        field = key[len(_SET_ORDER):]
        if not isinstance(order, list):
            raise BadRequest(f"{key} must be a list")
        sub = _field_schema(schema, field)
        current = original.get(field)
        patched = patch.get(field)
        if field in patch and not isinstance(patched, list):
            continue  # null or a scalar: the main merge deletes or replaces the field
        if isinstance(patched, list):
            merged = _merge_list(current if isinstance(current, list) else [], patched, sub)
        elif isinstance(current, list):
            merged = current
        else:
            continue
        _, merge_key = _list_merge_key(sub)
        if not any(isinstance(v, dict) for v in merged):
            merge_key = None
        server = current if isinstance(current, list) else []
        original[field] = _order(merged, order, server, merge_key)
        done.add(field)
    return done


# --- lists ---------------------------------------------------------------------------------


def _merge_list(original: list[Any], patch: list[Any], schema: Schema | None) -> list[Any]:
    merges, key = _list_merge_key(schema)
    if not merges:
        return [_clean(v) for v in patch if not (isinstance(v, dict) and _PATCH in v)]

    special = [v for v in patch if isinstance(v, dict) and _PATCH in v]
    plain = [v for v in patch if not (isinstance(v, dict) and _PATCH in v)]
    if not any(isinstance(v, dict) for v in original + plain):
        return _merge_scalars(original, plain, special)
    if key is None:
        raise BadRequest("cannot merge lists without merge key")

    items_schema = _resolve(schema.get("items")) if schema else None
    server = list(original)
    replace = False
    for element in special:
        directive = element[_PATCH]
        if directive == "delete":
            if key not in element:
                raise BadRequest(f"map: {element} does not contain declared merge key: {key}")
            doomed = _canon(element[key])
            server = [
                v for v in server
                if not (isinstance(v, dict) and key in v and _canon(v[key]) == doomed)
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            # Kubernetes rejects it; an element saying "merge" can only mean a plain element.
            rest = {k: v for k, v in element.items() if k != _PATCH}
            if key in rest:
                plain.append(rest)
        else:
            raise _bad_directive(directive, "list")
    if replace:
        return [_clean(v) for v in plain]

    merged = list(server)
    for element in plain:
        if not isinstance(element, dict):
            raise BadRequest(f"a list merged by {key!r} may only hold objects, not {element!r}")
        if key not in element:
            raise BadRequest(f"map: {element} does not contain declared merge key: {key}")
        wanted = _canon(element[key])
        for i, current in enumerate(merged):
            if isinstance(current, dict) and key in current and _canon(current[key]) == wanted:
                merged[i] = _merge_map(current, element, items_schema)
                break
        else:
            merged.append(_merge_map({}, element, items_schema))
    return _order(merged, plain, server, key)


def _merge_scalars(original: list[Any], plain: list[Any], special: list[dict[str, Any]]) -> list[Any]:
    """A merged list of scalars is the set union of both lists (first occurrence kept)."""
    for element in special:
        if element[_PATCH] == "replace":
            return [copy.deepcopy(v) for v in plain]
        if element[_PATCH] not in ("merge", "delete"):
            raise _bad_directive(element[_PATCH], "list")
    seen: set[str] = set()
    merged: list[Any] = []
    for value in original + plain:
        text = _canon(value)
        if text not in seen:
            seen.add(text)
            merged.append(copy.deepcopy(value))
    return _order(merged, plain, original, None)


def _order(merged: list[Any], wanted: list[Any], server: list[Any], key: str | None) -> list[Any]:
    """Order a merged list as the API server does.

    Elements named by the patch (or by ``$setElementOrder``) come in the patch's
    order; the other elements keep their order in the original list; the two
    runs are interleaved by the original positions. An element new to the
    object has no original position, so it is placed before the original
    element it is compared with: adding a container with a strategic patch puts
    it first, as on a real cluster.
    """

    def ident(value: Any) -> str:
        if key is not None and isinstance(value, dict):
            return _canon(value.get(key))
        return _canon(value)

    wanted_pos: dict[str, int] = {}
    for i, value in enumerate(wanted):
        if isinstance(value, dict) and value.get(_PATCH) == "delete":
            continue
        wanted_pos.setdefault(ident(value), i)
    server_pos: dict[str, int] = {}
    for i, value in enumerate(server):
        server_pos.setdefault(ident(value), i)

    named = [v for v in merged if ident(v) in wanted_pos]
    named.sort(key=lambda v: wanted_pos[ident(v)])
    others = [v for v in merged if ident(v) not in wanted_pos]
    others.sort(key=lambda v: server_pos.get(ident(v), len(server)))

    out: list[Any] = []
    i = j = 0
    while i < len(others) or j < len(named):
        if j >= len(named):
            out.append(others[i])
            i += 1
        elif i >= len(others):
            out.append(named[j])
            j += 1
        else:
            left = server_pos.get(ident(others[i]))
            right = server_pos.get(ident(named[j]))
            if left is not None and right is not None and left < right:
                out.append(others[i])
                i += 1
            else:
                out.append(named[j])
                j += 1
    return out
