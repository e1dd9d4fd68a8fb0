"""Live state of applied objects, kept from watches: has anything an applier wrote changed?

A reconcile that finds nothing to do should cost nothing. Flux's controllers
cannot know that without asking: every interval they dry-run every object
again. Argo CD instead keeps the live state of what it manages from watches;
`LiveState` does the same, for any applier that writes objects with
server-side apply under one field manager (kustomize-controller, and the
HelmRelease controller's drift detection could use it the same way).

How an applier uses it (one ``owner`` string per applying object, e.g.
``Kustomization/ns/name``)::

    observe = live.begin(owner)           # before applying
    manager = ResourceManager(..., observe=observe)   # every live object seen
    ...apply...
    await live.commit(owner, inventory)   # after success: what is now ours
    live.abort(owner)                     # after a failure instead
    ...
    if live.is_clean(owner): skip         # next time: nothing changed since
    drift = live.drift(owner)             # or: only these objects changed
    observe = live.begin(owner, partial=True)   # re-apply just those ...
    await live.commit(owner, their_refs, partial=True)
    live.forget(owner)                    # the owner is gone

What is recorded, per applied object: its key (group, kind, namespace, name),
the resourceVersion of the newest copy the applier saw during its own apply
(the live object it compared, or its own write's answer), and a 16-byte
digest of what the field manager owns: the ``fieldsV1`` of its ``Apply``
entry in ``managedFields`` and the values at those paths. Nothing else of the
object is kept, so memory grows by about a hundred bytes per object (measured
in bench/bench_nochange.py).

One watch per group/kind that some owner has objects of (all namespaces,
filtered by the appliers' owner label when given), started on first need and
stopped when no owner needs the kind any more. A watch event then means:

* resourceVersion not newer than the recorded one: the applier's own write,
  seen late; ignored;
* same digest: a change to fields the manager does not own (status, the
  simulator's or another manager's fields, e.g. ``kubectl annotate``) is not
  drift and is not fought over;
* different digest (``kubectl scale`` or ``edit`` takes the field's ownership
  away; ``kubectl apply --server-side --force-conflicts`` too), or a deletion
  (or leaving the label selector): the object has *drifted*, and
  ``on_drift`` is called at once (once per object until an apply records it
  again) so the controller reconciles within moments, not at its next
  interval.

`drift` names the drifted objects (`Drift`: key, and whether it was
deleted), so an applier can put back just those instead of re-checking
everything: a partial apply (``begin(owner, partial=True)`` and
``commit(owner, refs, partial=True)`` with only the re-applied objects)
updates their records and keeps every other record as it was. Whatever
cannot be pinned on given objects (an apply that failed, a relist after
``410 Gone``, a kind whose watch cannot start) makes `drift` answer None:
the owner must be reconciled in full.

A health check after an apply can `follow` the objects it waits on: every
watch event of theirs is offered to its `sluice.kube.latest.LatestObjects`,
so the status a Deployment's controller writes after the apply arrives
without a GET.

Events that arrive while the owner is applying are held until `commit`: one
explained by what the apply itself observed afterwards (its own write, or a
change the dry run already saw and corrected) is dropped; any other leaves
the owner dirty. Events for objects not yet recorded (a create whose answer
has not arrived) are remembered, bounded, in a small per-kind ring, so a
change racing the first apply is not lost either.

Correctness first: an owner is clean only when every one of its kinds'
watches has listed and is following the stream. A watch that fails waits to
be re-established (the owner is not clean meanwhile); one whose
resourceVersion expired (``410 Gone``) lists again and marks every owner
with objects of that kind dirty, since events may have been missed.
resourceVersions are compared as integers when both are (etcd's and the
embedded cluster's are); otherwise any different version counts as newer,
which can only cause an unneeded full reconcile, never a missed change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from sluice.kube.errors import KubeError, NoKindMatch, is_gone
from sluice.kube.latest import LatestObjects
from sluice.kube.mapping import ResourceMapping, split_api_version
from sluice.kube.objects import Obj, Objects
from sluice.kube.versions import known_older
from sluice.runtime.owned_fields import owned_digest

__all__ = ["Drift", "LiveState", "Observer"]

log = logging.getLogger("sluice.runtime.livestate")

Kind = tuple[str, str]  # (group, kind)
Key = tuple[str, str]  # (namespace, name)
# Called with every live object an apply saw (a GET's, or a write's answer).
Observer = Callable[[Mapping[str, Any]], None]

_MIN_RETRY = 0.1
_MAX_RETRY = 10.0


def _newer(a: str, b: str) -> bool:
    """Is resourceVersion ``a`` newer than ``b``? Unknown order counts as newer."""
    return a != b and not known_older(a, b)


@dataclass(frozen=True, slots=True, order=True)
class Drift:
    """One applied object changed (or deleted) in the cluster since its owner's apply."""

    group: str
    kind: str
    namespace: str
    name: str
    deleted: bool = False


@dataclass(slots=True)
class _Entry:
    rv: str
    digest: bytes
    owners: tuple[str, ...]


Ident = tuple[Kind, Key]


@dataclass
class _Owner:
    kinds: dict[Kind, set[Key]] = field(default_factory=dict)
    committed: bool = False
    # Needs a full reconcile: something changed that no object list explains.
    full: bool = False
    # Objects that drifted since the last commit -> deleted?
    drifted: dict[Ident, bool] = field(default_factory=dict)
    applying: bool = False
    # While applying: what the apply saw, and events on the owner's objects
    # (newest resourceVersion, deleted?).
    seen: dict[Ident, tuple[str, bytes, str]] = field(default_factory=dict)
    window: dict[Ident, tuple[str, bool]] = field(default_factory=dict)

    @property
    def dirty(self) -> bool:
        return self.full or bool(self.drifted)


class _KindWatch:
    """One group/kind, all namespaces: the recorded entries and the watch keeping them."""

    def __init__(self, state: LiveState, kind: Kind, mapping: ResourceMapping) -> None:
        self.state = state
        self.kind = kind
        self.mapping = mapping
        self.entries: dict[Key, _Entry] = {}
        # Newest resourceVersion of recent events on objects not recorded (bounded),
        # with the owned digest at that version (None: deleted).
        self.recent: OrderedDict[Key, tuple[str, bytes | None]] = OrderedDict()
        self.synced = False
        self.resource_version = ""
        self.list_count = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        name = f"livestate-{self.mapping.plural}.{self.mapping.group or 'core'}"
        self.task = asyncio.create_task(self._run(), name=name)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None
        self.synced = False

    # ------------------------------------------------------------ the watch
    async def _run(self) -> None:
        delay = _MIN_RETRY
        while True:
            try:
                await self._list()
                delay = _MIN_RETRY
                await self._follow()
                log.info("%s: resourceVersion %s expired, listing again", self.mapping.plural,
                         self.resource_version)
                self.synced = False
                self.state._relisted(self)
            except asyncio.CancelledError:
                raise
            except (KubeError, httpx2.HTTPError, ValueError) as exc:
                self.synced = False
                log.warning("%s: live-state list failed (%s), retrying in %.1fs",
                            self.mapping.plural, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY)

    async def _list(self) -> None:
        items, rv = await self.state.objects.list(self.mapping, None,
                                                  label_selector=self.state.selector)
        self.list_count += 1
        self.resource_version = rv
        listed: set[Key] = set()
        for obj in items:
            key = _key(obj)
            listed.add(key)
            self._event("MODIFIED", obj)
        # Recorded objects missing from the list were deleted, unless recorded after it.
        for key, entry in list(self.entries.items()):
            if key not in listed and not _newer(entry.rv, rv):
                self.state._drift(self, key, rv, deleted=True)
        self.synced = True

    async def _follow(self) -> None:
        """Follow the watch, reconnecting, until the server answers 410 Gone."""
        delay = _MIN_RETRY
        while True:
            started = asyncio.get_running_loop().time()
            try:
                async for etype, obj in self.state.objects.watch(
                        self.mapping, None, resource_version=self.resource_version,
                        label_selector=self.state.selector,
                        timeout_seconds=self.state.watch_timeout):
                    delay = _MIN_RETRY
                    self.synced = True
                    rv = _rv(obj)
                    if rv:
                        self.resource_version = rv
                    if etype != "BOOKMARK":
                        self._event(etype, obj)
            except asyncio.CancelledError:
                raise
            except KubeError as exc:
                if is_gone(exc):
                    return
                self.synced = False
                log.warning("%s: live-state watch failed (%s), retrying in %.1fs",
                            self.mapping.plural, exc, delay)
            except (httpx2.HTTPError, ValueError) as exc:
                self.synced = False
                log.info("%s: live-state watch interrupted (%s), reconnecting in %.1fs",
                         self.mapping.plural, type(exc).__name__, delay)
            else:
                if asyncio.get_running_loop().time() - started > 1.0:
                    continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY)

    def _event(self, etype: str, obj: Obj) -> None:
        key, rv = _key(obj), _rv(obj)
        followers = self.state._followers.get((self.kind, key)) if self.state._followers \
            else None
        for latest in followers or ():
            latest.offer(obj, deleted=etype == "DELETED")
        entry = self.entries.get(key)
        if entry is None:
            # The digest too: on a first apply every object is unrecorded, and the
            # writes that follow it (a Deployment's revision annotation and status by
            # the controller manager) change nothing the applier owns. Without it they
            # made every first apply look drifted at commit, and re-applied.
            self.recent[key] = (rv, None if etype == "DELETED" else
                                owned_digest(obj, self.state.field_manager))
            self.recent.move_to_end(key)
            while len(self.recent) > self.state.recent_limit:
                self.recent.popitem(last=False)
            return
        if etype != "DELETED" and self.state.untracked is not None \
                and self.state.untracked(obj):
            del self.entries[key]  # e.g. shared since: no longer watched for drift
            return
        if etype == "DELETED":
            # A deletion's version is at least the object's last one.
            if known_older(rv, entry.rv):
                return
            self.state._drift(self, key, rv, deleted=True)
            return
        if not _newer(rv, entry.rv):
            return
        if owned_digest(obj, self.state.field_manager) == entry.digest:
            return  # not a change to anything the manager owns
        self.state._drift(self, key, rv)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _kind_of(obj: Mapping[str, Any]) -> tuple[Kind, str]:
    group, version = split_api_version(str(obj.get("apiVersion") or ""))
    return (group, str(obj.get("kind") or "")), version


class LiveState:
    """What appliers last wrote, kept current from watches; see the module docs."""

    def __init__(self, objects: Objects, field_manager: str | tuple[str, ...],
                 on_drift: Callable[[str], None] | None = None, *,
                 selector: str | None = None, recent_limit: int = 2048,
                 watch_timeout: int = 300,
                 untracked: Callable[[Mapping[str, Any]], bool] | None = None) -> None:
        self.objects = objects
        # Objects never recorded, e.g. ones two appliers share on purpose: each one's
        # apply would otherwise be drift to the other, and they would take turns forever.
        self.untracked = untracked
        self.field_manager = field_manager
        self.on_drift = on_drift
        self.selector = selector
        self.recent_limit = recent_limit
        self.watch_timeout = watch_timeout
        self._owners: dict[str, _Owner] = {}
        self._watches: dict[Kind, _KindWatch] = {}
        # Health checks waiting on objects (`follow`): every watch event of theirs.
        self._followers: dict[Ident, list[LatestObjects]] = {}
        # How many times an owner was found dirty (for metrics and tests).
        self.drift_count = 0

    # ------------------------------------------------------------ appliers
    def begin(self, owner: str, *, partial: bool = False) -> Observer:
        """An apply by ``owner`` starts; the returned observer records what it sees.

        ``partial``: the apply re-applies only some of the owner's objects (the
        drifted ones); what is known about the others is kept.
        """
        state = self._owners.setdefault(owner, _Owner())
        state.applying = True
        if not partial:
            state.full = False
            state.drifted.clear()
        state.seen.clear()
        state.window.clear()

        def observe(obj: Mapping[str, Any]) -> None:
            kind, version = _kind_of(obj)
            rv = _rv(obj)
            if not kind[1] or not rv or (self.untracked is not None and self.untracked(obj)):
                return
            ident = (kind, _key(obj))
            previous = state.seen.get(ident)
            if previous is not None and not _newer(rv, previous[0]):
                return
            state.seen[ident] = (rv, owned_digest(obj, self.field_manager), version)

        return observe

    async def commit(self, owner: str, refs: Iterable[Any], *, partial: bool = False) -> None:
        """``owner``'s apply succeeded; ``refs`` (group, kind, namespace, name, version
        attributes, e.g. `sluice.kube.ordering.ObjectRef`) are its objects now.

        Objects the apply did not see (skipped ones) are not tracked; the owner
        stays dirty if anything changed during the apply that it did not explain.
        With ``partial`` (after ``begin(owner, partial=True)``), ``refs`` are the
        objects re-applied: their records are renewed, the others' kept.
        """
        state = self._owners.setdefault(owner, _Owner())
        wanted: dict[Kind, set[Key]] = {}
        versions: dict[Kind, str] = {}
        for ref in refs:
            kind = (str(ref.group), str(ref.kind))
            key = (str(ref.namespace), str(ref.name))
            if (kind, key) not in state.seen:
                if partial and (kind, key) in state.drifted:
                    state.full = True  # re-applied but not seen: cannot tell
                continue
            wanted.setdefault(kind, set()).add(key)
            versions.setdefault(kind, str(ref.version) or state.seen[(kind, key)][2])
        drifted: dict[Ident, bool] = dict(state.drifted) if partial else {}
        if partial:
            # Drift on objects this apply did not touch is still to correct.
            drifted.update((ident, deleted) for ident, (_, deleted) in state.window.items()
                           if ident[1] not in wanted.get(ident[0], ()))
        full = state.full
        for kind, keys in wanted.items():
            watch = self._watches.get(kind)
            if watch is None:
                try:
                    mapping = await self.objects.mapping(
                        f"{kind[0]}/{versions[kind]}" if kind[0] else versions[kind], kind[1])
                except (NoKindMatch, KubeError, httpx2.HTTPError) as exc:
                    log.info("no live-state watch for %s: %s", kind[1], exc)
                    full = True
                    continue
                watch = self._watches.get(kind)
                if watch is None:
                    watch = _KindWatch(self, kind, mapping)
                    self._watches[kind] = watch
                    watch.start()
            for key in keys:
                rv, digest, _ = state.seen[(kind, key)]
                entry = watch.entries.get(key)
                if entry is None:
                    watch.entries[key] = _Entry(rv, digest, (owner,))
                else:
                    entry.rv, entry.digest = rv, digest
                    if owner not in entry.owners:
                        entry.owners = (*entry.owners, owner)
                drifted.pop((kind, key), None)
                changed = state.window.get((kind, key))
                recent = watch.recent.pop(key, None)
                if changed is not None and _newer(changed[0], rv):
                    drifted[(kind, key)] = changed[1]  # changed after the apply last saw it
                elif recent is not None and _newer(recent[0], rv) and recent[1] != digest:
                    drifted[(kind, key)] = recent[1] is None
        if partial:
            for kind, keys in wanted.items():
                state.kinds.setdefault(kind, set()).update(keys)
        else:
            self._release(owner, state, wanted)
            state.kinds = wanted
        state.seen.clear()
        state.window.clear()
        state.applying = False
        state.committed = True
        state.full = full
        state.drifted = drifted
        await self._stop_unused()
        if state.dirty:
            self._notify(owner)

    def follow(self, latest: LatestObjects, refs: Iterable[Any]) -> Callable[[], None]:
        """Offer ``latest`` every watch event on ``refs`` (objects with group, kind,
        namespace, name), until the returned undo is called.

        What a health check after an apply waits on (`sluice.kube.latest`): the
        status a Deployment's controller writes then arrives with the watch event,
        without a GET. Only kinds some owner already applied are watched; for the
        others ``latest.fed`` says no and the health check reads the object itself.
        """
        idents = {((str(r.group), str(r.kind)), (str(r.namespace), str(r.name))) for r in refs}
        for ident in idents:
            self._followers.setdefault(ident, []).append(latest)

        def fed(key: tuple[str, str, str, str]) -> bool:
            ident = ((key[0], key[1]), (key[2], key[3]))
            watch = self._watches.get(ident[0])
            return ident in idents and watch is not None and watch.synced

        latest.feeder = fed

        def undo() -> None:
            latest.feeder = None
            for ident in idents:
                followers = self._followers.get(ident)
                if followers is not None and latest in followers:
                    followers.remove(latest)
                    if not followers:
                        del self._followers[ident]

        return undo

    def abort(self, owner: str) -> None:
        """``owner``'s apply failed: not clean until its next successful commit."""
        state = self._owners.get(owner)
        if state is not None:
            state.applying = False
            state.full = True
            state.seen.clear()
            state.window.clear()

    async def forget(self, owner: str) -> None:
        """``owner`` is gone: drop its records, stop watches nobody needs."""
        state = self._owners.pop(owner, None)
        if state is not None:
            self._release(owner, state, {})
            await self._stop_unused()

    def drift(self, owner: str) -> list[Drift] | None:
        """What changed in ``owner``'s objects since its last commit, as far as watches show.

        ``[]``: nothing (clean). A list: only these objects changed, every
        other one is as applied. None: no such claim can be made (never
        committed, applying, an apply failed, events may have been missed, a
        watch is not following its stream): reconcile in full.
        """
        state = self._owners.get(owner)
        if state is None or not state.committed or state.full or state.applying:
            return None
        for kind in state.kinds:
            watch = self._watches.get(kind)
            if watch is None or not watch.synced:
                return None
        return sorted(Drift(kind[0], kind[1], key[0], key[1], deleted)
                      for (kind, key), deleted in state.drifted.items())

    def is_clean(self, owner: str) -> bool:
        """Nothing ``owner`` applied changed since its last commit, as far as watches show."""
        return self.drift(owner) == []

    def tracked(self, owner: str) -> int:
        """How many of ``owner``'s objects are recorded."""
        state = self._owners.get(owner)
        return sum(len(keys) for keys in state.kinds.values()) if state is not None else 0

    @property
    def watched_kinds(self) -> list[str]:
        """Kinds with a running watch (``Deployment.apps``), for logs and tests."""
        return sorted(f"{k}.{g}" if g else k for g, k in self._watches)

    async def close(self) -> None:
        for watch in list(self._watches.values()):
            await watch.stop()
        self._watches.clear()
        self._owners.clear()

    # ------------------------------------------------------------ internals
    def _release(self, owner: str, state: _Owner, keep: Mapping[Kind, set[Key]]) -> None:
        for kind, keys in state.kinds.items():
            watch = self._watches.get(kind)
            if watch is None:
                continue
            for key in keys - keep.get(kind, set()):
                entry = watch.entries.get(key)
                if entry is None:
                    continue
                entry.owners = tuple(o for o in entry.owners if o != owner)
                if not entry.owners:
                    del watch.entries[key]

    async def _stop_unused(self) -> None:
        for kind, watch in list(self._watches.items()):
            if not watch.entries:
                del self._watches[kind]
                await watch.stop()

    def _drift(self, watch: _KindWatch, key: Key, rv: str, *, deleted: bool = False) -> None:
        entry = watch.entries.get(key)
        if entry is None:
            return
        for owner in entry.owners:
            state = self._owners.get(owner)
            if state is None:
                continue
            ident = (watch.kind, key)
            if state.applying:
                before = state.window.get(ident)
                state.window[ident] = (rv or "deleted", deleted or bool(before and before[1]))
                continue
            if not state.dirty:
                self.drift_count += 1
            known = ident in state.drifted
            state.drifted[ident] = deleted or state.drifted.get(ident, False)
            if not known:
                # Once per object until it is corrected: the events that follow a
                # change (the status updates after a ``kubectl scale``) add nothing,
                # and the controller paces corrections by these calls.
                log.info("%s: %s %s/%s changed in the cluster%s", owner, watch.kind[1],
                         key[0] or "-", key[1], " (deleted)" if deleted else "")
                self._notify(owner)

    def _relisted(self, watch: _KindWatch) -> None:
        """Events may have been missed: every owner of this kind reconciles in full."""
        owners = {o for entry in watch.entries.values() for o in entry.owners}
        for owner in sorted(owners):
            state = self._owners.get(owner)
            if state is not None:
                state.full = True
                self._notify(owner)

    def _notify(self, owner: str) -> None:
        if self.on_drift is not None:
            try:
                self.on_drift(owner)
            except Exception:  # a broken subscriber must not break the watch
                log.exception("live-state drift handler failed for %s", owner)
