"""OpenAPI documents of the embedded cluster (``/openapi/v2`` and ``/openapi/v3``).

kubectl reads them for four things, and each shapes what is published here:

* field validation: before ``apply``, ``create`` or ``replace`` kubectl looks in
  the group-version's v3 document for the PATCH operation of the object's kind
  (matched by ``x-kubernetes-group-version-kind``); when that operation declares
  the ``fieldValidation`` query parameter, kubectl leaves validation to the
  server instead of validating against the schema itself;
* client-side ``apply``: it builds a strategic merge patch from the component
  schema of the kind (matched by its ``x-kubernetes-group-version-kind``
  list), reading ``x-kubernetes-patch-merge-key`` and ``-strategy`` on each
  property, but only when the PATCH operation accepts
  ``application/strategic-merge-patch+json`` (custom resources get a JSON merge
  patch instead, as on a real cluster);
* ``explain``: it walks the kind's component schema, following ``$ref``;
* the v2 document is only a fallback for these, asked for in protobuf.

Built-in kinds take their components from :mod:`builtin_schemas`; custom kinds
take their CRD's ``openAPIV3Schema``, with ``metadata`` pointing at ObjectMeta
like Kubernetes publishes them. Documents are cached per catalogue and per
``Catalogue.generation``, which moves whenever a CRD is added, changed or removed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sluice.apiserver.schemas import builtin_schemas, openapi_proto
from sluice.apiserver.schemas.builtin_schemas import OBJECT_META, REF_PREFIX
from sluice.apiserver.schemas.discovery import GIT_VERSION, group_versions
from sluice.apiserver.schemas.resources import Catalogue, ResourceType

Doc = dict[str, Any]
_T = TypeVar("_T")
CrdSchemas = Callable[[ResourceType], dict[str, Any] | None]

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
LIST_META = META + "ListMeta"
STATUS = META + "Status"
DELETE_OPTIONS = META + "DeleteOptions"
PATCH = META + "Patch"
WATCH_EVENT = META + "WatchEvent"
API_RESOURCE_LIST = META + "APIResourceList"
SCALE = "io.k8s.api.autoscaling.v1.Scale"

_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
                "application/apply-patch+yaml"]
_SMP = "application/strategic-merge-patch+json"
_PRODUCES = ["application/json", "application/yaml"]

_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values.")
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. "
    "In CamelCase.")
_METADATA_DOC = "Standard object's metadata."

# Query parameters, by name: (type, description).
_PARAMS: dict[str, tuple[str, str]] = {
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted. "
                         "The only valid value is All."),
    "fieldManager": ("string", "A name associated with the actor or entity that is making "
                               "these changes."),
    "fieldValidation": ("string", "How the server treats unknown and duplicate fields in the "
                                  "request body: Ignore, Warn (the default) or Strict."),
    "force": ("boolean", "Force an apply request to take fields owned by other managers. "
                         "Must be unset for other patch types."),
    "allowWatchBookmarks": ("boolean", "Ask a watch for BOOKMARK events."),
    "continue": ("string", "The continue token of a previous paged list call."),
    "fieldSelector": ("string", "Restrict the returned objects by their fields."),
    "labelSelector": ("string", "Restrict the returned objects by their labels."),
    "limit": ("integer", "The maximum number of objects in one list response."),
    "resourceVersion": ("string", "Which resource version a list or watch starts from."),
    "resourceVersionMatch": ("string", "How resourceVersion applies to a list call."),
    "sendInitialEvents": ("boolean", "Start a watch with synthetic ADDED events for the "
                                     "current state."),
    "timeoutSeconds": ("integer", "Timeout for the list or watch call."),
    "watch": ("boolean", "Watch for changes and return them as a stream of events."),
    "gracePeriodSeconds": ("integer", "Seconds before the object should be deleted."),
    "orphanDependents": ("boolean", "Deprecated: use propagationPolicy."),
    "propagationPolicy": ("string", "Whether and how garbage collection is performed: "
                                    "Orphan, Background or Foreground."),
}
_LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
                "resourceVersion", "resourceVersionMatch", "sendInitialEvents",
                "timeoutSeconds", "watch")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")


# ---------------------------------------------------------------------------
# Operations, described once and rendered into both OpenAPI versions.


@dataclass
class _Op:
    method: str
    action: str
    operation_id: str
    gvk: tuple[str, str, str]
    description: str
    response: str
    query: tuple[str, ...] = ()
    body: str = ""
    patch_types: tuple[str, ...] = ()
    codes: tuple[str, ...] = ("200",)


@dataclass
class _Path:
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)  # (name, description)
    ops: list[_Op] = field(default_factory=list)


def _camel(group: str, version: str) -> str:
    """Kubernetes' operation-id stem for a group-version: core/v1 -> CoreV1."""
    name = group.removesuffix(".k8s.io") if group else "core"
    words = [*name.split("."), version]
    return "".join(word[:1].upper() + word[1:] for word in words)


def _prefix(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def component_name(rt: ResourceType) -> str:
    """The component name of a kind: ``io.k8s.api.apps.v1.Deployment`` for built-ins,
    the group reversed for custom kinds (``io.fluxcd.toolkit.source.v1.GitRepository``)."""
    if not rt.is_custom:
        cls = builtin_schemas.model_class(rt.group, rt.version, rt.kind)
        if cls is not None:
            return builtin_schemas.definition_name(cls)
    return ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])


def _paths_for(rt: ResourceType) -> list[_Path]:
    gvk = (rt.group, rt.version, rt.kind)
    stem = _camel(rt.group, rt.version)
    ns = "Namespaced" if rt.namespaced else ""
    kind = component_name(rt)
    list_kind = kind + "List"
    verbs = set(rt.verbs)
    patch_types = (*_PATCH_TYPES, _SMP) if not rt.is_custom else tuple(_PATCH_TYPES)
    base = _prefix(rt.group, rt.version)
    coll = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    scope = [("namespace", "object name and auth scope, such as for teams and projects")] \
        if rt.namespaced else []
    named = [("name", f"name of the {rt.kind}"), *scope]
    out: list[_Path] = []

    collection = _Path(coll, list(scope))
    if "list" in verbs:
        collection.ops.append(_Op("get", "list", f"list{stem}{ns}{rt.kind}", gvk,
                                  f"list or watch objects of kind {rt.kind}", list_kind,
                                  _LIST_PARAMS))
    if "create" in verbs:
        collection.ops.append(_Op("post", "post", f"create{stem}{ns}{rt.kind}", gvk,
                                  f"create a {rt.kind}", kind, _WRITE_PARAMS, body=kind,
                                  codes=("200", "201", "202")))
    if "deletecollection" in verbs:
        collection.ops.append(_Op("delete", "deletecollection",
                                  f"deleteCollection{stem}{ns}{rt.kind}", gvk,
                                  f"delete collection of {rt.kind}", STATUS,
                                  (*_DELETE_PARAMS, *_LIST_PARAMS[:-1]), body=DELETE_OPTIONS))
    if collection.ops:
        out.append(collection)

    item = _Path(f"{coll}/{{name}}", list(named))
    if "get" in verbs:
        item.ops.append(_Op("get", "get", f"read{stem}{ns}{rt.kind}", gvk,
                            f"read the specified {rt.kind}", kind))
    if "update" in verbs:
        item.ops.append(_Op("put", "put", f"replace{stem}{ns}{rt.kind}", gvk,
                            f"replace the specified {rt.kind}", kind, _WRITE_PARAMS, body=kind,
                            codes=("200", "201")))
    if "patch" in verbs:
        item.ops.append(_Op("patch", "patch", f"patch{stem}{ns}{rt.kind}", gvk,
                            f"partially update the specified {rt.kind}", kind,
                            (*_WRITE_PARAMS, "force"), body=PATCH, patch_types=patch_types,
                            codes=("200", "201")))
    if "delete" in verbs:
        item.ops.append(_Op("delete", "delete", f"delete{stem}{ns}{rt.kind}", gvk,
                            f"delete a {rt.kind}", STATUS, _DELETE_PARAMS, body=DELETE_OPTIONS,
                            codes=("200", "202")))
    if item.ops:
        out.append(item)

    subresources = []
    if rt.status:
        subresources.append(("status", "Status", gvk, kind))
    if rt.scale is not None:
        subresources.append(("scale", "Scale", ("autoscaling", "v1", "Scale"), SCALE))
    for sub, suffix, sub_gvk, sub_kind in subresources:
        path = _Path(f"{coll}/{{name}}/{sub}", list(named))
        op_kind = f"{ns}{rt.kind}{suffix}"
        path.ops += [
            _Op("get", "get", f"read{stem}{op_kind}", sub_gvk,
                f"read {sub} of the specified {rt.kind}", sub_kind),
            _Op("put", "put", f"replace{stem}{op_kind}", sub_gvk,
                f"replace {sub} of the specified {rt.kind}", sub_kind, _WRITE_PARAMS,
                body=sub_kind, codes=("200", "201")),
            _Op("patch", "patch", f"patch{stem}{op_kind}", sub_gvk,
                f"partially update {sub} of the specified {rt.kind}", sub_kind,
                (*_WRITE_PARAMS, "force"), body=PATCH, patch_types=patch_types,
                codes=("200", "201")),
        ]
        out.append(path)

    if rt.namespaced and "list" in verbs:
        out.append(_Path(f"{base}/{rt.plural}", [], [
            _Op("get", "list", f"list{stem}{rt.kind}ForAllNamespaces", gvk,
                f"list or watch objects of kind {rt.kind}", list_kind, _LIST_PARAMS)]))
    return out


def _gvk_map(gvk: tuple[str, str, str]) -> Doc:
    return {"group": gvk[0], "kind": gvk[2], "version": gvk[1]}


def _v3_param(name: str, where: str = "query", description: str = "") -> Doc:
    typ, desc = _PARAMS.get(name, ("string", description))
    out: Doc = {"name": name, "in": where, "description": description or desc,
                "schema": {"type": typ, "uniqueItems": True}}
    if where == "path":
        out["required"] = True
    return out


def _v3_content(schema: Doc, types: Iterable[str]) -> Doc:
    return {t: {"schema": schema} for t in types}


def _v3_operation(op: _Op, tag: str) -> Doc:
    ref = {"$ref": REF_PREFIX + op.response}
    produces = [*_PRODUCES, "application/json;stream=watch"] if op.action == "list" else _PRODUCES
    out: Doc = {
        "tags": [tag],
        "description": op.description,
        "operationId": op.operation_id,
        "parameters": [_v3_param(p) for p in op.query],
        "responses": {code: {"description": "OK", "content": _v3_content(ref, produces)}
                      for code in op.codes} | {"401": {"description": "Unauthorized"}},
    }
    if op.action:
        out["x-kubernetes-action"] = op.action
        out["x-kubernetes-group-version-kind"] = _gvk_map(op.gvk)
    if op.body:
        types = op.patch_types or ("application/json", "application/yaml")
        out["requestBody"] = {"content": _v3_content({"$ref": REF_PREFIX + op.body}, types),
                              "required": op.method != "delete"}
    return out


def _v3_paths(paths: Iterable[_Path], tag: str) -> Doc:
    out: Doc = {}
    for p in paths:
        item: Doc = {"parameters": [_v3_param(name, "path", desc) for name, desc in p.params]
                     + [_v3_param("pretty")]}
        for op in p.ops:
            item[op.method] = _v3_operation(op, tag)
        out[p.path] = item
    return out


# ---------------------------------------------------------------------------
# Components.


def _crd_component(rt: ResourceType, schema: Doc | None) -> Doc:
    """A custom kind's published schema: the CRD's, with the standard object fields described."""
    out: Doc = copy.deepcopy(schema) if schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    out.setdefault("type", "object")
    props = dict(out.get("properties") or {})
    props["apiVersion"] = {"description": _API_VERSION_DOC, "type": "string"}
    props["kind"] = {"description": _KIND_DOC, "type": "string"}
    props["metadata"] = {"allOf": [{"$ref": REF_PREFIX + OBJECT_META}],
                         "description": _METADATA_DOC}
    out["properties"] = dict(sorted(props.items()))
    out["x-kubernetes-group-version-kind"] = [_gvk_map((rt.group, rt.version, rt.kind))]
    return out


def _crd_list_component(rt: ResourceType) -> Doc:
    return {
        "description": f"{rt.kind}List is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": _API_VERSION_DOC, "type": "string"},
            "items": {"description": f"List of {rt.plural}.", "type": "array",
                      "items": {"$ref": REF_PREFIX + component_name(rt)}},
            "kind": {"description": _KIND_DOC, "type": "string"},
            "metadata": {"allOf": [{"$ref": REF_PREFIX + LIST_META}],
                         "description": "Standard list metadata."},
        },
        "x-kubernetes-group-version-kind": [_gvk_map((rt.group, rt.version, rt.list_kind))],
    }


def _components(rts: list[ResourceType], crd_schemas: CrdSchemas | None) -> dict[str, Doc]:
    names = [STATUS, DELETE_OPTIONS, PATCH, WATCH_EVENT, API_RESOURCE_LIST, OBJECT_META,
             LIST_META]
    custom: dict[str, Doc] = {}
    for rt in rts:
        name = component_name(rt)
        if rt.is_custom or builtin_schemas.model_class(rt.group, rt.version, rt.kind) is None:
            custom[name] = _crd_component(rt, crd_schemas(rt) if crd_schemas else None)
            custom[name + "List"] = _crd_list_component(rt)
        else:
            names += [name, name + "List"]
        if rt.scale is not None:
            names.append(SCALE)
    out = builtin_schemas.closure(names)
    out.update(custom)
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------
# Caching per catalogue and generation.


@dataclass
class _Cache:
    owner: weakref.ref[Catalogue]
    generation: int
    docs: dict[str, Any] = field(default_factory=dict)


_CACHES: dict[int, _Cache] = {}


def _cached(cat: Catalogue, key: str, build: Callable[[], _T]) -> _T:
    entry = _CACHES.get(id(cat))
    if entry is None or entry.owner() is not cat or entry.generation != cat.generation:
        entry = _Cache(weakref.ref(cat), cat.generation)
        _CACHES[id(cat)] = entry
        for k in [k for k, c in _CACHES.items() if c.owner() is None]:
            del _CACHES[k]
    if key not in entry.docs:
        entry.docs[key] = build()
    found: _T = entry.docs[key]
    return found


def _gv_types(cat: Catalogue, group: str, version: str) -> list[ResourceType]:
    return sorted((rt for rt in cat if rt.group == group and rt.version == version),
                  key=lambda rt: rt.plural)


# ---------------------------------------------------------------------------
# OpenAPI v3.


def gv_path(group: str, version: str) -> str:
    """The v3 root's key for a group-version: ``api/v1`` or ``apis/apps/v1``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def document_hash(doc: Doc) -> str:
    """The content hash clients see in ``serverRelativeURL`` and may use as an ETag."""
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


def v3_group_version(cat: Catalogue, group: str, version: str,
                     crd_schemas: CrdSchemas | None = None) -> Doc | None:
    """``/openapi/v3/api/v1`` or ``/openapi/v3/apis/<g>/<v>``; None when not served.

    ``crd_schemas`` gives a custom type's ``openAPIV3Schema`` (it is only called
    for custom types). The document is cached until the catalogue's generation moves.
    """
    rts = _gv_types(cat, group, version)
    if not rts:
        return None

    def build() -> Doc:
        tag = f"{group.removesuffix('.k8s.io').replace('.', '_') or 'core'}_{version}"
        paths: list[_Path] = [_Path(_prefix(group, version) + "/", [], [
            _Op("get", "", f"get{_camel(group, version)}APIResources", ("", "", ""),
                "get available resources", API_RESOURCE_LIST)])]
        for rt in rts:
            paths += _paths_for(rt)
        doc = {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": _v3_paths(paths, tag),
            "components": {
                "schemas": _components(rts, crd_schemas),
                "securitySchemes": {"BearerToken": {
                    "type": "apiKey", "description": "Bearer Token authentication",
                    "name": "authorization", "in": "header"}},
            },
            "security": [{"BearerToken": []}],
        }
        return doc

    # A custom group-version's document differs with and without its schemas.
    with_schemas = crd_schemas is not None and any(rt.is_custom for rt in rts)
    key = "v3:" + gv_path(group, version) + (":crd" if with_schemas else "")
    return _cached(cat, key, build)


def v3_root(cat: Catalogue, crd_schemas: CrdSchemas | None = None) -> Doc:
    """``/openapi/v3``: where each group-version's document lives, with its content hash.

    Pass ``crd_schemas`` so that custom group-versions hash their real schemas;
    without it their hash changes only with the catalogue's generation.
    """
    def build() -> Doc:
        paths: Doc = {}
        for group, versions in group_versions(cat).items():
            for version in versions:
                rts = _gv_types(cat, group, version)
                if crd_schemas is not None or not any(rt.is_custom for rt in rts):
                    doc = v3_group_version(cat, group, version, crd_schemas)
                    digest = document_hash(doc or {})
                else:
                    digest = document_hash({"types": [repr(rt) for rt in rts],
                                            "generation": cat.generation})
                key = gv_path(group, version)
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        return {"paths": paths}

    return _cached(cat, "v3root" if crd_schemas is None else "v3root+crd", build)


# ---------------------------------------------------------------------------
# OpenAPI v2 (Swagger 2.0).


_V3_ONLY = frozenset({"oneOf", "anyOf", "not", "nullable"})


def _to_v2(schema: Any) -> Any:
    """Rewrite a v3 schema for Swagger 2.0.

    A described reference (``allOf: [{$ref}]`` plus description) becomes a
    ``$ref`` with sibling description, as Kubernetes' v2 document has it, and the
    keywords Swagger 2.0 lacks (oneOf, anyOf, not, nullable) are dropped.
    """
    if isinstance(schema, list):
        return [_to_v2(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Doc = {}
    for key, value in schema.items():
        if key in _V3_ONLY:
            continue
        if key == "allOf" and len(value) == 1 and "$ref" in value[0]:
            out["$ref"] = _to_v2(value[0])["$ref"]
        elif key == "$ref" and isinstance(value, str):
            out[key] = "#/definitions/" + value.removeprefix(REF_PREFIX)
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {k: _to_v2(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = _to_v2(value)
        else:
            out[key] = value
    return out


def _v2_alias_types(defs: dict[str, Doc]) -> None:
    """Swagger 2.0 has no oneOf: the alias types become the strings Kubernetes publishes."""
    for name, fmt in ((builtin_schemas.QUANTITY, ""), (builtin_schemas.INT_OR_STRING,
                                                       "int-or-string")):
        if name in defs:
            defs[name] = {"description": defs[name].get("description", ""), "type": "string"}
            if fmt:
                defs[name]["format"] = fmt


def _v2_param(name: str, where: str = "query", description: str = "") -> Doc:
    typ, desc = _PARAMS.get(name, ("string", description))
    out: Doc = {"name": name, "in": where, "type": typ, "uniqueItems": True,
                "description": description or desc}
    if where == "path":
        out["required"] = True
    return out


def _v2_operation(op: _Op, tag: str) -> Doc:
    params = [_v2_param(p) for p in op.query]
    if op.body:
        params.insert(0, {"name": "body", "in": "body", "required": op.method != "delete",
                          "schema": {"$ref": "#/definitions/" + op.body}})
    out: Doc = {
        "description": op.description,
        "consumes": list(op.patch_types) if op.patch_types else ["*/*"],
        "produces": [*_PRODUCES, "application/json;stream=watch"]
        if op.action == "list" else list(_PRODUCES),
        "schemes": ["https"],
        "tags": [tag],
        "operationId": op.operation_id,
        "parameters": params,
        "responses": {code: {"description": "OK",
                             "schema": {"$ref": "#/definitions/" + op.response}}
                      for code in op.codes} | {"401": {"description": "Unauthorized"}},
    }
    if op.action:
        out["x-kubernetes-action"] = op.action
        out["x-kubernetes-group-version-kind"] = _gvk_map(op.gvk)
    return out


def v2_document(cat: Catalogue, crd_schemas: CrdSchemas | None = None) -> Doc:
    """``/openapi/v2``: one Swagger 2.0 document for every served group-version."""
    def build() -> Doc:
        paths: Doc = {}
        definitions: Doc = {}
        for group, versions in group_versions(cat).items():
            for version in versions:
                rts = _gv_types(cat, group, version)
                tag = f"{group.removesuffix('.k8s.io').replace('.', '_') or 'core'}_{version}"
                for p in (p for rt in rts for p in _paths_for(rt)):
                    item: Doc = {"parameters": [_v2_param(n, "path", d) for n, d in p.params]
                                 + [_v2_param("pretty")]}
                    for op in p.ops:
                        item[op.method] = _v2_operation(op, tag)
                    paths[p.path] = item
                for name, schema in _components(rts, crd_schemas).items():
                    definitions[name] = _to_v2(schema)
        _v2_alias_types(definitions)
        return {
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": dict(sorted(paths.items())),
            "definitions": dict(sorted(definitions.items())),
            "securityDefinitions": {"BearerToken": {
                "description": "Bearer Token authentication", "type": "apiKey",
                "name": "authorization", "in": "header"}},
            "security": [{"BearerToken": []}],
        }

    return _cached(cat, "v2" if crd_schemas is None else "v2+crd", build)


def v2_protobuf(cat: Catalogue, crd_schemas: CrdSchemas | None = None) -> bytes:
    """:func:`v2_document` encoded as gnostic's protobuf ``openapi.v2.Document``.

    Serve it with Content-Type :data:`openapi_proto.CONTENT_TYPE` when
    :func:`openapi_proto.wants_protobuf` says the client asked for it (kubectl does).
    """
    key = "v2pb" if crd_schemas is None else "v2pb+crd"
    return _cached(cat, key, lambda: openapi_proto.encode_document(v2_document(cat, crd_schemas)))
