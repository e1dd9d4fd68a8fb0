"""Structural schemas: pruning, defaulting and validation of custom resources.

A CustomResourceDefinition version carries an ``openAPIV3Schema``; the API
server uses it on every write of a custom resource, in this order:

1. :func:`prune` drops the fields the schema does not declare (and JSON nulls
   that a non-nullable field without a default cannot hold), reporting the
   dropped paths so that strict field validation can answer
   ``unknown field "spec.foo"``;
2. :func:`apply_defaults` fills absent fields from ``default``;
3. :func:`validate` checks what remains and returns one
   :class:`~sluice.apiserver.errors.Cause` per fault, worded the way
   kube-apiserver words them (``Invalid value: "ftp://x": spec.url in body
   should match '^(http|https|ssh)://'``, ``Required value``, ``Unsupported
   value: ...``), so that ``kubectl apply`` and Flux users see the messages
   they already know.

:func:`sluice.apiserver.schemas.crd_definition.validate_crd_definition` checks a
CustomResourceDefinition itself (names, scope, versions, and that each schema
is structural) before the server accepts it; it uses this module to check
defaults, never the other way round.

Known gaps, on purpose: ``x-kubernetes-validations`` (CEL rules) are not
evaluated, and are skipped silently; the ``isbn*`` and ``creditcard``
formats are not checked; validation ratcheting on update is not done.
Patterns use Go's RE2 syntax and are translated to Python's :mod:`re`
(see :mod:`sluice.apiserver.schemas.string_checks`); the checks of a CRD itself
live in :mod:`sluice.apiserver.schemas.crd_definition`.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, TypeGuard

from sluice.apiserver.errors import Cause
from sluice.apiserver.field_errors import (
    child,
    duplicate,
    go_quote,
    index,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)
from sluice.apiserver.schemas.jsonpath import go_number_text, to_text
from sluice.apiserver.schemas.string_checks import check_format, compile_pattern

__all__ = [
    "apply_defaults",
    "prune",
    "schema_for_version",
    "type_errors",
    "validate",
    "validate_status",
    "validate_value",
]

Schema = dict[str, Any]

# Fields every resource root keeps whatever its schema says.
_META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})

# ObjectMeta's fields: an embedded resource's metadata keeps these and no others.
_OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
    "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
    "labels", "annotations", "ownerReferences", "finalizers", "managedFields",
})


def schema_for_version(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The ``openAPIV3Schema`` of ``version`` of ``crd``, or None when it has none."""
    spec = crd.get("spec") or {}
    for entry in spec.get("versions") or []:
        if isinstance(entry, dict) and entry.get("name") == version:
            schema = (entry.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(schema, dict):
                return schema
            break
    # apiextensions v1beta1 kept one schema for all versions at spec.validation.
    shared = (spec.get("validation") or {}).get("openAPIV3Schema")
    return shared if isinstance(shared, dict) else None


# ------------------------------------------------------------------ schema helpers


def _props(s: Schema) -> dict[str, Schema]:
    props = s.get("properties")
    return props if isinstance(props, dict) else {}


def _items(s: Schema) -> Schema | None:
    items = s.get("items")
    return items if isinstance(items, dict) else None


def _flag(s: Schema, name: str) -> bool:
    return s.get(name) is True


def _has_default(s: Schema) -> bool:
    return s.get("default") is not None


# ------------------------------------------------------------------ pruning


def prune(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Drop, in place, what ``schema`` does not declare; return the dotted paths dropped.

    ``x-kubernetes-preserve-unknown-fields: true`` keeps unknown fields below
    it (declared ones are still pruned inside), and an embedded resource keeps
    ``apiVersion``, ``kind`` and its ObjectMeta fields. The root's
    ``apiVersion``, ``kind`` and ``metadata`` are never touched. Nulls in
    fields that are neither nullable nor defaulted are dropped too, as
    Kubernetes does, but not reported: they are not unknown fields.
    """
    removed: list[str] = []
    _prune(obj, schema, "", True, removed)
    _prune_nulls(obj, schema)
    return removed


def _prune(x: Any, s: Schema | None, path: str, resource_root: bool, removed: list[str]) -> None:
    if s is not None and not isinstance(s, dict):
        return  # a malformed schema node (e.g. ``true``): leave the data alone
    if s is not None and _flag(s, "x-kubernetes-preserve-unknown-fields"):
        _prune_declared_only(x, s, path, resource_root, removed)
        return
    if isinstance(x, dict):
        if s is None:
            removed.extend(child(path, k) for k in x)
            x.clear()
            return
        root_like = resource_root or _flag(s, "x-kubernetes-embedded-resource")
        props = _props(s)
        extra = s.get("additionalProperties")
        for key in list(x):
            here = child(path, key)
            if root_like and key in _META_FIELDS:
                if key == "metadata" and not resource_root:
                    _prune_object_meta(x[key], here, removed)
                continue
            if key in props:
                _prune(x[key], props[key], here, False, removed)
            elif isinstance(extra, dict):
                _prune(x[key], extra, here, False, removed)
            elif extra is True:
                continue
            else:
                removed.append(here)
                del x[key]
    elif isinstance(x, list):
        items = _items(s) if s is not None else None
        for i, item in enumerate(x):
            _prune(item, items, index(path, i), False, removed)


def _prune_declared_only(x: Any, s: Schema, path: str, resource_root: bool,
                         removed: list[str]) -> None:
    # Under preserve-unknown-fields, unknown keys stay but declared ones are
    # still pruned by their own schema.
    if isinstance(x, dict):
        root_like = resource_root or _flag(s, "x-kubernetes-embedded-resource")
        props = _props(s)
        extra = s.get("additionalProperties")
        for key, value in x.items():
            here = child(path, key)
            if root_like and key in _META_FIELDS:
                if key == "metadata" and not resource_root:
                    _prune_object_meta(value, here, removed)
                continue
            if key in props:
                _prune(value, props[key], here, False, removed)
            elif isinstance(extra, dict):
                _prune(value, extra, here, False, removed)
    elif isinstance(x, list):
        items = _items(s)
        if items is not None:
            for i, item in enumerate(x):
                _prune_declared_only(item, items, index(path, i), False, removed)


def _prune_object_meta(meta: Any, path: str, removed: list[str]) -> None:
    if isinstance(meta, dict):
        for key in [k for k in meta if k not in _OBJECT_META_FIELDS]:
            removed.append(child(path, key))
            del meta[key]


def _prune_nulls(x: Any, s: Schema | None) -> None:
    if not isinstance(s, dict):
        return
    if isinstance(x, dict):
        props = _props(s)
        extra = s.get("additionalProperties")
        for key in list(x):
            sub = props.get(key) if key in props else (extra if isinstance(extra, dict) else None)
            if sub is None:
                continue
            if x[key] is None and not _has_default(sub) and not _flag(sub, "nullable"):
                del x[key]
            else:
                _prune_nulls(x[key], sub)
    elif isinstance(x, list):
        items = _items(s)
        for item in x:
            _prune_nulls(item, items)


# ------------------------------------------------------------------ defaulting


def apply_defaults(obj: dict[str, Any], schema: dict[str, Any]) -> None:
    """Fill, in place, every absent field whose schema has a ``default``.

    A default applies only where the parent object exists; defaults declared
    inside a defaulted object then apply as well. A null in a non-nullable
    field counts as absent. Array items and ``additionalProperties`` values
    that are null take their schema's default.
    """
    _default(obj, schema)


def _default(x: Any, s: Schema | None) -> None:
    if not isinstance(s, dict):
        return
    if isinstance(x, dict):
        props = _props(s)
        for key, prop in props.items():
            if not isinstance(prop, dict) or not _has_default(prop):
                continue
            if key not in x or (x[key] is None and not _flag(prop, "nullable")):
                x[key] = copy.deepcopy(prop["default"])
        extra = s.get("additionalProperties")
        for key in list(x):
            if key in props:
                _default(x[key], props[key])
            elif isinstance(extra, dict):
                if x[key] is None and not _flag(extra, "nullable") and _has_default(extra):
                    x[key] = copy.deepcopy(extra["default"])
                _default(x[key], extra)
    elif isinstance(x, list):
        items = _items(s)
        if items is None:
            return
        for i in range(len(x)):
            if x[i] is None and not _flag(items, "nullable") and _has_default(items):
                x[i] = copy.deepcopy(items["default"])
            _default(x[i], items)


# ------------------------------------------------------------------ validation


def validate(obj: dict[str, Any], schema: dict[str, Any]) -> list[Cause]:
    """Check ``obj`` against ``schema``; one Cause per fault, in kube-apiserver's words.

    Run :func:`prune` and :func:`apply_defaults` first, as the API server
    does. Composite keywords (``anyOf``, ``oneOf``, ``allOf``, ``not``) are
    reported against the field that carries them. CEL rules
    (``x-kubernetes-validations``) are not evaluated.
    """
    return validate_value(obj, schema)


def validate_status(obj: dict[str, Any], schema: dict[str, Any]) -> list[Cause]:
    """What a write to the ``/status`` subresource is checked against: the status schema.

    kube-apiserver validates such a write against the status stanza's schema only
    (its CRD handler builds a separate validator for it); the rest of the object
    is the stored one, which the write cannot change.
    """
    status_schema = _props(schema).get("status")
    if "status" not in obj or not isinstance(status_schema, dict):
        return []
    return validate_value(obj["status"], status_schema, "status")


def type_errors(obj: dict[str, Any], schema: dict[str, Any]) -> list[Cause]:
    """The ``FieldValueTypeInvalid`` causes :func:`validate` would give, in its order.

    What decoding a built-in kind into its Go type refuses: a value of the wrong
    type, a null where one cannot be, a string not in its format. Only those
    checks are walked (the built-in kinds' other keywords are not enforced this
    way), except at composite keywords, which are checked whole and filtered.
    """
    out: list[Cause] = []
    _check_types(obj, schema, "", out)
    return out


def _check_types(value: Any, s: Any, path: str, out: list[Cause]) -> None:
    if not isinstance(s, dict):
        return
    if any(k in s for k in ("allOf", "anyOf", "oneOf", "not")):
        out.extend(c for c in _check(value, s, path) if c.reason == "FieldValueTypeInvalid")
        return
    if _wrong_type(value, s, path, out):
        return
    if isinstance(value, str):
        _check_format(value, s, path, path or ".", out)
    elif isinstance(value, list):
        items = _items(s)
        if items is not None:
            for i, item in enumerate(value):
                _check_types(item, items, index(path, i), out)
    elif isinstance(value, dict):
        props = _props(s)
        for key, prop in props.items():
            if key in value:
                _check_types(value[key], prop, child(path, key), out)
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in props:
                    _check_types(item, extra, child(path, key), out)


def validate_value(value: Any, schema: dict[str, Any], path: str = "") -> list[Cause]:
    """Like :func:`validate` for any JSON value; fields are reported below ``path``."""
    causes = _check(value, schema, path)
    _check_list_types(value, schema, path, causes)
    return causes


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_type(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "number":
        return _is_number(value)
    if expected == "integer":
        # JSON has one number type: Kubernetes accepts 3.0 where an integer is
        # expected, but never 3.5, and never true.
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    return True


def _expected_types(s: Schema) -> list[str]:
    if _flag(s, "x-kubernetes-int-or-string"):
        return ["integer", "string"]
    t = s.get("type")
    return [t] if isinstance(t, str) and t else []


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _wrong_type(value: Any, s: Schema, path: str, out: list[Cause]) -> bool:
    """Add the cause of a null or of a value of another type than declared; True if so
    (nothing else is checked then)."""
    types = _expected_types(s)
    name = path or "."
    if value is None:
        if not _flag(s, "nullable") and types:
            out.append(type_invalid(path, "null",
                                    f"{name} in body must be of type {','.join(types)}: \"null\""))
        return True
    if types and not any(_is_type(value, t) for t in types):
        actual = _type_name(value)
        out.append(type_invalid(path, actual,
                                f"{name} in body must be of type {','.join(types)}: {go_quote(actual)}"))
        return True
    return False


def _check(value: Any, s: Any, path: str) -> list[Cause]:
    if not isinstance(s, dict):
        return []
    out: list[Cause] = []
    name = path or "."
    if _wrong_type(value, s, path, out):
        return out
    enum = s.get("enum")
    if isinstance(enum, list) and enum and not any(_json_equal(value, e) for e in enum):
        supported = [e if isinstance(e, str) else _json_text(e) for e in enum]
        out.append(not_supported(path, value, supported))
    if isinstance(value, str):
        _check_string(value, s, path, name, out)
    elif _is_number(value):
        _check_number(value, s, path, name, out)
    elif isinstance(value, list):
        _check_array(value, s, path, name, out)
    elif isinstance(value, dict):
        _check_object(value, s, path, name, out)
    _check_composition(value, s, path, out)
    return out


def _check_string(value: str, s: Schema, path: str, name: str, out: list[Cause]) -> None:
    max_len = s.get("maxLength")
    if isinstance(max_len, int) and len(value) > max_len:
        out.append(too_long(path, max_len))
    min_len = s.get("minLength")
    if isinstance(min_len, int) and len(value) < min_len:
        out.append(invalid(path, value, f"{name} in body should be at least {min_len} chars long"))
    pattern = s.get("pattern")
    if isinstance(pattern, str):
        compiled = compile_pattern(pattern)
        # A malformed pattern was refused with the CRD, and one Python cannot
        # run is not checked.
        if isinstance(compiled, re.Pattern) and compiled.search(value) is None:
            out.append(invalid(path, value, f"{name} in body should match '{pattern}'"))
    _check_format(value, s, path, name, out)


def _check_format(value: str, s: Schema, path: str, name: str, out: list[Cause]) -> None:
    fmt = s.get("format")
    if isinstance(fmt, str) and fmt and not check_format(fmt, value):
        out.append(type_invalid(path, value,
                                f"{name} in body must be of type {fmt}: {go_quote(value)}"))


def _bound_text(bound: int | float) -> str:
    # kube-openapi keeps bounds as float64 and prints them with %v.
    return go_number_text(float(bound))


def _check_number(value: int | float, s: Schema, path: str, name: str, out: list[Cause]) -> None:
    factor = s.get("multipleOf")
    if _is_number(factor) and factor > 0:
        if isinstance(value, int) and isinstance(factor, int):
            ok = value % factor == 0
        else:
            quotient = value / factor
            ok = abs(quotient - round(quotient)) <= 1e-9 * max(1.0, abs(quotient))
        if not ok:
            out.append(invalid(path, value, f"{name} in body should be a multiple of {_bound_text(factor)}"))
    maximum = s.get("maximum")
    if _is_number(maximum):
        if _flag(s, "exclusiveMaximum") and value >= maximum:
            out.append(invalid(path, value, f"{name} in body should be less than {_bound_text(maximum)}"))
        elif value > maximum:
            out.append(invalid(path, value,
                               f"{name} in body should be less than or equal to {_bound_text(maximum)}"))
    minimum = s.get("minimum")
    if _is_number(minimum):
        if _flag(s, "exclusiveMinimum") and value <= minimum:
            out.append(invalid(path, value, f"{name} in body should be greater than {_bound_text(minimum)}"))
        elif value < minimum:
            out.append(invalid(path, value,
                               f"{name} in body should be greater than or equal to {_bound_text(minimum)}"))


def _check_array(value: list[Any], s: Schema, path: str, name: str, out: list[Cause]) -> None:
    max_items = s.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        out.append(too_many(path, len(value), max_items))
    min_items = s.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        out.append(invalid(path, len(value), f"{name} in body should have at least {min_items} items"))
    items = _items(s)
    if items is not None:
        for i, item in enumerate(value):
            out.extend(_check(item, items, index(path, i)))


def _check_object(value: dict[str, Any], s: Schema, path: str, name: str, out: list[Cause]) -> None:
    max_props = s.get("maxProperties")
    if isinstance(max_props, int) and len(value) > max_props:
        out.append(too_many(path, len(value), max_props))
    min_props = s.get("minProperties")
    if isinstance(min_props, int) and len(value) < min_props:
        out.append(invalid(path, len(value), f"{name} in body should have at least {min_props} properties"))
    for key in s.get("required") or []:
        if isinstance(key, str) and key not in value:
            out.append(required(child(path, key)))
    if _flag(s, "x-kubernetes-embedded-resource"):
        # An embedded object must say what it is, as any resource must.
        for key in ("apiVersion", "kind"):
            if key not in value:
                out.append(required(child(path, key), "must not be empty"))
    props = _props(s)
    for key, prop in props.items():
        if key in value:
            out.extend(_check(value[key], prop, child(path, key)))
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        for key, item in value.items():
            if key not in props:
                out.extend(_check(item, extra, child(path, key)))


def _composite(path: str, text: str) -> Cause:
    return invalid(path, "", f"{go_quote(path)} {text}")


def _fewest(results: list[list[Cause]]) -> list[Cause]:
    # Like kube-openapi, report the branch that came closest to passing.
    return min(results, key=len)


def _check_composition(value: Any, s: Schema, path: str, out: list[Cause]) -> None:
    all_of = s.get("allOf")
    if isinstance(all_of, list) and all_of:
        failures = [_check(value, sub, path) for sub in all_of]
        if any(failures):
            for f in failures:
                out.extend(f)
            out.append(_composite(path, "must validate all the schemas (allOf)"))
    any_of = s.get("anyOf")
    if isinstance(any_of, list) and any_of:
        results = [_check(value, sub, path) for sub in any_of]
        if all(results):
            out.append(_composite(path, "must validate at least one schema (anyOf)"))
            out.extend(_fewest(results))
    one_of = s.get("oneOf")
    if isinstance(one_of, list) and one_of:
        results = [_check(value, sub, path) for sub in one_of]
        passed = sum(1 for r in results if not r)
        if passed == 0:
            out.append(_composite(path, "must validate one and only one schema (oneOf). Found none valid"))
            out.extend(_fewest(results))
        elif passed > 1:
            out.append(_composite(
                path, f"must validate one and only one schema (oneOf). Found {passed} valid alternatives"))
    negated = s.get("not")
    if isinstance(negated, dict) and not _check(value, negated, path):
        out.append(_composite(path, "must not validate the schema (not)"))


def _check_list_types(x: Any, s: Any, path: str, out: list[Cause]) -> None:
    """``x-kubernetes-list-type`` set and map: each element, or each key, only once."""
    if not isinstance(s, dict):
        return
    if isinstance(x, dict):
        props = _props(s)
        extra = s.get("additionalProperties")
        for key, value in x.items():
            if key in props:
                _check_list_types(value, props[key], child(path, key), out)
            elif isinstance(extra, dict):
                _check_list_types(value, extra, child(path, key), out)
    elif isinstance(x, list):
        list_type = s.get("x-kubernetes-list-type")
        if list_type == "set":
            _check_set(x, path, out)
        elif list_type == "map":
            _check_map_list(x, [k for k in s.get("x-kubernetes-list-map-keys") or []
                                if isinstance(k, str)], path, out)
        items = _items(s)
        for i, item in enumerate(x):
            _check_list_types(item, items, index(path, i), out)


def _json_text(value: Any) -> str:
    text = to_text(value)
    return "null" if text is None else text


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _check_set(x: list[Any], path: str, out: list[Cause]) -> None:
    counts: dict[str, int] = {}
    for i, item in enumerate(x):
        key = _canonical(item)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 2:  # one error per duplicated value, at its second place
            out.append(duplicate(index(path, i), item))


def _check_map_list(x: list[Any], keys: list[str], path: str, out: list[Cause]) -> None:
    for i, item in enumerate(x):
        if item is not None and not isinstance(item, dict):
            out.append(invalid(index(path, i), item, "must be an object for an array of list-type map"))
            return
    seen: set[str] = set()
    for i, item in enumerate(x):
        if item is None:
            continue
        # Missing keys compare equal to each other, as in Kubernetes.
        identity = _canonical([[k in item, item.get(k)] for k in keys])
        if identity in seen:
            out.append(duplicate(index(path, i), item))
        else:
            seen.add(identity)

