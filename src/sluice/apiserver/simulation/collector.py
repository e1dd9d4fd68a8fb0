"""The control loops that act on deletion: ownerReference garbage collection and namespaces.

An object's ``ownerReferences`` say it exists for its owners; kube-apiserver
only records them, and kube-controller-manager's garbage collector acts on
them. ``GarbageCollector`` does the same for the embedded cluster:

- **Background** (the default): once every owner of an object is gone (no
  object with that uid, in the dependent's namespace or cluster-scoped), the
  object is deleted, and so on down the chain. An object that still has a
  live owner only loses the references to the missing ones.
- **Foreground**: an owner deleted with ``propagationPolicy: Foreground``
  carries the ``foregroundDeletion`` finalizer and a ``deletionTimestamp``;
  its dependents are deleted (in the foreground too when they have
  dependents of their own), and the finalizer is removed, which removes the
  owner, once no dependent with ``blockOwnerDeletion: true`` is left.
- **Orphan**: the ``orphan`` finalizer makes the collector remove the
  references to the owner from its dependents, then the finalizer.

It also runs the namespace lifecycle (:mod:`namespace_lifecycle`): defaults
in new namespaces, and emptying deleted ones.

The cluster calls :meth:`GarbageCollector._on_event` synchronously on every
write; it only updates two indexes (object by uid, dependents by owner uid)
and queues work, which :meth:`run` handles in batches. Nothing polls, except
that namespaces waiting for finalizers of their content are looked at again
every ``retry_interval`` seconds in case what they wait for changed without an
event reaching them (a CRD disappearing, for instance). On start, one full
pass catches up with whatever happened while the collector was not running.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest.registry import Cluster, DeleteOptions, WriteOptions
from sluice.apiserver.schemas.resources import NAMESPACE_KEY, ResourceType
from sluice.apiserver.simulation.namespace_lifecycle import (
    CONFIGMAPS,
    DEFAULT_SA,
    ROOT_CA,
    SERVICE_ACCOUNTS,
    NamespaceLifecycle,
)
from sluice.apiserver.store.watch import Event
from sluice.core.jsoncopy import json_copy

log = logging.getLogger("sluice.apiserver.gc")

Obj = dict[str, Any]
StorageKey = tuple[str, str]
Ref = tuple[StorageKey, str, str]  # storage key, namespace, name
# ("attempt" | "owner" | "ns", storage key, namespace, name)
Work = tuple[str, StorageKey, str, str]

MANAGER = "kube-controller-manager"
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"

_ORDER = {"attempt": 0, "owner": 1, "ns": 2}
_SLICE = 100


def _refs(obj: Obj | None) -> list[Obj]:
    if obj is None:
        return []
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [r for r in refs if isinstance(r, dict) and r.get("uid")]


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


class GarbageCollector:
    """Deletes what its owners' deletion leaves behind, and runs namespaces' lifecycle."""

    def __init__(self, cluster: Cluster, ca_pem: str = "", retry_interval: float = 5.0) -> None:
        self.cluster = cluster
        self.namespaces = NamespaceLifecycle(cluster, ca_pem)
        self.retry_interval = retry_interval
        self._queue: asyncio.Queue[Work] = asyncio.Queue()
        self._pending: set[Work] = set()
        self._uids: dict[str, Ref] = {}
        self._dependents: dict[str, set[Ref]] = {}
        # Namespaces whose deletion waits on content held by finalizers.
        self._waiting: set[str] = set()
        self._active = False
        self._listening = False

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        storage = self.cluster.storage
        self._uids.clear()
        self._dependents.clear()
        for key in storage.keys():
            for obj in storage.list(key):
                self._track(key, obj)
        if not self._listening:
            self.cluster.events.add_listener(self._on_event)
            self._listening = True
        self._active = True
        try:
            for ns in storage.list(NAMESPACE_KEY):
                self._enqueue(("ns", NAMESPACE_KEY, "", ns["metadata"]["name"]))
            for key in storage.keys():
                for obj in storage.list(key):
                    m = obj["metadata"]
                    ref = (key, m.get("namespace", ""), m["name"])
                    if _refs(obj):
                        self._enqueue(("attempt", *ref))
                    if m.get("deletionTimestamp") and {FOREGROUND, ORPHAN} & set(
                            m.get("finalizers") or []):
                        self._enqueue(("owner", *ref))
            while True:
                timeout = self.retry_interval if self._waiting else None
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
                    # cancellation that stops the cluster, leaving this task hung.
                    async with asyncio.timeout(timeout):
                        first = await self._queue.get()
                except TimeoutError:
                    for name in sorted(self._waiting):
                        self._enqueue(("ns", NAMESPACE_KEY, "", name))
                    continue
                batch = [first]
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                self._pending.difference_update(batch)
                batch.sort(key=lambda w: _ORDER[w[0]])
                for i, work in enumerate(batch):
                    self._handle(work)
                    if i % _SLICE == _SLICE - 1:
                        await asyncio.sleep(0)
        finally:
            self._active = False

    def _handle(self, work: Work) -> None:
        op, key, ns, name = work
        try:
            if op == "attempt":
                self._attempt((key, ns, name))
            elif op == "owner":
                self._process_owner((key, ns, name))
            elif self.namespaces.sync(name):
                self._waiting.add(name)
            else:
                self._waiting.discard(name)
        except Exception:
            # One object the collector cannot handle must not stop it for all others.
            log.exception("garbage collector failed on %s %s %s/%s", op, key[1], ns, name)

    def _enqueue(self, work: Work) -> None:
        if work not in self._pending:
            self._pending.add(work)
            self._queue.put_nowait(work)

    # ---------------------------------------------------------------- events
    def _track(self, key: StorageKey, obj: Obj) -> None:
        m = obj["metadata"]
        ref = (key, m.get("namespace", ""), m["name"])
        if m.get("uid"):
            self._uids[m["uid"]] = ref
        for r in _refs(obj):
            self._dependents.setdefault(r["uid"], set()).add(ref)

    def _untrack(self, key: StorageKey, obj: Obj) -> None:
        m = obj["metadata"]
        ref = (key, m.get("namespace", ""), m["name"])
        if m.get("uid") and self._uids.get(m["uid"]) == ref:
            del self._uids[m["uid"]]
        for r in _refs(obj):
            deps = self._dependents.get(r["uid"])
            if deps is not None:
                deps.discard(ref)
                if not deps:
                    del self._dependents[r["uid"]]

    def _on_event(self, ev: Event) -> None:
        """Called by the cluster on every write: bookkeeping and queueing only."""
        if not self._active:
            return
        key, ns, obj, old = ev.key, ev.namespace, ev.obj, ev.old
        m = obj["metadata"]
        name = m["name"]
        ref: Ref = (key, ns, name)
        if old is not None:
            self._untrack(key, old)
        if ev.type == "DELETED":
            self._untrack(key, obj)
            # Its dependents may have lost their last owner.
            for dep in sorted(self._dependents.get(m.get("uid", ""), ())):
                self._enqueue(("attempt", *dep))
            # Owners deleting in the foreground may have been waiting for this one.
            self._owners_changed(_refs(obj))
            if key == NAMESPACE_KEY:
                self._waiting.discard(name)
        else:
            self._track(key, obj)
            new_uids = {r["uid"] for r in _refs(obj)}
            old_uids = {r["uid"] for r in _refs(old)}
            if new_uids and (old is None or new_uids != old_uids):
                self._enqueue(("attempt", *ref))
            if old_uids - new_uids:
                self._owners_changed([r for r in _refs(old) if r["uid"] not in new_uids])
            if m.get("deletionTimestamp") and {FOREGROUND, ORPHAN} & set(
                    m.get("finalizers") or []):
                self._enqueue(("owner", *ref))
            if key == NAMESPACE_KEY and (old is None or m.get("deletionTimestamp") or
                                         obj.get("spec") != old.get("spec")):
                self._enqueue(("ns", NAMESPACE_KEY, "", name))
        if ns:
            self._namespace_content_changed(ev)

    def _owners_changed(self, refs: list[Obj]) -> None:
        for r in refs:
            owner = self._uids.get(r["uid"])
            if owner is not None:
                self._enqueue(("owner", *owner))

    def _namespace_content_changed(self, ev: Event) -> None:
        ns = ev.namespace
        name = ev.obj["metadata"]["name"]
        namespace = self.cluster.storage.get(NAMESPACE_KEY, "", ns)
        if namespace is None:
            return
        work: Work = ("ns", NAMESPACE_KEY, "", ns)
        if namespace["metadata"].get("deletionTimestamp"):
            before = (ev.old or {}).get("metadata") or {}
            after = ev.obj["metadata"]
            if ev.type == "DELETED" or before.get("finalizers") != after.get("finalizers"):
                self._enqueue(work)
        elif (ev.key == SERVICE_ACCOUNTS and name == DEFAULT_SA and ev.type == "DELETED") or \
                (ev.key == CONFIGMAPS and name == ROOT_CA and ev.type != "ADDED"):
            self._enqueue(work)

    # ------------------------------------------------------------- dependents
    def _type(self, key: StorageKey) -> ResourceType | None:
        types = self.cluster.catalogue.for_storage_key(*key)
        for rt in types:
            if not rt.storage_version or rt.storage_version == rt.version:
                return rt
        return types[0] if types else None

    def _owner_state(self, r: Obj, dependent_ns: str) -> str:
        """solid, waiting (deleting in the foreground), dangling (absent) or unknown (kind)."""
        found = self._uids.get(str(r["uid"]))
        if found is None:
            group = _group(str(r.get("apiVersion", "")))
            if self.cluster.catalogue.by_kind(group, str(r.get("kind", ""))) is None:
                # Kubernetes cannot look an unknown kind up either, and keeps the dependent.
                return "unknown"
            return "dangling"
        okey, ons, oname = found
        # A namespaced owner must be in the dependent's namespace; a reference to one
        # elsewhere (or from a cluster-scoped dependent) points at nothing.
        if oname != r.get("name") or (ons and ons != dependent_ns):
            return "dangling"
        owner = self.cluster.storage.get(okey, ons, oname)
        if owner is None:
            return "dangling"
        om = owner["metadata"]
        if om.get("deletionTimestamp") and FOREGROUND in (om.get("finalizers") or []):
            return "waiting"
        return "solid"

    def _attempt(self, ref: Ref) -> None:
        """Delete a dependent whose owners are all gone or going; unlink the gone ones."""
        key, ns, name = ref
        obj = self.cluster.storage.get(key, ns, name)
        if obj is None:
            return
        m = obj["metadata"]
        refs = _refs(obj)
        if not refs or m.get("deletionTimestamp"):
            return
        states = {str(r["uid"]): self._owner_state(r, ns) for r in refs}
        gone = {uid for uid, s in states.items() if s in ("dangling", "waiting")}
        if not gone:
            return
        rt = self._type(key)
        if rt is None:
            return
        if any(s in ("solid", "unknown") for s in states.values()):
            # Still owned: only the references to missing or departing owners go.
            body = json_copy(obj)
            body["metadata"]["ownerReferences"] = [r for r in refs if r["uid"] not in gone]
            self._write(rt, body)
            return
        waiting = any(s == "waiting" for s in states.values())
        policy = "Foreground" if waiting and self._dependents.get(m.get("uid", "")) else \
            "Background"
        try:
            self.cluster.delete(rt, ns, name, DeleteOptions(
                propagation=policy, precondition_uid=m.get("uid", "")))
        except ApiError as exc:
            if exc.code not in (404, 409):
                log.warning("garbage collector: cannot delete %s %s/%s: %s", rt.plural, ns,
                            name, exc)

    # ----------------------------------------------------------------- owners
    def _process_owner(self, ref: Ref) -> None:
        key, ns, name = ref
        obj = self.cluster.storage.get(key, ns, name)
        if obj is None or not obj["metadata"].get("deletionTimestamp"):
            return
        rt = self._type(key)
        if rt is None:
            return
        uid = obj["metadata"].get("uid", "")
        if ORPHAN in (obj["metadata"].get("finalizers") or []):
            for dep in sorted(self._dependents.get(uid, ())):
                self._unlink(dep, uid)
            if self._dependents.get(uid):
                return  # a dependent could not be updated; its next event brings us back
            obj = self._drop_finalizer(rt, obj, ORPHAN)
            if obj is None:
                return
        if FOREGROUND not in (obj["metadata"].get("finalizers") or []):
            return
        blocked = False
        for dep in sorted(self._dependents.get(uid, ())):
            dobj = self.cluster.storage.get(*dep)
            if dobj is None:
                continue
            if not dobj["metadata"].get("deletionTimestamp"):
                self._attempt(dep)
                dobj = self.cluster.storage.get(*dep)
                if dobj is None:
                    continue
            if any(r["uid"] == uid and r.get("blockOwnerDeletion") for r in _refs(dobj)):
                blocked = True
        if not blocked:
            self._drop_finalizer(rt, obj, FOREGROUND)

    def _unlink(self, dep: Ref, owner_uid: str) -> None:
        dobj = self.cluster.storage.get(*dep)
        if dobj is None:
            return
        rt = self._type(dep[0])
        if rt is None:
            return
        body = json_copy(dobj)
        refs = [r for r in _refs(dobj) if r["uid"] != owner_uid]
        if refs:
            body["metadata"]["ownerReferences"] = refs
        else:
            body["metadata"].pop("ownerReferences", None)
        self._write(rt, body)

    def _drop_finalizer(self, rt: ResourceType, obj: Obj, finalizer: str) -> Obj | None:
        """Remove one finalizer; removing the last one of a deleted object removes it."""
        body = json_copy(obj)
        rest = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        if rest:
            body["metadata"]["finalizers"] = rest
        else:
            body["metadata"].pop("finalizers", None)
        self._write(rt, body)
        m = obj["metadata"]
        return self.cluster.storage.get(rt.storage_key, m.get("namespace", ""), m["name"])

    def _write(self, rt: ResourceType, body: Obj) -> None:
        m = body["metadata"]
        if not m.get("ownerReferences"):
            m.pop("ownerReferences", None)
        try:
            self.cluster.update(rt, m.get("namespace", ""), m["name"], body,
                                WriteOptions(manager=MANAGER))
        except ApiError as exc:
            log.warning("garbage collector: cannot update %s %s/%s: %s", rt.plural,
                        m.get("namespace", ""), m["name"], exc)
