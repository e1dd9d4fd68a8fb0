"""Checks of a CustomResourceDefinition itself, before the API server stores it.

A CRD is refused when its names do not fit together (``metadata.name`` must
be ``<plural>.<group>``, kinds and plurals must be DNS labels), when its scope
or versions are wrong (exactly one storage version, unique names), when a
printer column's JSONPath does not parse, or when a version's
``openAPIV3Schema`` is not *structural*: every field must say its type
(unless it preserves unknown fields or is int-or-string), the root must be
an object, ``anyOf``/``allOf``/``oneOf``/``not`` may only add value checks,
and each ``default`` must pass its own schema. The wording follows
kube-apiserver's, e.g. ``spec.versions[0].schema.openAPIV3Schema.properties[spec].type:
Required value: must not be empty for specified object fields``.

The registry calls :func:`validate_crd_definition` when a CRD is created or
updated. This module imports :mod:`sluice.apiserver.schemas.structural` (to check each
``default`` against its schema); structural never imports this one.
"""

from __future__ import annotations

import copy
from typing import Any

from sluice.apiserver.errors import Cause
from sluice.apiserver.field_errors import (
    child,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    type_invalid,
)
from sluice.apiserver.schemas.jsonpath import parse as parse_jsonpath
from sluice.apiserver.schemas.string_checks import (
    compile_pattern,
    dns1035_label_errors,
    dns1123_subdomain_errors,
)
from sluice.apiserver.schemas.structural import apply_defaults, prune, validate_value

__all__ = ["validate_crd_definition"]

Schema = dict[str, Any]

_SCHEMA_TYPES = ["array", "boolean", "integer", "number", "object", "string"]
_COLUMN_TYPES = ["boolean", "date", "integer", "number", "string"]
_COLUMN_FORMATS = ["byte", "date", "date-time", "double", "float", "int32", "int64", "password"]
_LIST_TYPES = ["atomic", "map", "set"]
_UNSUPPORTED_KEYWORDS = ("$ref", "$schema", "id", "definitions", "patternProperties",
                         "dependencies", "additionalItems")


def validate_crd_definition(crd: dict[str, Any]) -> list[Cause]:
    """Check a CustomResourceDefinition (apiextensions.k8s.io/v1) before it is stored.

    Expects the object as stored after defaulting: a missing
    ``names.singular`` or ``names.listKind`` is not an error (the server
    derives them from ``kind``).
    """
    out: list[Cause] = []
    meta = _obj(crd.get("metadata"))
    spec = _obj(crd.get("spec"))

    group = spec.get("group") or ""
    if not group:
        out.append(required("spec.group"))
    else:
        out.extend(invalid("spec.group", group, m) for m in dns1123_subdomain_errors(str(group)))
        if "." not in str(group):
            out.append(invalid("spec.group", group, "should be a domain with at least one dot"))

    names = _obj(spec.get("names"))
    plural = names.get("plural") or ""
    kind = names.get("kind") or ""
    if not plural:
        out.append(required("spec.names.plural"))
    else:
        out.extend(invalid("spec.names.plural", plural, m) for m in dns1035_label_errors(str(plural)))
    singular = names.get("singular")
    if singular:
        out.extend(invalid("spec.names.singular", singular, m)
                   for m in dns1035_label_errors(str(singular)))
    if not kind:
        out.append(required("spec.names.kind"))
    else:
        out.extend(invalid("spec.names.kind", kind, m) for m in dns1035_label_errors(str(kind).lower()))
    list_kind = names.get("listKind")
    if list_kind:
        out.extend(invalid("spec.names.listKind", list_kind, m)
                   for m in dns1035_label_errors(str(list_kind).lower()))
        if list_kind == kind:
            out.append(invalid("spec.names.listKind", list_kind, "kind and listKind may not be the same"))
    for i, short in enumerate(names.get("shortNames") or []):
        out.extend(invalid(f"spec.names.shortNames[{i}]", short, m)
                   for m in dns1035_label_errors(str(short)))

    if plural and group and meta.get("name") != f"{plural}.{group}":
        out.append(invalid("metadata.name", meta.get("name") or "",
                           'must be spec.names.plural+"."+spec.group'))

    scope = spec.get("scope")
    if not scope:
        out.append(required("spec.scope"))
    elif scope not in ("Namespaced", "Cluster"):
        out.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))

    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        out.append(required("spec.versions", "must have at least one version"))
        return out
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage") is True]
    if len(storage) != 1:
        out.append(invalid("spec.versions", len(storage),
                           "must have exactly one version marked as storage version"))
    seen: set[str] = set()
    for i, version in enumerate(versions):
        vpath = f"spec.versions[{i}]"
        if not isinstance(version, dict):
            out.append(type_invalid(vpath, _kind_of(version), "must be an object"))
            continue
        vname = version.get("name") or ""
        if not vname:
            out.append(required(f"{vpath}.name"))
        else:
            out.extend(invalid(f"{vpath}.name", vname, m) for m in dns1035_label_errors(str(vname)))
            if vname in seen:
                out.append(duplicate(f"{vpath}.name", vname))
            seen.add(str(vname))
        schema = _obj(version.get("schema")).get("openAPIV3Schema")
        spath = f"{vpath}.schema.openAPIV3Schema"
        if schema is None:
            out.append(required(spath, "schemas are required"))
        else:
            _check_schema(schema, spath, out, root=True)
        for j, column in enumerate(version.get("additionalPrinterColumns") or []):
            _check_printer_column(column, f"{vpath}.additionalPrinterColumns[{j}]", out)
    return out


def _check_printer_column(column: Any, path: str, out: list[Cause]) -> None:
    if not isinstance(column, dict):
        out.append(type_invalid(path, _kind_of(column), "must be an object"))
        return
    if not column.get("name"):
        out.append(required(child(path, "name")))
    ctype = column.get("type")
    if not ctype:
        out.append(required(child(path, "type")))
    elif ctype not in _COLUMN_TYPES:
        out.append(not_supported(child(path, "type"), ctype, _COLUMN_TYPES))
    fmt = column.get("format")
    if fmt and fmt not in _COLUMN_FORMATS:
        out.append(not_supported(child(path, "format"), fmt, _COLUMN_FORMATS))
    json_path = column.get("jsonPath")
    if not json_path:
        out.append(required(child(path, "jsonPath")))
        return
    try:
        parse_jsonpath(str(json_path))
    except ValueError:
        out.append(invalid(child(path, "jsonPath"), json_path, "must be a simple json path starting with ."))


def _check_schema(s: Any, path: str, out: list[Cause], *, root: bool = False,
                  position: str = "object fields", value_validation: bool = False,
                  in_int_or_string: bool = False) -> None:
    """Is the schema at ``path`` structural? Appends what is not."""
    if not isinstance(s, dict):
        out.append(type_invalid(path, _kind_of(s), "must be a schema object"))
        return
    for keyword in _UNSUPPORTED_KEYWORDS:
        if keyword in s:
            out.append(forbidden(child(path, keyword), f"{keyword} is not supported"))
    if s.get("uniqueItems") is True:
        out.append(forbidden(child(path, "uniqueItems"),
                             "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    if value_validation:
        _check_value_validation(s, path, out, in_int_or_string)
    else:
        _check_structural_node(s, path, out, root=root, position=position)

    pattern = s.get("pattern")
    if isinstance(pattern, str):
        compiled = compile_pattern(pattern)
        if isinstance(compiled, str):
            out.append(invalid(child(path, "pattern"), pattern,
                               f"must be a valid regular expression, but isn't: {compiled}"))

    for key, prop in _props(s).items():
        _check_schema(prop, f"{path}.properties[{key}]", out,
                      value_validation=value_validation, in_int_or_string=False)
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        _check_schema(extra, f"{path}.additionalProperties", out, value_validation=value_validation)
    items = s.get("items")
    if isinstance(items, dict):
        _check_schema(items, f"{path}.items", out, position="array items",
                      value_validation=value_validation)
    elif items is not None:
        out.append(forbidden(child(path, "items"), "items must be a schema object and not an array"))
    int_or_string = in_int_or_string or _flag(s, "x-kubernetes-int-or-string")
    for keyword in ("allOf", "anyOf", "oneOf"):
        branches = s.get(keyword)
        if isinstance(branches, list):
            for i, branch in enumerate(branches):
                _check_schema(branch, f"{path}.{keyword}[{i}]", out, value_validation=True,
                              in_int_or_string=int_or_string)
    if isinstance(s.get("not"), dict):
        _check_schema(s["not"], f"{path}.not", out, value_validation=True)

    if not value_validation and _has_default(s):
        _check_default(s, path, out)


def _check_structural_node(s: Schema, path: str, out: list[Cause], *, root: bool, position: str) -> None:
    stype = s.get("type")
    preserve = s.get("x-kubernetes-preserve-unknown-fields")
    int_or_string = _flag(s, "x-kubernetes-int-or-string")
    embedded = _flag(s, "x-kubernetes-embedded-resource")
    tpath = child(path, "type")
    if stype and stype not in _SCHEMA_TYPES:
        out.append(not_supported(tpath, stype, _SCHEMA_TYPES))
    if root:
        if not stype:
            out.append(required(tpath, "must not be empty at the root"))
        elif stype != "object":
            out.append(invalid(tpath, stype, "must be object at the root"))
        if _flag(s, "nullable"):
            out.append(forbidden(child(path, "nullable"), "must be false at the root"))
        meta = _props(s).get("metadata")
        if isinstance(meta, dict):
            extra_meta = sorted(k for k in _props(meta) if k not in ("name", "generateName"))
            if extra_meta or meta.get("type") not in (None, "object"):
                out.append(forbidden(f"{path}.properties[metadata]",
                                     "must not specify anything other than name and generateName, "
                                     "but metadata is implicitly specified"))
    elif not stype and preserve is not True and not int_or_string:
        out.append(required(tpath, f"must not be empty for specified {position}"))
    if preserve is False:
        out.append(invalid(child(path, "x-kubernetes-preserve-unknown-fields"), False,
                           "must be true or undefined"))
    if int_or_string and stype:
        out.append(invalid(tpath, stype, "must be empty if x-kubernetes-int-or-string is true"))
    if embedded and stype != "object":
        out.append(invalid(tpath, stype or "", "must be object if x-kubernetes-embedded-resource is true"))
    if stype == "array" and not isinstance(s.get("items"), dict):
        out.append(required(child(path, "items"), "must be specified"))
    if _props(s) and isinstance(s.get("additionalProperties"), dict):
        out.append(forbidden(child(path, "additionalProperties"),
                             "additionalProperties and properties are mutual exclusive"))
    list_type = s.get("x-kubernetes-list-type")
    keys = s.get("x-kubernetes-list-map-keys")
    if list_type is not None:
        if list_type not in _LIST_TYPES:
            out.append(not_supported(child(path, "x-kubernetes-list-type"), list_type, _LIST_TYPES))
        elif stype != "array":
            out.append(invalid(child(path, "x-kubernetes-list-type"), list_type,
                               "must only be used if type is array"))
        if list_type == "map" and not keys:
            out.append(required(child(path, "x-kubernetes-list-map-keys"),
                                "must not be empty if x-kubernetes-list-type is map"))
    if keys and list_type != "map":
        out.append(forbidden(child(path, "x-kubernetes-list-map-keys"),
                             "requires x-kubernetes-list-type: map"))


def _check_value_validation(s: Schema, path: str, out: list[Cause], in_int_or_string: bool) -> None:
    # Inside anyOf/allOf/oneOf/not only value checks may appear; what shapes
    # the data (type, defaults, extensions) belongs to the structural part.
    stype = s.get("type")
    if stype and not (in_int_or_string and stype in ("integer", "string")):
        out.append(forbidden(child(path, "type"), "must be empty to be structural"))
    if "default" in s:
        out.append(forbidden(child(path, "default"), "must be undefined to be structural"))
    if "additionalProperties" in s:
        out.append(forbidden(child(path, "additionalProperties"), "must be undefined to be structural"))
    for flag in ("nullable", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
                 "x-kubernetes-int-or-string"):
        if _flag(s, flag):
            out.append(forbidden(child(path, flag), "must be false to be structural"))
    for ext in ("x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type"):
        if ext in s:
            out.append(forbidden(child(path, ext), "must be undefined to be structural"))


def _check_default(s: Schema, path: str, out: list[Cause]) -> None:
    # A default must survive pruning unchanged and pass its own schema, since
    # it will be written into objects that then get validated.
    holder: dict[str, Any] = {"v": copy.deepcopy(s["default"])}
    wrapper: Schema = {"type": "object", "properties": {"v": s}}
    dpath = child(path, "default")
    for unknown in prune(holder, wrapper):
        out.append(invalid(dpath + unknown[1:], "", "must not have unknown fields"))
    apply_defaults(holder, wrapper)
    for cause in validate_value(holder.get("v"), s):
        cause.field = dpath + ("." + cause.field if cause.field else "")
        out.append(cause)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else "number"


def _props(s: Schema) -> dict[str, Any]:
    props = s.get("properties")
    return props if isinstance(props, dict) else {}


def _flag(s: Schema, name: str) -> bool:
    return s.get(name) is True


def _has_default(s: Schema) -> bool:
    return s.get("default") is not None
