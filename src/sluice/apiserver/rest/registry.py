"""The verbs of the embedded cluster, with Kubernetes semantics and no HTTP.

``Cluster`` is what kube-apiserver's generic registry is to etcd: it turns
create, get, list, update, patch, apply and delete into checked writes on
:mod:`storage`, stamping server-owned metadata, defaulting and validating,
keeping ``managedFields``, handling finalizers and ``deletionTimestamp``, and
publishing one watch event per write. What the verbs share (types, served
copies and views, the commit onto storage) is :mod:`stored`; their options are
:mod:`write_options`. The HTTP handlers translate requests into these calls; the garbage collector, the namespace lifecycle and the
workload simulator call them directly, in the same event loop, so every
method here runs to completion without awaiting and needs no locks. The one
exception: a write with a large body may be admitted in a worker thread
(:mod:`offload`); its final step, :meth:`StoredObjects._store`, still runs on the
loop and refuses a write whose object changed meanwhile, which is then
admitted again.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from sluice.apiserver.apply import managedfields
from sluice.apiserver.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    UnsupportedMediaType,
)
from sluice.apiserver.rest import decoding, strategic
from sluice.apiserver.rest.admission import GENERATION_KINDS, admit, check_kind
from sluice.apiserver.rest.objectmeta import (
    check_meta_types,
    now_rfc3339,
    random_suffix,
    strip_server_fields,
)
from sluice.apiserver.rest.patching import json_patch, merge_patch
from sluice.apiserver.rest.selectors import FieldSelector, LabelSelector
from sluice.apiserver.rest.stored import StoredObjects
from sluice.apiserver.rest.write_options import (
    APPLY_PATCH,
    APPLY_PATCH_CBOR,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    DeleteOptions,
    WriteOptions,
)
from sluice.apiserver.schemas.resources import NAMESPACE_KEY, ResourceType
from sluice.core.jsoncopy import json_copy

# The options and media types are imported from here by most callers.
__all__ = ["APPLY_PATCH", "APPLY_PATCH_CBOR", "JSON_PATCH", "MERGE_PATCH", "STRATEGIC_PATCH",
           "Cluster", "DeleteOptions", "WriteOptions"]

Obj = dict[str, Any]


def _meta(obj: Obj) -> Obj:
    """The metadata of a request body, refused (400) unless it decodes as ObjectMeta."""
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
        obj["metadata"] = meta
    if not isinstance(meta, dict):
        raise BadRequest("json: cannot unmarshal " + ("array" if isinstance(meta, list) else
                         "string" if isinstance(meta, str) else "number") +
                         " into Go struct field .metadata of type v1.ObjectMeta")
    check_meta_types(meta)
    return meta


class Cluster(StoredObjects):
    """Kubernetes API semantics over :class:`Storage`: the verbs (see :class:`StoredObjects`
    for what they share: types, served forms, the commit)."""

    def _check_namespace(self, rt: ResourceType, namespace: str, creating: bool,
                         name: str = "") -> None:
        if not rt.namespaced:
            return
        ns = self.storage.get(NAMESPACE_KEY, "", namespace)
        if ns is None:
            raise NotFound("", "namespaces", namespace)
        if creating and ns.get("metadata", {}).get("deletionTimestamp"):
            raise Forbidden(f'{rt.plural} "{name}" is forbidden: unable to create new content in '
                            f"namespace {namespace} because it is being terminated")

    # ------------------------------------------------------------------- reads
    def get(self, rt: ResourceType, namespace: str, name: str, view: bool = False) -> Obj:
        """The object as served (a copy; with ``view``, a read-only :meth:`served_view`)."""
        obj = self.storage.get(rt.storage_key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise NotFound(rt.group, rt.plural, name)
        return self.served_view(rt, obj) if view else self.as_served(rt, obj)

    def list(self, rt: ResourceType, namespace: str | None, labels: LabelSelector,
             fields: FieldSelector, limit: int = 0, cont: str = "", view: bool = False) -> Obj:
        ns = namespace if rt.namespaced else None
        start: tuple[str, str] | None = None
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()).decode())
                # Compare as (namespace, name), the storage order: as one "ns/name" string,
                # "app-2/a" would sort before "app/b" and a page would skip namespace app-2.
                ns_part, sep, name_part = str(token["start"]).partition("/")
                if not sep:
                    raise ValueError(token["start"])
                start = (ns_part, name_part)
                token_rv = int(token.get("rv", 0))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise BadRequest("continue key is not valid: could not decode") from None
            if token_rv < self.events_floor():
                raise Gone("The provided continue parameter is too old to display a consistent "
                           "list result. You can start a new list without the continue "
                           "parameter.")
        pinned = fields.exact_name()
        if pinned is not None and ns is not None:
            one = self.storage.get(rt.storage_key, ns, pinned)
            candidates = [one] if one else []
        else:
            candidates = self.storage.list(rt.storage_key, ns)
        items: list[Obj] = []
        next_token = ""
        for obj in candidates:
            meta = obj["metadata"]
            if start is not None and (meta.get("namespace", ""), meta["name"]) <= start:
                continue
            if not (labels.matches(obj) and fields.matches(obj)):
                continue
            if limit and len(items) == limit:
                last = items[-1]["metadata"]
                next_token = base64.urlsafe_b64encode(json.dumps(
                    {"rv": self.storage.revision,
                     "start": f"{last.get('namespace', '')}/{last['name']}"}).encode()).decode()
                break
            items.append(self.served_view(rt, obj) if view else self.as_served(rt, obj))
        meta_out: Obj = {"resourceVersion": str(self.storage.revision)}
        if next_token:
            meta_out["continue"] = next_token
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta_out,
                "items": items}

    def events_floor(self) -> int:
        return 0

    # ------------------------------------------------------------------ create
    def create(self, rt: ResourceType, namespace: str, body: Obj, opts: WriteOptions) -> Obj:
        return self._create(rt, namespace, json_copy(body), opts)

    def _create(self, rt: ResourceType, namespace: str, obj: Obj, opts: WriteOptions) -> Obj:
        """Create from ``obj``, the registry's own object (a copy of a body, an apply's merge)."""
        check_kind(rt, obj)
        meta = _meta(obj)
        strip_server_fields(meta)
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise BadRequest("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        name = meta.get("name", "")
        self._check_namespace(rt, namespace, creating=True, name=name)
        if name and self.storage.get(rt.storage_key, meta.get("namespace", ""), name):
            raise AlreadyExists(rt.group, rt.plural, name)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.is_custom or rt.kind in GENERATION_KINDS:
            meta["generation"] = 1
        if rt.status and rt.is_custom:
            obj.pop("status", None)
        obj = self._admit(rt, None, obj, opts, "")
        meta = obj["metadata"]
        if opts.manager or not meta.get("managedFields"):
            fields = managedfields.record_update(
                None, obj, opts.manager or "unknown", self.schema(rt), now_rfc3339(),
                operation="Update") if opts.manager else []
            if fields:
                meta["managedFields"] = fields
        return self._commit(rt, None, obj, opts)

    # ------------------------------------------------------------------ update
    def update(self, rt: ResourceType, namespace: str, name: str, body: Obj,
               opts: WriteOptions, subresource: str = "") -> Obj:
        ns = namespace if rt.namespaced else ""
        old = self.storage.get(rt.storage_key, ns, name)
        obj = json_copy(body)
        check_kind(rt, obj)
        meta = _meta(obj)
        if meta.get("name") and meta["name"] != name:
            raise BadRequest(f"the name of the object ({meta['name']}) does not match the name "
                             f"on the URL ({name})")
        if old is None:
            if subresource or (rt.group, rt.kind) not in _CREATE_ON_UPDATE_KINDS:
                # Most kinds refuse a PUT to a missing object (AllowCreateOnUpdate=false), so
                # a stale writer cannot resurrect an object someone else has deleted.
                raise NotFound(rt.group, rt.plural, name)
            meta["name"] = name
            return self._create(rt, namespace, obj, opts)
        given_uid = meta.get("uid")
        if given_uid and given_uid != old["metadata"].get("uid"):
            # A body naming another incarnation of the object (deleted and recreated since
            # it was read) is a failed precondition, not an update of the new one.
            raise Conflict(rt.group, rt.plural, name,
                           f"Precondition failed: UID in precondition: {given_uid}, UID in "
                           f"object meta: {old['metadata'].get('uid')}")
        given_rv = meta.get("resourceVersion")
        if given_rv and given_rv != old["metadata"]["resourceVersion"]:
            raise Conflict(rt.group, rt.plural, name, "the object has been modified; please "
                           "apply your changes to the latest version and try again")
        # Read only from here on (_prepare_update copies what it keeps of it).
        served = self.served_view(rt, old)
        new = self._prepare_update(rt, served, obj, subresource)
        new = self._admit(rt, served, new, opts, subresource)
        new["metadata"]["managedFields"] = managedfields.record_update(
            served, new, opts.manager or "unknown", self.schema(rt), now_rfc3339(),
            subresource=subresource)
        return self._commit(rt, old, new, opts)

    def _prepare_update(self, rt: ResourceType, old: Obj, new: Obj, subresource: str) -> Obj:
        """Keep what a write may not change: server metadata, and spec/status per subresource."""
        meta = new["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "generation", "namespace", "name"):
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
            else:
                meta.pop(k, None)
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if subresource == "finalize":
            # Namespaces' /finalize moves only spec.finalizers (the namespace controller's job).
            kept = json_copy(old)
            kept.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get(
                "finalizers") or []
            return kept
        if subresource == "status":
            # Only status moves through /status; everything else keeps its stored value.
            kept = json_copy(old)
            kept["metadata"]["managedFields"] = meta.get("managedFields",
                                                         old["metadata"].get("managedFields"))
            if "status" in new:
                kept["status"] = new["status"]
            else:
                kept.pop("status", None)
            return kept
        if rt.status and "status" in old:
            new["status"] = json_copy(old["status"])
        elif rt.status:
            new.pop("status", None)
        return new

    # ------------------------------------------------------------------- patch
    def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str,
              patch: Any, opts: WriteOptions, subresource: str = "") -> Obj:
        ns = namespace if rt.namespaced else ""
        old = self.storage.get(rt.storage_key, ns, name)
        if content_type in (APPLY_PATCH, APPLY_PATCH_CBOR):
            return self._apply(rt, namespace, name, old, patch, opts, subresource)
        if old is None:
            raise NotFound(rt.group, rt.plural, name)
        # The patch functions return new objects and leave this one as it is.
        current = self.served_view(rt, old)
        if content_type == JSON_PATCH:
            patched = json_patch(current, patch)
        elif content_type == MERGE_PATCH:
            if not isinstance(patch, dict):
                raise BadRequest("merge patch must be a JSON object")
            patched = merge_patch(current, patch)
        elif content_type == STRATEGIC_PATCH:
            if rt.is_custom:
                raise UnsupportedMediaType(
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}, {APPLY_PATCH_CBOR}")
            if not isinstance(patch, dict):
                raise BadRequest("strategic merge patch must be a JSON object")
            patched = strategic.strategic_merge(current, patch, self.schema(rt))
        else:
            raise UnsupportedMediaType(f"the body of the request was in an unknown format - "
                                       f"accepted media types include: {JSON_PATCH}, "
                                       f"{MERGE_PATCH}, {STRATEGIC_PATCH}, {APPLY_PATCH}")
        if not isinstance(patched, dict):
            raise BadRequest("the patch did not produce an object")
        # A deep value patched in at depth n nests n levels deeper than the patch did.
        decoding.check_depth(patched)
        pmeta = _meta(patched)
        if pmeta.get("resourceVersion") and pmeta["resourceVersion"] != old["metadata"][
                "resourceVersion"]:
            raise Conflict(rt.group, rt.plural, name, "the object has been modified; please "
                           "apply your changes to the latest version and try again")
        return self.update(rt, namespace, name, patched, opts, subresource)

    def _apply(self, rt: ResourceType, namespace: str, name: str, old: Obj | None, config: Any,
               opts: WriteOptions, subresource: str) -> Obj:
        if not isinstance(config, dict):
            raise BadRequest("error decoding YAML: the applied configuration is not an object")
        if not opts.manager:
            raise BadRequest("PATCH, fieldManager: Required value: is required for apply patch")
        check_kind(rt, config, strict=True)
        cmeta = _meta(config)
        if cmeta.get("name") and cmeta["name"] != name:
            raise BadRequest(f"the name of the object ({cmeta['name']}) does not match the name "
                             f"on the URL ({name})")
        if rt.namespaced and cmeta.get("namespace") and cmeta["namespace"] != namespace:
            raise BadRequest("the namespace of the provided object does not match the namespace "
                             "sent on the request")
        if cmeta.get("resourceVersion") and old is not None and cmeta["resourceVersion"] != \
                old["metadata"]["resourceVersion"]:
            raise Conflict(rt.group, rt.plural, name, "the object has been modified; please "
                           "apply your changes to the latest version and try again")
        cmeta["name"] = name
        if rt.namespaced:
            cmeta["namespace"] = namespace
        schema = self.schema(rt)
        now = now_rfc3339()
        live = self.served_view(rt, old) if old is not None else None  # apply copies it
        try:
            applied = managedfields.apply(live, config, opts.manager, opts.force, schema, now,
                                          subresource=subresource)
        except ApiError as exc:
            if exc.code == 409:
                exc.group, exc.kind, exc.name = rt.group, rt.plural, name
            raise
        if old is None:
            if subresource:
                raise NotFound(rt.group, rt.plural, name)
            fields = applied["metadata"].get("managedFields")
            # The merge is apply's own new object: created without another copy, so its
            # managedFields stay the shared trees apply encoded.
            created = self._create(rt, namespace, applied, WriteOptions(
                dry_run=opts.dry_run, manager="", field_validation=opts.field_validation,
                shared_result=opts.shared_result))
            if fields is not None and not opts.dry_run:
                # create() keeps the body's managedFields; should admission have lost them,
                # write them back as a real update (new revision, MODIFIED event) rather than
                # editing the stored object, which watchers already hold, in place.
                stored = self.storage.get(rt.storage_key, created["metadata"].get(
                    "namespace", ""), created["metadata"]["name"])
                if stored is not None and stored["metadata"].get("managedFields") != fields:
                    owned = json_copy(stored)
                    owned["metadata"]["managedFields"] = fields
                    created = self._commit(rt, stored, owned, opts)
            elif fields is not None:
                created["metadata"]["managedFields"] = fields
            return created
        assert live is not None
        new = self._prepare_update(rt, live, applied, subresource)
        new = self._admit(rt, live, new, opts, subresource)
        if "managedFields" in applied["metadata"]:
            new["metadata"]["managedFields"] = applied["metadata"]["managedFields"]
        return self._commit(rt, old, new, opts)

    # ------------------------------------------------------------------ delete
    def delete(self, rt: ResourceType, namespace: str, name: str, opts: DeleteOptions) -> Obj:
        ns = namespace if rt.namespaced else ""
        old = self.storage.get(rt.storage_key, ns, name)
        if old is None:
            raise NotFound(rt.group, rt.plural, name)
        meta = old["metadata"]
        if opts.precondition_uid and opts.precondition_uid != meta.get("uid"):
            raise Conflict(rt.group, rt.plural, name,
                           f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                           f"UID in object meta: {meta.get('uid')}")
        if opts.precondition_rv and opts.precondition_rv != meta.get("resourceVersion"):
            raise Conflict(rt.group, rt.plural, name,
                           f"Precondition failed: ResourceVersion in precondition: "
                           f"{opts.precondition_rv}, ResourceVersion in object meta: "
                           f"{meta.get('resourceVersion')}")
        finalizers = list(meta.get("finalizers") or [])
        policy = opts.propagation
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        is_namespace = rt.storage_key == NAMESPACE_KEY
        if finalizers or is_namespace:
            if meta.get("deletionTimestamp"):
                return self.as_served(rt, old)
            new = json_copy(old)
            nmeta = new["metadata"]
            nmeta["deletionTimestamp"] = now_rfc3339()
            nmeta["deletionGracePeriodSeconds"] = 0
            if finalizers:
                nmeta["finalizers"] = finalizers
            if "generation" in nmeta:
                nmeta["generation"] = int(nmeta["generation"]) + 1
            if is_namespace:
                new.setdefault("status", {})["phase"] = "Terminating"
            return self._commit(rt, old, new, WriteOptions(dry_run=opts.dry_run), finalize=False)
        if opts.dry_run:
            return self.as_served(rt, old)
        return self._remove(rt, old)

    def delete_collection(self, rt: ResourceType, namespace: str | None, labels: LabelSelector,
                          fields: FieldSelector, opts: DeleteOptions) -> Obj:
        listed = self.list(rt, namespace, labels, fields)
        deleted = []
        for item in listed["items"]:
            m = item["metadata"]
            try:
                deleted.append(self.delete(rt, m.get("namespace", ""), m["name"], opts))
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return {"kind": rt.list_kind, "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.storage.revision)}, "items": deleted}

    def _admit(self, rt: ResourceType, old: Obj | None, obj: Obj, opts: WriteOptions,
               subresource: str) -> Obj:
        return admit(rt, old, obj, schema=self.schema(rt), subresource=subresource,
                     field_validation=opts.field_validation, allocate_ip=self._allocate_ip)

# Kinds whose PUT creates a missing object, as their kube-apiserver strategies allow.
_CREATE_ON_UPDATE_KINDS = {("", "Endpoints"), ("", "Event"), ("", "LimitRange"),
                           ("events.k8s.io", "Event"), ("coordination.k8s.io", "Lease"),
                           *(("rbac.authorization.k8s.io", k) for k in
                             ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"))}


