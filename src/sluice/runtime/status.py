"""Writing what a reconcile observed back to the object, the Flux way.

Flux controllers share a small contract with users and tools, implemented
here once for every kind:

* status is written through the ``/status`` subresource (so a controller
  never races a user's spec edit), as a JSON merge patch of only the
  top-level status fields that changed (fields that disappeared are sent as
  ``null``); nothing is written when nothing changed;
* the finalizer ``finalizers.fluxcd.io`` is added before the first real
  work and removed once cleanup on deletion is done, each with the object's
  resourceVersion so a concurrent change yields a conflict (and a retry)
  instead of a lost update;
* ``reconcile.fluxcd.io/requestedAt`` (set by ``flux reconcile``) is
  acknowledged by copying it to ``status.lastHandledReconcileAt`` at the end
  of the reconcile it triggered; the CLI waits for that;
* ``spec.suspend: true`` stops reconciliation (deletion still cleans up);
* a reconcile starts from the informer's copy, which can still be older than
  this controller's own last write (the watch event is on its way). Diffing
  against that stale copy would send its old conditions over the newer ones
  (a GitRepository queued again right after a pass overwrote ``Ready=True``
  with the previous pass's ``ArtifactOutdated``, and ``flux reconcile`` read
  the mix as a failure). `StatusPatcher.current` reads the object from the
  API instead, only in that case.
"""

from __future__ import annotations

import copy
from typing import Any

from sluice.api.meta import FINALIZER, RECONCILE_REQUEST_ANNOTATION
from sluice.api.resource import Resource
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects
from sluice.kube.versions import number as rv_number

__all__ = [
    "StatusPatcher",
    "has_finalizer",
    "is_deleting",
    "is_suspended",
    "record_reconcile_request",
    "requested_at",
    "status_patch",
]


def requested_at(obj: Resource) -> str | None:
    """The value of ``reconcile.fluxcd.io/requestedAt``, if set."""
    return (obj.metadata.annotations or {}).get(RECONCILE_REQUEST_ANNOTATION) or None


def record_reconcile_request(obj: Resource) -> bool:
    """Acknowledge a pending reconcile request; True if there was a new one."""
    value = requested_at(obj)
    status = getattr(obj, "status", None)
    if value is None or status is None or not hasattr(status, "last_handled_reconcile_at"):
        return False
    if status.last_handled_reconcile_at == value:
        return False
    status.last_handled_reconcile_at = value
    return True


def is_suspended(obj: Resource) -> bool:
    spec = getattr(obj, "spec", None)
    return bool(getattr(spec, "suspend", False))


def is_deleting(obj: Resource) -> bool:
    return bool(obj.metadata.deletion_timestamp)


def has_finalizer(obj: Resource, finalizer: str = FINALIZER) -> bool:
    return finalizer in (obj.metadata.finalizers or [])


def status_patch(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Merge patch turning status ``before`` into ``after`` (top-level keys only)."""
    patch: dict[str, Any] = {}
    for key, value in after.items():
        if before.get(key) != value:
            patch[key] = copy.deepcopy(value)
    for key in before:
        if key not in after:
            patch[key] = None
    return patch


class StatusPatcher:
    """Status and finalizer writes for one kind."""

    def __init__(self, objects: Objects, mapping: ResourceMapping, field_manager: str) -> None:
        self.objects = objects
        self.mapping = mapping
        self.field_manager = field_manager
        # (namespace, name) -> resourceVersion of our last write the informer may not
        # have seen yet; dropped once a copy at least that new is read.
        self._written: dict[tuple[str, str], int] = {}

    @property
    def remembered(self) -> int:
        """How many objects' last writes are kept (not yet seen by the informer)."""
        return len(self._written)

    async def current(self, namespace: str | None, name: str, raw: Obj | None) -> Obj | None:
        """``raw`` (the informer's copy of namespace/name), or the object as the API
        has it when ``raw`` predates this patcher's last write to it (None if it is
        gone meanwhile). An object the informer no longer has is forgotten here too,
        so what is kept stays bounded by the live objects.
        """
        key = (namespace or "", name)
        if raw is None:
            self._written.pop(key, None)
            return None
        written = self._written.get(key)
        if written is None:
            return raw
        meta = raw.get("metadata") or {}
        seen = rv_number(meta.get("resourceVersion"))
        if seen is not None and seen >= written:
            del self._written[key]
            return raw
        fresh = await self.objects.get_or_none(self.mapping, name, namespace or None)
        self._written.pop(key, None)
        return fresh

    async def patch_status(self, obj: Resource, before: dict[str, Any]) -> Obj | None:
        """Write the difference between ``before`` and ``obj.status``; None if no change.

        ``before`` is ``obj.status.to_dict()`` as read at the start of the
        reconcile. The object's resourceVersion is updated from the answer.
        """
        status = getattr(obj, "status", None)
        if status is None:
            return None
        after = status.to_dict()
        patch = status_patch(before, after)
        if not patch:
            return None
        updated = await self.objects.patch_status(
            self.mapping, obj.name, {"status": patch}, obj.namespace or None,
            field_manager=self.field_manager)
        self._refresh(obj, updated)
        return updated

    async def add_finalizer(self, obj: Resource, finalizer: str = FINALIZER) -> Obj:
        finalizers = [*(obj.metadata.finalizers or []), finalizer]
        return await self._set_finalizers(obj, finalizers)

    async def remove_finalizer(self, obj: Resource, finalizer: str = FINALIZER) -> Obj:
        finalizers = [f for f in obj.metadata.finalizers or [] if f != finalizer]
        return await self._set_finalizers(obj, finalizers)

    async def _set_finalizers(self, obj: Resource, finalizers: list[str]) -> Obj:
        patch = {"metadata": {"finalizers": finalizers or None,
                              "resourceVersion": obj.metadata.resource_version}}
        updated = await self.objects.merge_patch(self.mapping, obj.name, patch,
                                                 obj.namespace or None,
                                                 field_manager=self.field_manager)
        obj.metadata.finalizers = finalizers or None
        self._refresh(obj, updated)
        return updated

    def _refresh(self, obj: Resource, updated: Obj | None) -> None:
        if isinstance(updated, dict):
            rv = (updated.get("metadata") or {}).get("resourceVersion")
            if rv:
                obj.metadata.resource_version = str(rv)
                version = rv_number(rv)
                if version is not None:
                    self._written[(obj.namespace or "", obj.name)] = version
