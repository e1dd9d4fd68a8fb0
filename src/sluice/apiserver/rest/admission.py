"""Admission: what turns a request body into an object the embedded cluster may store.

kube-apiserver runs every create, update, patch and apply through the same
steps before it writes: the body's kind must match the resource, a custom
resource is pruned to its schema, defaulted and validated (structural schema,
:mod:`sluice.apiserver.schemas.structural`), a built-in one is decoded (unknown
fields dropped, a value of the wrong type a 400), defaulted and checked
(:mod:`sluice.apiserver.schemas.builtin_checks`), a CRD is checked as a definition
(:mod:`sluice.apiserver.schemas.crd_definition`), immutable fields and finalizers of
an object being deleted are enforced, and ``metadata.generation`` moves when
the spec changed. :class:`sluice.apiserver.rest.registry.Cluster` calls these with
what it knows (the schema, the request's field validation, a ClusterIP
allocator); this module reads no storage itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sluice.apiserver.apply.fieldsets import same_json
from sluice.apiserver.errors import ApiError, BadRequest, Cause, Invalid
from sluice.apiserver.rest.objectmeta import validate_metadata, validate_name
from sluice.apiserver.schemas import crd_definition, structural
from sluice.apiserver.schemas.builtin_checks import builtin_checks, immutable_checks, keep_allocated
from sluice.apiserver.schemas.defaults import apply_builtin_defaults, default_service
from sluice.apiserver.schemas.resources import CRD_KEY, ResourceType

__all__ = ["GENERATION_KINDS", "admit", "bump_generation", "check_kind", "unknown_fields"]

Obj = dict[str, Any]

# Built-in kinds whose spec changes move metadata.generation (others never carry one).
GENERATION_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
                     "CustomResourceDefinition", "Ingress", "NetworkPolicy", "PodDisruptionBudget",
                     "HorizontalPodAutoscaler", "IngressClass", "Pod"}


def check_kind(rt: ResourceType, obj: Obj, strict: bool = False) -> None:
    """A body's ``kind``/``apiVersion`` must name the resource it is sent to (400)."""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if strict and (not kind or not api_version):
        raise BadRequest("Object 'Kind' is missing in '" + json.dumps(obj)[:200] + "'")
    if kind and kind != rt.kind:
        raise BadRequest(f"the kind of the provided object ({kind}) does not match the "
                         f"resource ({rt.kind})")
    if api_version and api_version != rt.api_version:
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        if group != rt.group:
            raise BadRequest(f"the API version in the data ({api_version}) does not match "
                             f"the expected API version ({rt.api_version})")


def admit(rt: ResourceType, old: Obj | None, obj: Obj, *, schema: Obj | None,
          subresource: str, field_validation: str, allocate_ip: Callable[[], str]) -> Obj:
    """Default, prune, validate: what turns a request body into a storable object.

    ``schema`` is the type's OpenAPI v3 schema (the CRD's, or the built-in
    one); ``field_validation`` is the request's ``fieldValidation``
    (``Strict`` refuses unknown fields); ``allocate_ip`` gives a new Service
    its ClusterIP. ``old`` is the object as served before an update (None on
    create).
    """
    obj["apiVersion"] = rt.api_version
    obj["kind"] = rt.kind
    meta = obj["metadata"]
    causes = validate_name(rt.group, rt.kind, meta.get("name", "")) if old is None else []
    causes += validate_metadata(meta)
    if rt.is_custom:
        if schema:
            unknown = structural.prune(obj, schema)
            if unknown and field_validation == "Strict":
                raise unknown_fields(unknown)
            structural.apply_defaults(obj, schema)
            if subresource == "status":
                causes += structural.validate_status(obj, schema)
            else:
                causes += structural.validate(obj, schema)
    else:
        if schema:
            # Built-in kinds decode into fixed types: unknown fields vanish, or are
            # refused under strict field validation. What an update keeps as the stored
            # object has it was decoded (pruned, type-checked) then, with the same fixed
            # schema: only what changed is looked at (an unchanged spec under a status
            # write, say), with the same outcome and a fraction of the walk.
            changed = _changed(obj, old)
            looked_at = list(changed)
            unknown = structural.prune(changed, schema)
            for key in looked_at:
                if key not in changed:
                    obj.pop(key, None)  # a top-level field prune dropped from the view
            if unknown and field_validation == "Strict":
                raise unknown_fields(unknown)
            # A value of the wrong type cannot be decoded into the Go struct: 400, as
            # kube-apiserver answers before any validation runs.
            wrong = structural.type_errors(changed, schema)
            if wrong:
                raise BadRequest(f'{rt.kind} in version "{rt.version}" cannot be handled '
                                 f"as a {rt.kind}: {wrong[0].field}: {wrong[0].message}")
        if old is not None and rt.storage_key == ("", "services"):
            keep_allocated(old, obj)
        try:
            apply_builtin_defaults(rt.group, rt.kind, obj)
            if rt.storage_key == ("", "services"):
                default_service(obj, allocate_ip)
            causes += builtin_checks(rt, obj)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            # A field of the wrong shape (a string where an object belongs, ...): the
            # API server fails to decode such a body into its Go type and answers 400.
            raise BadRequest(f'{rt.kind} in version "{rt.version}" cannot be handled as a '
                             f"{rt.kind}: {type(exc).__name__}: {exc}") from None
    if rt.storage_key == CRD_KEY:
        causes += crd_definition.validate_crd_definition(obj)
    if causes:
        raise Invalid(rt.group, rt.kind, meta.get("name", ""), causes)
    if old is not None:
        if old["metadata"].get("deletionTimestamp"):
            added = sorted(set(meta.get("finalizers") or []) -
                           set(old["metadata"].get("finalizers") or []))
            if added:
                raise Invalid(rt.group, rt.kind, meta.get("name", ""), [Cause(
                    "metadata.finalizers", "Forbidden: no new finalizers can be added if "
                    f"the object is being deleted, found new finalizers {json.dumps(added)}",
                    "FieldValueForbidden")])
        if not rt.is_custom and subresource != "status":
            causes = immutable_checks(rt, old, obj)
            if causes:
                raise Invalid(rt.group, rt.kind, meta.get("name", ""), causes)
        bump_generation(rt, old, obj)
    return obj

def _changed(obj: Obj, old: Obj | None) -> Obj:
    """A view of ``obj``: its top-level fields (and metadata fields) that are not the
    same JSON as in ``old``, sharing their values with ``obj``.

    Pruning and type checks depend on nothing but a value and its schema, so a
    field kept as the stored object has it (which went through them) needs neither.
    """
    if old is None:
        return obj
    view = {k: v for k, v in obj.items()
            if k != "metadata" and (k not in old or not same_json(v, old[k]))}
    meta, old_meta = obj.get("metadata"), old.get("metadata")
    if isinstance(meta, dict) and isinstance(old_meta, dict):
        view["metadata"] = {k: v for k, v in meta.items()
                            if k not in old_meta or not same_json(v, old_meta[k])}
    elif "metadata" in obj:
        view["metadata"] = meta
    return view


def bump_generation(rt: ResourceType, old: Obj, new: Obj) -> None:
    """A change outside metadata and status moves ``metadata.generation`` on, where kept."""
    if "generation" not in old["metadata"]:
        return
    ignore = {"metadata", "apiVersion", "kind"}
    if rt.status:
        ignore.add("status")
    before = {k: v for k, v in old.items() if k not in ignore}
    after = {k: v for k, v in new.items() if k not in ignore}
    gen = int(old["metadata"]["generation"])
    if before != after:
        gen += 1
    new["metadata"]["generation"] = gen


def unknown_fields(paths: list[str]) -> ApiError:
    """Strict field validation's refusal, worded as kube-apiserver words it."""
    texts = [f'unknown field "{p}"' for p in paths]
    return BadRequest(texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]")
