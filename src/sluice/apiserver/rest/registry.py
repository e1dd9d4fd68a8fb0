"""The verbs of the embedded cluster, with Kubernetes semantics and no HTTP.

``Cluster`` is what kube-apiserver's generic registry is to etcd: it turns
create, get, list, update, patch, apply and delete into checked writes on
:mod:`storage`, stamping server-owned metadata, defaulting and validating,
keeping ``managedFields``, handling finalizers and ``deletionTimestamp``, and
publishing one watch event per write. The HTTP handlers translate requests
into these calls; the garbage collector, the namespace lifecycle and the
workload simulator call them directly, in the same event loop, so every
method here runs to completion without awaiting and needs no locks. The one
exception: a write with a large body may be admitted in a worker thread
(:mod:`offload`); its final step, :meth:`Cluster._store`, still runs on the
loop and refuses a write whose object changed meanwhile, which is then
admitted again.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluice.api.conversion import convert
from sluice.apiserver.apply import managedfields
from sluice.apiserver.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    RequestEntityTooLarge,
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
from sluice.apiserver.schemas.crd_status import established
from sluice.apiserver.schemas.defaults import ClusterIPAllocator
from sluice.apiserver.schemas.resources import (
    CRD_KEY,
    NAMESPACE_KEY,
    Catalogue,
    ResourceType,
    types_from_crd,
)
from sluice.apiserver.store import offload
from sluice.apiserver.store.storage import Storage, encode
from sluice.apiserver.store.watch import Event, EventLog
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]

# etcd refuses values over 1.5 MiB; the API server reports it before storing anything.
MAX_OBJECT_BYTES = 1_572_864
SERVICES_KEY = ("", "services")

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"


@dataclass
class WriteOptions:
    """Query parameters shared by writes."""

    dry_run: bool = False
    manager: str = ""
    force: bool = False
    # Strict | Warn | Ignore: what to do with unknown or duplicate fields.
    field_validation: str = "Warn"
    # The caller only reads (encodes) the result: it may share the stored object's
    # values instead of being a deep copy (the HTTP handlers; see Cluster.served_view).
    shared_result: bool = False


@dataclass
class DeleteOptions:
    propagation: str = ""  # Orphan | Background | Foreground; "" = the kind's default
    precondition_uid: str = ""
    precondition_rv: str = ""
    dry_run: bool = False
    grace_period: int | None = None


def _cluster_ip(service: Obj) -> str:
    return str((service.get("spec") or {}).get("clusterIP") or "")


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


class Cluster:
    """Kubernetes API semantics over :class:`Storage`."""

    def __init__(self, storage: Storage, catalogue: Catalogue | None = None) -> None:
        self.storage = storage
        self.catalogue = catalogue or Catalogue.with_builtins()
        self.events = EventLog(storage.revision)
        self._ips = ClusterIPAllocator()
        # The object last stored and its encoding (see encoded()).
        self._last_body: tuple[Obj, str] | None = None
        for svc in storage.list(SERVICES_KEY):
            self._ips.reserve(_cluster_ip(svc))
        self.builtin_schema: Callable[[ResourceType], Obj | None] = lambda rt: None
        for crd in storage.list(CRD_KEY):
            self._register_crd(crd)

    # ----------------------------------------------------------------- helpers
    def resource(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.catalogue.get(group, version, plural)
        if rt is None:
            raise NotFound("", "", "")
        return rt

    def crd_version(self, rt: ResourceType) -> Obj | None:
        if not rt.is_custom:
            return None
        crd = self.storage.get(CRD_KEY, "", rt.crd_name)
        if not crd:
            return None
        for v in crd["spec"].get("versions", []):
            if v.get("name") == rt.version:
                return dict(v)
        return None

    def schema(self, rt: ResourceType) -> Obj | None:
        """The OpenAPI v3 schema of a type: the CRD's, or the built-in one."""
        if rt.is_custom:
            v = self.crd_version(rt)
            return ((v or {}).get("schema") or {}).get("openAPIV3Schema")
        return self.builtin_schema(rt)

    def printer_columns(self, rt: ResourceType) -> list[Obj] | None:
        if not rt.is_custom:
            return None
        v = self.crd_version(rt) or {}
        cols = v.get("additionalPrinterColumns")
        if cols is None:
            return [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        return list(cols)

    def as_served(self, rt: ResourceType, obj: Obj) -> Obj:
        """A copy of a stored object as served at ``rt``'s version (converted if need be)."""
        converted = None
        if rt.is_custom and obj.get("apiVersion") != rt.api_version:
            converted = convert(rt.group, rt.kind, obj, rt.version)
        out = converted if converted is not None else json_copy(obj)
        out["apiVersion"] = rt.api_version
        out["kind"] = rt.kind
        return out

    def served_view(self, rt: ResourceType, obj: Obj) -> Obj:
        """A stored object as served at ``rt``'s version, sharing its values: read only.

        Encoding a response, comparing with the previous version or patching over it
        (the patch functions copy what they change) needs no deep copy: the stored
        objects are never changed in place, each write stores a new one. Only a
        version conversion makes a copy here.
        """
        if rt.is_custom and obj.get("apiVersion") != rt.api_version:
            return self.as_served(rt, obj)
        if obj.get("apiVersion") == rt.api_version and obj.get("kind") == rt.kind:
            return obj
        # The same key order as as_served's copy, so both encode to the same bytes.
        return {**obj, "apiVersion": rt.api_version, "kind": rt.kind}

    def encoded(self, obj: Obj) -> bytes:
        """``obj``'s JSON; the text stored for it when it is the object last written.

        A write's response is usually the stored object itself (a served_view), so
        the encoding made for the database is served again rather than redone.
        """
        last = self._last_body
        if last is not None and last[0] is obj:
            return last[1].encode()
        return encode(obj).encode()

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

    def _remove(self, rt: ResourceType, old: Obj) -> Obj:
        meta = old["metadata"]
        rv = self.storage.delete(rt.storage_key, meta.get("namespace", ""), meta["name"])
        if rt.storage_key == SERVICES_KEY:
            self._ips.release(_cluster_ip(old))
        gone = json_copy(old)
        gone["metadata"]["resourceVersion"] = str(rv)
        self.events.publish(Event("DELETED", rt.storage_key, meta.get("namespace", ""),
                                  gone, old, rv))
        if rt.storage_key == CRD_KEY:
            self._drop_custom_resources(old)
            self._unregister_crd(old)
        return self.as_served(rt, gone)

    def _drop_custom_resources(self, crd: Obj) -> None:
        """A deleted CRD takes its objects with it, as the API server's CRD cleanup does."""
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        types = self.catalogue.for_storage_key(*key)
        if not types:
            return
        for obj in list(self.storage.list(key)):
            self._remove(types[0], obj)

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

    def _allocate_ip(self) -> str:
        return self._ips.allocate()

    # ----------------------------------------------------------------- commit
    def _commit(self, rt: ResourceType, old: Obj | None, new: Obj, opts: WriteOptions,
                finalize: bool = True) -> Obj:
        """Store ``new`` (the registry's own object, which it may keep) in place of ``old``."""
        served = self.served_view if opts.shared_result else self.as_served
        stored = self._to_storage(rt, new)
        if old is not None and _same(old, stored):
            return served(rt, old)
        if opts.dry_run:
            _check_size(encode(stored))
            out = self.as_served(rt, stored)
            if old is None:
                out["metadata"].pop("resourceVersion", None)
            return out
        stored_obj, removed = offload.on_loop(lambda: self._store(rt, old, stored, finalize))
        return removed if removed is not None else served(rt, stored_obj)

    def _store(self, rt: ResourceType, old: Obj | None, stored: Obj,
               finalize: bool) -> tuple[Obj, Obj | None]:
        """The write itself, always on the event loop: (stored object, or the removed one).

        A write admitted in a worker (see :mod:`offload`) read ``old`` earlier: if the
        object changed since, the write is stale and is admitted again from the new state,
        as kube-apiserver's GuaranteedUpdate retries on a resourceVersion mismatch.
        """
        meta = stored["metadata"]
        current = self.storage.get(rt.storage_key, meta.get("namespace", ""), meta["name"])
        if current is not old:
            raise offload.Stale()
        if finalize and meta.get("deletionTimestamp") and not meta.get("finalizers") and \
                old is not None:
            # The last finalizer is gone: the object goes. A namespace also waits for its
            # own spec.finalizers, which the namespace lifecycle clears once it is empty.
            if rt.storage_key != NAMESPACE_KEY or not (stored.get("spec") or {}).get(
                    "finalizers"):
                return stored, self._remove(rt, stored)
        # Encoded once, with its revision: the size check, the database row, the
        # response (encoded_as) and every watcher's event all use this text.
        meta["resourceVersion"] = str(self.storage.revision + 1)
        body = encode(stored)
        _check_size(body)
        self.storage.put(rt.storage_key, stored, body)
        self._last_body = (stored, body)
        if rt.storage_key == SERVICES_KEY:
            self._ips.reserve(_cluster_ip(stored))
        etype = "ADDED" if old is None else "MODIFIED"
        self.events.publish(Event(etype, rt.storage_key, meta.get("namespace", ""), stored, old,
                                  int(meta["resourceVersion"])), body)
        if rt.storage_key == CRD_KEY:
            self._register_crd(stored)
        return stored, None

    def _to_storage(self, rt: ResourceType, obj: Obj) -> Obj:
        """``obj`` (as served at ``rt``) in the storage version: converted, or ``obj`` itself.

        Every write builds its object from copies (of the body, of the stored
        version), so the one it commits can be stored as it is, without a copy.
        """
        version = self._storage_api_version(rt)
        converted = None
        if rt.is_custom and version != rt.api_version:
            converted = convert(rt.group, rt.kind, obj, version.rpartition("/")[2])
        stored = converted if converted is not None else obj
        stored["apiVersion"] = version
        return stored

    def _storage_api_version(self, rt: ResourceType) -> str:
        if rt.storage_version and rt.storage_version != rt.version:
            return f"{rt.group}/{rt.storage_version}"
        return rt.api_version

    # ------------------------------------------------------------------- CRDs
    def _register_crd(self, crd: Obj) -> None:
        self.catalogue.remove_crd(crd["metadata"]["name"])
        if crd["metadata"].get("deletionTimestamp"):
            return
        for rt in types_from_crd(crd):
            self.catalogue.add(rt)
        new = established(crd)
        if new is not None:
            self.storage.put(CRD_KEY, new)
            self.events.publish(Event("MODIFIED", CRD_KEY, "", new, crd,
                                      int(new["metadata"]["resourceVersion"])))

    def _unregister_crd(self, crd: Obj) -> None:
        self.catalogue.remove_crd(crd["metadata"]["name"])


# Kinds whose PUT creates a missing object, as their kube-apiserver strategies allow.
_CREATE_ON_UPDATE_KINDS = {("", "Endpoints"), ("", "Event"), ("", "LimitRange"),
                           ("events.k8s.io", "Event"), ("coordination.k8s.io", "Lease"),
                           *(("rbac.authorization.k8s.io", k) for k in
                             ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"))}


def _check_size(body: str) -> None:
    if len(body) > MAX_OBJECT_BYTES:
        raise RequestEntityTooLarge(f"etcdserver: request is too large ({len(body)} bytes, "
                                    f"limit {MAX_OBJECT_BYTES})")


def _same(old: Obj, new: Obj) -> bool:
    """A write that changes nothing but managedFields timestamps is a no-op, as in Kubernetes."""
    def norm(o: Obj) -> Obj:
        c = copy.copy(o)
        m = dict(c.get("metadata") or {})
        m.pop("resourceVersion", None)
        mf = m.pop("managedFields", None) or []
        m["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in mf]
        c["metadata"] = m
        c.pop("apiVersion", None)
        return c

    return norm(old) == norm(new)
