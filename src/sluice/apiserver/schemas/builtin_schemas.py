"""OpenAPI schemas of the built-in Kubernetes kinds, derived from lightkube's models.

The embedded cluster needs the shape of every built-in kind for three jobs:
publishing OpenAPI documents (kubectl's ``explain``, client-side apply and
field-validation checks read them), strategic merge patch (which merges lists
such as ``containers`` by a key) and server-side apply (whose managed fields
follow ``x-kubernetes-list-type`` and friends). Instead of shipping
Kubernetes' multi-megabyte specification, the schemas are built at first use
from the ``lightkube-models`` classes already installed: their type hints give
the structure, their docstrings the descriptions, their non-optional fields the
``required`` lists.

What the models do not carry is the list and patch metadata Kubernetes declares
with markers in its Go types (merge keys, patch strategies, list and map
types); :mod:`builtin_markers` restates those for the kinds Sluice serves.

Two forms come out:

* :func:`definitions` - named components (``io.k8s.api.apps.v1.Deployment``)
  that reference each other with ``$ref``, as OpenAPI v3 documents carry them;
* :func:`schema_for` - one kind's schema with every reference inlined, the form
  the patch and apply machinery walks.

Both are cached and shared: callers must not mutate what they get.
"""

from __future__ import annotations

import functools
import importlib
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

import msgspec

from sluice.apiserver.schemas.builtin_markers import ATOMIC_STRUCTS, field_markers
from sluice.apiserver.schemas.resources import BUILTINS

Schema = dict[str, Any]

REF_PREFIX = "#/components/schemas/"

# lightkube module (``lightkube.models.<name>``) to Kubernetes' definition-name prefix.
_PREFIXES = {
    "meta_v1": "io.k8s.apimachinery.pkg.apis.meta.v1",
    "apiextensions_v1": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
    "apiregistration_v1": "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1",
    "runtime": "io.k8s.apimachinery.pkg.runtime",
    "util_intstr": "io.k8s.apimachinery.pkg.util.intstr",
    "resource": "io.k8s.apimachinery.pkg.api.resource",
    "version": "io.k8s.apimachinery.pkg.version",
}

# Groups whose kinds lightkube models; anything else (``apps.example.com``) is a CRD's.
_LEGACY_GROUPS = frozenset({"", "apps", "batch", "policy", "autoscaling"})

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
MICRO_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
FIELDS_V1 = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
JSON_VALUE = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON"
JSON_SCHEMA_PROPS = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_PRESERVE: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

# Types that lightkube flattens into Python aliases (``Quantity = str``,
# ``Time = datetime``, ``RawExtension = Dict``): alias name -> (component
# name, component schema for OpenAPI documents, inlined schema).
_ALIASES: dict[str, tuple[str, Schema, Schema]] = {
    "Quantity": (QUANTITY, {
        "description": "A fixed-point number with a unit suffix, such as 100m, 1.5Gi or 2.",
        "oneOf": [{"type": "string"}, {"type": "number"}],
    }, {
        # A scalar written as a number (``cpu: 0.5``) or a string (``memory: 1Gi``).
        # Not x-kubernetes-int-or-string: that would refuse 0.5, which Kubernetes takes.
        "anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}],
    }),
    "IntOrString": (INT_OR_STRING, {
        "description": "An integer or a string, such as a port number or name, or 25%.",
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    }, {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    }),
    "Time": (TIME, {
        "description": "A timestamp in RFC 3339 form with second precision.",
        "type": "string", "format": "date-time",
    }, {"type": "string", "format": "date-time"}),
    "MicroTime": (MICRO_TIME, {
        "description": "A timestamp in RFC 3339 form with microsecond precision.",
        "type": "string", "format": "date-time",
    }, {"type": "string", "format": "date-time"}),
    "FieldsV1": (FIELDS_V1, {
        "description": "The set of fields a manager owns, in the FieldsV1 trie format.",
        "type": "object",
    }, _PRESERVE),
    "RawExtension": (RAW_EXTENSION, {
        "description": "An embedded object of any kind.",
        "type": "object",
    }, _PRESERVE),
    "JSON": (JSON_VALUE, {
        "description": "Any JSON value.",
    }, {"x-kubernetes-preserve-unknown-fields": True}),
    # The recursive JSON-schema type of CRDs stays opaque here: the apiextensions
    # machinery validates CRD schemas itself.
    "JSONSchemaProps": (JSON_SCHEMA_PROPS, {
        "description": "A JSON schema (OpenAPI v3 subset) describing a custom resource.",
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
    }, _PRESERVE),
}

# Value types of plain ``dict`` fields, by JSON field name: lightkube types
# ``limits``, ``labels`` and ``binaryData`` all as ``dict``.
_QUANTITY_MAPS = frozenset({
    "limits", "requests", "overhead", "allocatedResources", "capacity", "allocatable",
    "hard", "used", "default", "defaultRequest", "max", "min", "maxLimitRequestRatio",
})
_MAP_VALUES: dict[str, Schema] = {
    "binaryData": {"type": "string", "format": "byte"},
    "disruptedPods": {"$ref": REF_PREFIX + TIME},
    "extra": {"type": "array", "items": {"type": "string"}},
}
# Secret.data is base64 text on the wire; ConfigMap.data is plain text.
_BYTE_MAPS = frozenset({("Secret", "data")})


# ---------------------------------------------------------------------------
# Reading the models.


def _module_key(cls: type) -> str:
    return cls.__module__.rsplit(".", 1)[-1]


def definition_name(cls: type) -> str:
    """Kubernetes' OpenAPI name of a lightkube model class."""
    key = _module_key(cls)
    prefix = _PREFIXES.get(key)
    if prefix is None:
        group, _, version = key.rpartition("_")
        prefix = f"io.k8s.api.{group}.{version}"
    return f"{prefix}.{cls.__name__}"


@functools.cache
def model_class(group: str, version: str, kind: str) -> type | None:
    """The lightkube model of a built-in kind, or None for custom and unknown kinds."""
    if group not in _LEGACY_GROUPS and not group.endswith(".k8s.io"):
        return None
    module = f"lightkube.models.{group.split('.')[0] or 'core'}_{version}"
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    cls = getattr(mod, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
        return None
    gvk = _own_gvk(cls)
    if gvk is None or gvk != (group, version, kind):
        return None
    return cls


def _own_gvk(cls: type) -> tuple[str, str, str] | None:
    """The group, version and kind a top-level model stamps on itself, if it is one."""
    post_init = cls.__dict__.get("__post_init__")
    if post_init is None:
        return None
    probe = types.SimpleNamespace()
    post_init(probe)
    api_version = getattr(probe, "apiVersion", "")
    kind = getattr(probe, "kind", "")
    if not api_version or not kind:
        return None
    group, _, version = api_version.rpartition("/")
    return group, version, kind


_PARAM = re.compile(r"^\* \*\*(?P<name>\w+)\*\* ``[^`]*`` - ?(?P<text>.*)$")


def _join(lines: Iterable[str]) -> str:
    """Rejoin text lightkube wrapped at 80 columns; blank lines stay paragraph breaks."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


@functools.cache
def _docs(cls: type) -> tuple[str, dict[str, str]]:
    """The class description and each parameter's, keyed by Python attribute name."""
    head, _, params = (cls.__doc__ or "").partition("**parameters**")
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in params.splitlines():
        m = _PARAM.match(raw.strip())
        if m:
            current = fields[m["name"]] = [m["text"]]
        elif current is not None:
            current.append(raw)
    return _join(head.splitlines()), {k: _join(v) for k, v in fields.items()}


def _alias_of(annotation: str) -> str | None:
    """The Kubernetes type behind an annotation such as ``Optional[List[meta_v1.Time]]``."""
    names = [t for t in re.findall(r"[A-Za-z_][\w.]*", annotation)
             if t not in ("Optional", "List", "Dict", "Union")]
    if not names:
        return None
    name = names[-1].rsplit(".", 1)[-1]
    return name if name in _ALIASES else None


def _ref(name: str) -> Schema:
    return {"$ref": REF_PREFIX + name}


def _map_values(owner: str, field: str) -> Schema:
    if (owner, field) in _BYTE_MAPS:
        return {"type": "string", "format": "byte"}
    if field in _QUANTITY_MAPS:
        return _ref(QUANTITY)
    return dict(_MAP_VALUES.get(field, {"type": "string"}))


_NONE = type(None)


def _type_schema(hint: Any, alias: str | None, owner: str, field: str,
                 deps: list[type]) -> Schema:
    """The schema of one type hint, in ``$ref`` form; referenced models land in ``deps``."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not _NONE]
        if len(args) == 1:
            return _type_schema(args[0], alias, owner, field, deps)
        return _ref(INT_OR_STRING)  # lightkube's only other union is IntOrString
    if origin is list:
        (item,) = typing.get_args(hint)
        return {"type": "array", "items": _type_schema(item, alias, owner, field, deps)}
    if alias is not None:
        return _ref(_ALIASES[alias][0])
    if hint is dict:
        return {"type": "object", "additionalProperties": _map_values(owner, field)}
    if hint is typing.Dict or origin is dict:  # noqa: UP006 - lightkube's opaque-object aliases
        return dict(_PRESERVE)
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        deps.append(hint)
        return _ref(definition_name(hint))
    if getattr(hint, "__name__", "") == "datetime":
        return {"type": "string", "format": "date-time"}
    return {"x-kubernetes-preserve-unknown-fields": True}


def _list_item(hint: Any) -> type | None:
    """The model class a ``List[...]`` hint holds, if any."""
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not _NONE]
        hint = args[0] if len(args) == 1 else None
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if isinstance(item, type) and issubclass(item, msgspec.Struct):
            return item
    return None


def _field_meta(owner: str, field: str, hint: Any) -> Schema:
    item = _list_item(hint)
    item_fields: tuple[str, ...] = getattr(item, "__struct_fields__", ()) if item else ()
    return field_markers(owner, field, item_fields)


@functools.cache
def _component(cls: type) -> tuple[Schema, tuple[type, ...]]:
    """One model's named component schema and the models it references."""
    description, field_docs = _docs(cls)
    hints = typing.get_type_hints(cls)
    annotations: dict[str, Any] = getattr(cls, "__annotations__", {})
    deps: list[type] = []
    props: dict[str, Schema] = {}
    required: list[str] = []
    for f in msgspec.structs.fields(cls):
        hint = hints[f.name]
        raw = annotations.get(f.name, "")
        schema = _type_schema(hint, _alias_of(raw if isinstance(raw, str) else ""),
                              cls.__name__, f.encode_name, deps)
        doc = field_docs.get(f.name, "")
        if "$ref" in schema:
            # OpenAPI v3 ignores siblings of $ref; Kubernetes wraps it in allOf to describe it.
            schema = {"allOf": [schema]}
        if doc:
            schema["description"] = doc
        schema.update(_field_meta(cls.__name__, f.encode_name, hint))
        props[f.encode_name] = schema
        if f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT:
            required.append(f.encode_name)
    out: Schema = {"type": "object", "properties": dict(sorted(props.items()))}
    if description:
        out = {"description": description, **out}
    if required:
        out["required"] = required
    if cls.__name__ in ATOMIC_STRUCTS:
        out["x-kubernetes-map-type"] = "atomic"
    gvk = _own_gvk(cls)
    if gvk is not None:
        out["x-kubernetes-group-version-kind"] = [
            {"group": gvk[0], "kind": gvk[2], "version": gvk[1]}]
    return out, tuple(deps)


# Every component built so far, by name (models and alias types alike).
_REGISTRY: dict[str, Schema] = {}


def _closure(roots: Iterable[type]) -> list[str]:
    """Register ``roots`` and everything they reference; their names, roots first."""
    names: list[str] = []
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        cls = todo.pop(0)
        name = definition_name(cls)
        if name in seen:
            continue
        seen.add(name)
        names.append(name)
        schema, deps = _component(cls)
        _REGISTRY[name] = schema
        todo.extend(deps)
        for ref in _refs(schema):
            if ref not in seen and ref in _ALIAS_COMPONENTS:
                seen.add(ref)
                names.append(ref)
    return names


_ALIAS_COMPONENTS: dict[str, Schema] = {name: doc for name, doc, _ in _ALIASES.values()}
_ALIAS_INLINE: dict[str, Schema] = {name: inline for name, _, inline in _ALIASES.values()}
_REGISTRY.update(_ALIAS_COMPONENTS)
_REGISTRY["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = {
    "description": "The body of a PATCH request: a JSON patch, a merge patch, a strategic "
                   "merge patch or an apply configuration, as its content type says.",
    "type": "object",
}


def _refs(schema: Any) -> Iterable[str]:
    """Names of the components a schema refers to, directly."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value.removeprefix(REF_PREFIX)
            else:
                yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def _roots() -> list[type]:
    from lightkube.models import autoscaling_v1, meta_v1

    roots: list[type] = []
    for rt in BUILTINS:
        cls = model_class(rt.group, rt.version, rt.kind)
        if cls is None:
            continue
        roots.append(cls)
        list_cls = getattr(importlib.import_module(cls.__module__), rt.kind + "List", None)
        if isinstance(list_cls, type):
            roots.append(list_cls)
    roots += [autoscaling_v1.Scale, meta_v1.Status, meta_v1.DeleteOptions, meta_v1.WatchEvent,
              meta_v1.APIResourceList]
    return roots


@functools.cache
def definitions() -> dict[str, Schema]:
    """Named component schemas of the built-in kinds and everything they reference.

    References take the OpenAPI v3 form ``#/components/schemas/<name>``; a
    property that refers to a model wraps the reference in a one-element
    ``allOf`` so that it can carry its own description and patch metadata.
    Top-level kinds carry ``x-kubernetes-group-version-kind`` (a one-entry list).
    """
    names = _closure(_roots())
    names.append("io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
    return {name: _REGISTRY[name] for name in sorted(set(names))}


def closure(names: Iterable[str]) -> dict[str, Schema]:
    """The named components plus every component they reference, transitively."""
    defs = definitions()
    out: dict[str, Schema] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        schema = defs.get(name) or _REGISTRY.get(name)
        if schema is None:
            continue
        out[name] = schema
        todo.extend(_refs(schema))
    return out


# ---------------------------------------------------------------------------
# The inlined form.

_IN_PROGRESS: set[str] = set()


@functools.cache
def _inline_named(name: str) -> Schema:
    if name in _ALIAS_INLINE:
        return _ALIAS_INLINE[name]
    if name in _IN_PROGRESS or name not in _REGISTRY:
        # A type that contains itself stays open below the first level.
        return _PRESERVE
    _IN_PROGRESS.add(name)
    try:
        out = _inline(_REGISTRY[name])
    finally:
        _IN_PROGRESS.discard(name)
    out.pop("x-kubernetes-group-version-kind", None)
    return out


def _inline(schema: Schema) -> Schema:
    ref = schema.get("$ref")
    if ref is None and len(schema.get("allOf", ())) == 1 and "$ref" in schema["allOf"][0]:
        ref = schema["allOf"][0]["$ref"]
    if ref is not None:
        base = _inline_named(ref.removeprefix(REF_PREFIX))
        extra = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
        return {**base, **extra} if extra else base
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: _inline(v) for k, v in out["properties"].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = _inline(out["items"])
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _inline(out["additionalProperties"])
    return out


@functools.cache
def schema_for(group: str, version: str, kind: str) -> Schema | None:
    """The fully inlined schema of a built-in kind; None for custom or unknown kinds.

    No ``$ref`` remains: nested models are expanded in place, int-or-string
    fields carry ``x-kubernetes-int-or-string``, quantities are an ``anyOf`` of
    integer, number and string (``cpu: 0.5``), timestamps are
    ``date-time`` strings and opaque objects ``x-kubernetes-preserve-unknown-fields``.
    The result is shared between callers and must not be mutated.
    """
    cls = model_class(group, version, kind)
    if cls is None:
        return None
    name = _closure([cls])[0]
    out = dict(_inline(_REGISTRY[name]))
    out["x-kubernetes-group-version-kind"] = _REGISTRY[name]["x-kubernetes-group-version-kind"]
    return out
