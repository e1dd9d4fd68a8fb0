"""The objects of the embedded cluster as stored and as served: the last step of every write.

:class:`StoredObjects` is the half of :class:`~sluice.apiserver.rest.registry.Cluster`
that touches :mod:`storage` and the watch :mod:`watch` log. It knows the types
(catalogue, schemas, printer columns), serves stored objects at a requested
version (a copy, or a read-only view sharing the stored values), and commits
what the verbs in :mod:`registry` have admitted: a no-op write is dropped, an
oversized one refused, an object whose last finalizer went is removed, and
every stored write gets its revision, is encoded once (database row, response,
watchers) and publishes one event. Registering a CRD's types and dropping a
deleted CRD's objects happen here too, since both follow a commit.

Stored objects are never changed in place: each write stores a new object
(built from copies by the verbs), so readers may share them read-only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sluice.api.conversion import convert
from sluice.apiserver.errors import NotFound, RequestEntityTooLarge
from sluice.apiserver.rest.write_options import WriteOptions
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

__all__ = ["MAX_OBJECT_BYTES", "SERVICES_KEY", "StoredObjects"]

Obj = dict[str, Any]

# etcd refuses values over 1.5 MiB; the API server reports it before storing anything.
MAX_OBJECT_BYTES = 1_572_864
SERVICES_KEY = ("", "services")


def _cluster_ip(service: Obj) -> str:
    return str((service.get("spec") or {}).get("clusterIP") or "")


class StoredObjects:
    """Types, served forms, and the commit of writes onto :class:`Storage`."""

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

    # --------------------------------------------------- types and served forms
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
