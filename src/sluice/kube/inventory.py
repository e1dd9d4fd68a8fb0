"""What a Kustomization owns: its inventory, garbage collection, and deletion policies.

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
from typing import Any

import httpx2

from sluice.kube.apply import (
    Action,
    ChangeSet,
    ChangeSetEntry,
    ResourceManager,
    is_prune_excluded,
)
from sluice.kube.errors import KubeError, NoKindMatch
from sluice.kube.ordering import ObjectRef, sort_key

__all__ = [
    "DeletionPolicy",
    "Inventory",
    "PruneError",
    "delete_all",
    "deletes_on_finalize",
    "finalize",
    "prune",
    "wait_for_termination",
]


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


async def _delete_one(manager: ResourceManager, ref: ObjectRef,
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


async def delete_all(manager: ResourceManager, refs: Sequence[ObjectRef], *,
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


async def prune(manager: ResourceManager, old: Inventory, new: Inventory, *,
                propagation: str = "Background") -> ChangeSet:
    """Garbage-collect what left the inventory. Call only after a successful apply."""
    return await delete_all(manager, old.diff(new), propagation=propagation)


async def wait_for_termination(manager: ResourceManager, refs: Sequence[ObjectRef],
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


async def finalize(manager: ResourceManager, inventory: Inventory,
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
