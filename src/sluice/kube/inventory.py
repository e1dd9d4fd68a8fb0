"""What a Kustomization owns: owner, change sets, inventory, prune and deletion policies.

An `Owner` is who applies (a Kustomization's name and namespace, written as
the owner labels ``kustomize.toolkit.fluxcd.io/name|namespace`` on every
object, and the field manager). Every apply or prune yields a `ChangeSet`:
one `ChangeSetEntry` per object with Flux's action (``created``,
``configured``, ``unchanged``, ``deleted``, ``skipped``), which becomes the
events (``Deployment/agnhost/agnhost created``) and the inventory. The
per-object switches, labels or annotations compared case-insensitively
(`any_in_metadata`), decide what the controller may touch (`is_excluded`,
`is_prune_excluded`).

After every successful apply, kustomize-controller records in
``status.inventory.entries`` one ``{id, v}`` per applied object, the id being
``<namespace>_<name>_<group>_<kind>`` (``agnhost_agnhost_apps_Deployment``,
``_agnhost__Namespace`` for a cluster-scoped core object) and ``v`` the
version it was applied at. On the next run, objects in the old inventory but
not in the new one were removed from Git: with ``spec.prune`` they are
deleted (background propagation, so dependents go with them).

Prune is careful: an object is deleted only if it still carries this
Kustomization's owner labels (another Kustomization may have adopted it) and
is not marked ``kustomize.toolkit.fluxcd.io/prune: disabled``,
``reconcile: disabled`` or ``ssa: Ignore``; those come back as ``skipped``.
An object already gone counts as ``deleted``. Deletions run in reverse apply
order (workloads before their Namespace, CRDs last).

When a Kustomization itself is deleted, ``spec.deletionPolicy`` decides what
happens to its objects: ``MirrorPrune`` (the default) deletes them if
``spec.prune`` is on, ``Delete`` always does, ``WaitForTermination`` deletes
and waits until they are gone, ``Orphan`` leaves them. `finalize` does that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx2

from sluice.api.meta import (
    DISABLED_VALUE,
    HELM_NAME_LABEL,
    HELM_NAMESPACE_LABEL,
    KUSTOMIZE_NAME_LABEL,
    KUSTOMIZE_NAMESPACE_LABEL,
    KUSTOMIZE_PRUNE_ANNOTATION,
    KUSTOMIZE_RECONCILE_ANNOTATION,
    KUSTOMIZE_SSA_ANNOTATION,
    SSA_IGNORE,
)
from sluice.kube.errors import KubeError, NoKindMatch
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects
from sluice.kube.ordering import ObjectRef, sort_key

__all__ = [
    "DEFAULT_FIELD_MANAGER",
    "Action",
    "ChangeSet",
    "ChangeSetEntry",
    "DeletionPolicy",
    "Inventory",
    "ObjectStore",
    "Owner",
    "PruneError",
    "any_in_metadata",
    "delete_all",
    "deletes_on_finalize",
    "finalize",
    "is_excluded",
    "is_prune_excluded",
    "prune",
    "wait_for_termination",
]

Obj = dict[str, Any]

DEFAULT_FIELD_MANAGER = "kustomize-controller"


class Action(StrEnum):
    """What happened to an object, in Flux's words."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ChangeSetEntry:
    ref: ObjectRef
    action: Action

    @property
    def subject(self) -> str:
        return self.ref.subject

    @property
    def changed(self) -> bool:
        return self.action in (Action.CREATED, Action.CONFIGURED, Action.DELETED)

    def to_dict(self) -> dict[str, str]:
        return {"subject": self.subject, "action": str(self.action)}

    def __str__(self) -> str:
        return f"{self.subject} {self.action}"


@dataclass
class ChangeSet:
    """The outcome of an apply or a prune, one entry per object, in apply order."""

    entries: list[ChangeSetEntry] = field(default_factory=list)

    def add(self, entry: ChangeSetEntry) -> None:
        self.entries.append(entry)

    def extend(self, other: ChangeSet | Iterable[ChangeSetEntry]) -> None:
        self.entries.extend(other.entries if isinstance(other, ChangeSet) else other)

    def __iter__(self) -> Iterator[ChangeSetEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def changed(self) -> list[ChangeSetEntry]:
        """Entries that wrote something (created, configured, deleted)."""
        return [e for e in self.entries if e.changed]

    def with_action(self, *actions: Action) -> list[ChangeSetEntry]:
        return [e for e in self.entries if e.action in actions]

    def refs(self, *, skipped: bool = True) -> list[ObjectRef]:
        return [e.ref for e in self.entries if skipped or e.action is not Action.SKIPPED]

    def to_map(self) -> dict[str, str]:
        """``{"Deployment/agnhost/agnhost": "created", ...}``."""
        return {e.subject: str(e.action) for e in self.entries}

    def to_list(self) -> list[dict[str, str]]:
        return [e.to_dict() for e in self.entries]

    def message(self) -> str:
        """One line per changed object: the body of Flux's apply event."""
        return "\n".join(str(e) for e in self.changed())

    def __str__(self) -> str:
        return self.message()


# The appliers whose owner labels mark an object as theirs: kustomize-controller's
# and helm-controller's (its post-renderer labels every object of a release).
_APPLIER_LABELS = (
    (KUSTOMIZE_NAME_LABEL, KUSTOMIZE_NAMESPACE_LABEL, "Kustomization"),
    (HELM_NAME_LABEL, HELM_NAMESPACE_LABEL, "HelmRelease"),
)


@dataclass(frozen=True)
class Owner:
    """Who applies: the owner labels' values and the field manager."""

    name: str
    namespace: str
    field_manager: str = DEFAULT_FIELD_MANAGER
    name_label: str = KUSTOMIZE_NAME_LABEL
    namespace_label: str = KUSTOMIZE_NAMESPACE_LABEL
    kind: str = "Kustomization"  # the applier's kind, as ownership conflicts name it

    @property
    def labels(self) -> dict[str, str]:
        return {self.name_label: self.name, self.namespace_label: self.namespace}

    def labelled_owner(self, obj: Mapping[str, Any]) -> Owner | None:
        """The applier of this kind whose owner labels ``obj`` carries, if any."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        name, namespace = labels.get(self.name_label), labels.get(self.namespace_label)
        if not isinstance(name, str) or not isinstance(namespace, str) or not name:
            return None
        return Owner(name, namespace, self.field_manager, self.name_label,
                     self.namespace_label, self.kind)

    def foreign_owner(self, obj: Mapping[str, Any]) -> Owner | None:
        """The applier of another kind (Kustomization, HelmRelease) labelling ``obj``."""
        for name_label, namespace_label, kind in _APPLIER_LABELS:
            if kind == self.kind or name_label == self.name_label:
                continue
            probe = Owner("", "", self.field_manager, name_label, namespace_label, kind)
            found = probe.labelled_owner(obj)
            if found is not None:
                return found
        return None

    def owns(self, obj: Mapping[str, Any]) -> bool:
        """Does the live object carry this owner's labels?"""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(labels.get(k) == v for k, v in self.labels.items())


def any_in_metadata(obj: Mapping[str, Any] | None, key: str, *values: str) -> bool:
    """Is ``key`` a label or annotation of ``obj`` with one of ``values`` (any case)?"""
    if not obj:
        return False
    meta = obj.get("metadata") or {}
    wanted = {v.lower() for v in values}
    for section in ("labels", "annotations"):
        found = (meta.get(section) or {}).get(key)
        if isinstance(found, str) and found.lower() in wanted:
            return True
    return False


def is_excluded(obj: Mapping[str, Any] | None) -> bool:
    """``reconcile: disabled`` or ``ssa: Ignore``: the controller keeps its hands off."""
    return (any_in_metadata(obj, KUSTOMIZE_RECONCILE_ANNOTATION, DISABLED_VALUE)
            or any_in_metadata(obj, KUSTOMIZE_SSA_ANNOTATION, SSA_IGNORE))


def is_prune_excluded(obj: Mapping[str, Any] | None) -> bool:
    """Objects prune and deletion must leave in place."""
    return is_excluded(obj) or any_in_metadata(obj, KUSTOMIZE_PRUNE_ANNOTATION, DISABLED_VALUE)



class ObjectStore(Protocol):
    """What prune needs from a `sluice.kube.apply.ResourceManager`."""

    client: Objects
    owner: Owner
    concurrency: int

    async def get(self, mapping: ResourceMapping, namespace: str, name: str) -> Obj | None: ...

    async def delete(self, mapping: ResourceMapping, namespace: str, name: str, *,
                     propagation: str = "Background", uid: str | None = None) -> bool: ...




class PruneError(KubeError):
    """Deleting some objects failed; ``change_set`` holds what was done."""

    def __init__(self, errors: Sequence[str], change_set: ChangeSet | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)
        self.change_set = change_set or ChangeSet()


@dataclass
class Inventory:
    """An ordered set of object references (with the version each was applied at)."""

    refs: list[ObjectRef] = field(default_factory=list)

    @classmethod
    def from_status(cls, inventory: Mapping[str, Any] | None) -> Inventory:
        """Read ``status.inventory`` (``{"entries": [{"id": ..., "v": ...}]}``).

        Entries that cannot be parsed are dropped: they cannot name an object.
        """
        refs: list[ObjectRef] = []
        seen: set[tuple[str, str, str, str]] = set()
        for entry in (inventory or {}).get("entries") or []:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
                continue
            try:
                ref = ObjectRef.parse_id(entry["id"], str(entry.get("v") or ""))
            except ValueError:
                continue
            if ref.key not in seen:
                seen.add(ref.key)
                refs.append(ref)
        return cls(refs)

    @classmethod
    def from_change_set(cls, change_set: ChangeSet | Iterable[ChangeSetEntry]) -> Inventory:
        """Every object of an apply, skipped ones included (Flux keeps them)."""
        return cls.from_refs(e.ref for e in change_set)

    @classmethod
    def from_refs(cls, refs: Iterable[ObjectRef]) -> Inventory:
        out: list[ObjectRef] = []
        seen: set[tuple[str, str, str, str]] = set()
        for ref in refs:
            if ref.key not in seen:
                seen.add(ref.key)
                out.append(ref)
        return cls(out)

    def to_status(self) -> dict[str, Any]:
        """The ``status.inventory`` value."""
        return {"entries": [{"id": r.id, "v": r.version} for r in self.refs]}

    def __iter__(self) -> Iterator[ObjectRef]:
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, ObjectRef):
            return False
        return any(r.key == ref.key for r in self.refs)

    def ids(self) -> list[str]:
        return [r.id for r in self.refs]

    def diff(self, newer: Inventory) -> list[ObjectRef]:
        """Objects in this (older) inventory that ``newer`` no longer lists."""
        keep = {r.key for r in newer.refs}
        return [r for r in self.refs if r.key not in keep]


class DeletionPolicy(StrEnum):
    MIRROR_PRUNE = "MirrorPrune"
    DELETE = "Delete"
    WAIT_FOR_TERMINATION = "WaitForTermination"
    ORPHAN = "Orphan"


def deletes_on_finalize(policy: DeletionPolicy | str | None, prune: bool,
                        suspended: bool = False) -> bool:
    """Does deleting the Kustomization delete its objects?

    A suspended Kustomization never touches the cluster, not even on deletion.
    """
    if suspended:
        return False
    chosen = DeletionPolicy(policy or DeletionPolicy.MIRROR_PRUNE)
    if chosen is DeletionPolicy.MIRROR_PRUNE:
        return prune
    return chosen in (DeletionPolicy.DELETE, DeletionPolicy.WAIT_FOR_TERMINATION)


async def _delete_one(manager: ObjectStore, ref: ObjectRef,
                      propagation: str) -> ChangeSetEntry | str:
    try:
        mapping = await manager.client.mapping(ref.api_version, ref.kind)
    except NoKindMatch:
        # The kind is not served any more (its CRD went first): nothing of it
        # can exist.
        return ChangeSetEntry(ref, Action.DELETED)
    except (KubeError, httpx2.HTTPError) as exc:
        return f"{ref.subject} query failed: {exc}"
    namespace = ref.namespace if mapping.namespaced else ""
    try:
        live = await manager.get(mapping, namespace, ref.name)
    except (KubeError, httpx2.HTTPError) as exc:
        return f"{ref.subject} query failed: {exc}"
    if live is None:
        return ChangeSetEntry(ref, Action.DELETED)
    if not manager.owner.owns(live) or is_prune_excluded(live):
        return ChangeSetEntry(ref, Action.SKIPPED)
    uid = (live.get("metadata") or {}).get("uid")
    try:
        await manager.delete(mapping, namespace, ref.name, propagation=propagation, uid=uid)
    except (KubeError, httpx2.HTTPError) as exc:
        return f"{ref.subject} delete failed: {exc}"
    return ChangeSetEntry(ref, Action.DELETED)


async def delete_all(manager: ObjectStore, refs: Sequence[ObjectRef], *,
                     propagation: str = "Background") -> ChangeSet:
    """Delete the owned, non-excluded objects among ``refs`` (reverse apply order).

    Raises `PruneError` listing every failure, with the change set of the rest.
    """
    ordered = sorted(refs, key=sort_key, reverse=True)
    sem = asyncio.Semaphore(manager.concurrency)

    async def run(ref: ObjectRef) -> ChangeSetEntry | str:
        async with sem:
            return await _delete_one(manager, ref, propagation)

    results = await asyncio.gather(*(run(r) for r in ordered))
    changes = ChangeSet([r for r in results if isinstance(r, ChangeSetEntry)])
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        raise PruneError(errors, changes)
    return changes


async def prune(manager: ObjectStore, old: Inventory, new: Inventory, *,
                propagation: str = "Background") -> ChangeSet:
    """Garbage-collect what left the inventory. Call only after a successful apply."""
    return await delete_all(manager, old.diff(new), propagation=propagation)


async def wait_for_termination(manager: ObjectStore, refs: Sequence[ObjectRef],
                               timeout: float, poll: float = 2.0) -> None:  # noqa: ASYNC109
    """Poll until every object in ``refs`` is gone; `PruneError` on timeout."""
    deadline = time.monotonic() + timeout
    remaining = list(refs)
    while True:
        still: list[ObjectRef] = []
        for ref in remaining:
            try:
                mapping = await manager.client.mapping(ref.api_version, ref.kind)
            except NoKindMatch:
                continue
            namespace = ref.namespace if mapping.namespaced else ""
            if await manager.get(mapping, namespace, ref.name) is not None:
                still.append(ref)
        if not still:
            return
        if time.monotonic() >= deadline:
            listing = ", ".join(f"{r.subject} status: 'Terminating'" for r in still)
            raise PruneError([f"timeout waiting for: [{listing}]"])
        remaining = still
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))


async def finalize(manager: ObjectStore, inventory: Inventory,
                   policy: DeletionPolicy | str | None, *, prune: bool,
                   suspended: bool = False,
                   timeout: float = 300.0,  # noqa: ASYNC109 - the Kustomization's spec.timeout
                   poll: float = 2.0) -> ChangeSet:
    """Apply the deletion policy of a Kustomization being deleted.

    Returns the deletions made (empty for Orphan, or MirrorPrune without
    prune). With WaitForTermination, returns only once the deleted objects
    are gone, or raises `PruneError` after ``timeout``.
    """
    if not deletes_on_finalize(policy, prune, suspended) or not inventory.refs:
        return ChangeSet()
    changes = await delete_all(manager, inventory.refs)
    if DeletionPolicy(policy or DeletionPolicy.MIRROR_PRUNE) is \
            DeletionPolicy.WAIT_FOR_TERMINATION:
        deleted = [e.ref for e in changes if e.action is Action.DELETED]
        await wait_for_termination(manager, deleted, timeout, poll)
    return changes
