"""Staged server-side apply, the way kustomize-controller applies a build.

`ResourceManager` takes the objects a Kustomization built and brings the
cluster to them, with Flux's semantics (``fluxcd/pkg/ssa``) so that a
repository behaves the same under Sluice:

* objects are applied in stages (`sluice.kube.ordering`): CRDs, Namespaces
  and ClusterRoles first, then ``*Class`` kinds (each of these two stages
  waited for until healthy), then custom stage kinds, then everything else;
  up to ``concurrency`` (Flux's ``--concurrent-ssa``, 4) requests at a time;
* every object is first applied as a server-side **dry run** (field manager
  ``kustomize-controller``, force) and compared with the live object; only
  objects that would change are written, so a no-change reconcile writes
  nothing and resourceVersions stay put. All objects of a stage are dry-run
  before any of them is written, and when an earlier stage is about to write,
  the later stages' objects that can already be checked (their kind served,
  their namespace present) are dry-run too: an invalid object leaves the
  cluster untouched;
* the owner labels ``kustomize.toolkit.fluxcd.io/name|namespace`` are set on
  every object;
* per-object switches, as labels or annotations with values compared
  case-insensitively: ``kustomize.toolkit.fluxcd.io/reconcile: disabled`` and
  ``kustomize.toolkit.fluxcd.io/ssa: Ignore`` skip the object (on either the
  manifest or the live object); ``ssa: IfNotPresent`` only creates;
  ``ssa: Merge`` keeps other managers' fields (no ownership take-over);
  ``kustomize.toolkit.fluxcd.io/force: Enabled`` (or ``spec.force`` for all)
  deletes and recreates an object whose change hits an immutable field;
* before writing an object, the field ownership of ``kubectl`` (client-side
  and server-side apply, edits, scales), ``before-first-apply`` and the
  controller's own old Update entries is transferred to the controller's
  Apply entry, and ``kubectl.kubernetes.io/last-applied-configuration`` is
  removed. Fields someone set by hand are then owned by the controller, so
  the next apply resets them or, when Git no longer has them, removes them.
  An object with no managedFields at all gets its ``before-first-apply``
  entry (made by the server on that first apply) taken over right after the
  apply, so the take-over costs one reconcile and the next one writes nothing.

Two appliers never fight over one object. Flux lets two Kustomizations that
build the same object both apply it, each relabelling it as its own every
interval, both Ready=True. Here, an object whose owner labels name another
applier that still claims it (the ``claims`` check the controller gives, e.g.
"it is in that Kustomization's inventory"; without one, any other owner's
labels) fails that object's dry run with an ownership conflict naming the
owner, before anything is written, so the second applier gets Ready=False and
the first keeps the object. An object annotated
``sluice.dev/shared-ownership: enabled`` (on the manifest or the live object)
is shared deliberately: each applier writes it in turn, as in Flux.

The result is a `ChangeSet`: one entry per object, ``created``,
``configured``, ``unchanged`` or ``skipped``, which Flux turns into events
(``Deployment/agnhost/agnhost created``) and into the inventory. Failures raise
`ApplyError` naming the object and the server's message
(``Deployment/agnhost/agnhost dry-run failed (Invalid): ...``), carrying the
changes made before the failure.

The work is split by concern, each layer a base of the next:
`sluice.kube.apply_requests` (the raw requests), `sluice.kube.dry_run`
(prepare and classify each object), `sluice.kube.takeover` (kubectl's field
ownership), `sluice.kube.normalize` (Flux's pre-apply normalisation),
`sluice.kube.apply_types` (options, plans, errors); this module writes and
runs the stages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import httpx2

from sluice.kube.apply_requests import resource_path
from sluice.kube.apply_types import (
    ApplyError,
    ApplyOptions,
    DryRun,
    failure_message,
    is_immutable_error,
)
from sluice.kube.dry_run import DryRunner
from sluice.kube.errors import ApiStatusError, KubeError, is_conflict, is_not_found
from sluice.kube.health import wait_for_health
from sluice.kube.inventory import (
    DEFAULT_FIELD_MANAGER,
    Action,
    ChangeSet,
    ChangeSetEntry,
    Owner,
)
from sluice.kube.ordering import LAST_KINDS, ObjectRef, split_stages
from sluice.kube.takeover import CLEANUP_ANNOTATIONS, CLEANUP_LABELS, cleanup_body

# Action, ChangeSet, ChangeSetEntry and Owner live with the inventory they
# feed; they are re-exported here because every apply caller needs them.
__all__ = [
    "CLEANUP_ANNOTATIONS",
    "CLEANUP_LABELS",
    "DEFAULT_FIELD_MANAGER",
    "Action",
    "ApplyError",
    "ApplyOptions",
    "ChangeSet",
    "ChangeSetEntry",
    "DryRun",
    "Owner",
    "ResourceManager",
    "is_immutable_error",
]


class ResourceManager(DryRunner):
    """Applies, deletes and waits for sets of objects on one cluster, as one owner."""

    # ---------------------------------------------------------------- writes
    async def _write_one(self, d: DryRun, opts: ApplyOptions) -> ChangeSetEntry:
        meta = d.desired["metadata"]
        namespace = meta.get("namespace", "")
        if d.recreate:
            assert d.existing is not None
            uid = (d.existing.get("metadata") or {}).get("uid")
            try:
                await self.delete(d.mapping, namespace, meta["name"], uid=uid)
            except ApiStatusError as exc:
                raise ApplyError([f"{d.ref.subject} immutable field detected, failed to delete "
                                  f"object: {exc.message}"]) from None
            await self._wait_gone(d, opts.wait_timeout)
        elif d.cleanup is not None:
            await self._take_over(d, opts)
        try:
            applied = await self._ssa(d, dry_run=False)
        except ApiStatusError as exc:
            raise ApplyError([f"{d.ref.subject} apply failed: {exc.message}"]) from None
        if d.existing is not None and not (d.existing.get("metadata") or {}).get("managedFields"):
            # An object with no field ownership at all (written before tracking, or
            # by the embedded cluster itself): the server has just given what it held
            # to ``before-first-apply``. Take it over now, so that this first apply
            # is the one that takes ownership and the next one finds nothing to do.
            cleanup = cleanup_body(applied, d.desired, opts, self.owner.field_manager)
            if cleanup is not None:
                await self._take_over(replace(d, cleanup=cleanup), opts)
        return ChangeSetEntry(d.ref, d.action)

    async def _take_over(self, d: DryRun, opts: ApplyOptions) -> None:
        """Write the cleaned-up live object (a PUT guarded by its resourceVersion).

        A full update rather than Flux's JSON patch: every API server honours
        ``managedFields`` in an update, and the resourceVersion guard means a
        concurrent writer costs a retry, never its change.
        """
        body = d.cleanup
        meta = d.desired["metadata"]
        namespace = meta.get("namespace", "")
        path = resource_path(d.mapping, namespace, meta["name"])
        for _attempt in range(3):
            if body is None:
                return
            try:
                await self._request("PUT", path, params={"fieldManager":
                                                         self.owner.field_manager}, body=body)
                return
            except ApiStatusError as exc:
                if is_not_found(exc):
                    return
                if not is_conflict(exc):
                    raise ApplyError([f"{d.ref.subject} metadata.managedFields cleanup failed: "
                                      f"{exc.message}"]) from None
            live = await self.get(d.mapping, namespace, meta["name"])
            body = cleanup_body(live, d.desired, opts, self.owner.field_manager) if live else None
        raise ApplyError([f"{d.ref.subject} metadata.managedFields cleanup failed: the object "
                          "kept changing"])

    async def _wait_gone(self, d: DryRun, timeout: float) -> None:  # noqa: ASYNC109
        meta = d.desired["metadata"]
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            live = await self.get(d.mapping, meta.get("namespace", ""), meta["name"])
            if live is None:
                return
            if time.monotonic() >= deadline:
                raise ApplyError([f"{d.ref.subject} immutable field detected, timeout waiting "
                                  "for the old object to be deleted"])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _execute(self, plans: Sequence[DryRun], opts: ApplyOptions) -> ChangeSet:
        todo = [d for d in plans if d.action in (Action.CREATED, Action.CONFIGURED)]

        async def write(d: DryRun) -> ChangeSetEntry | str:
            try:
                return await self._write_one(d, opts)
            except ApplyError as exc:
                return exc.message
            except (KubeError, httpx2.HTTPError) as exc:
                return f"{d.ref.subject} apply failed: {failure_message(exc)}"

        # Writes run concurrently, except that admission webhooks wait for the
        # rest: registered first, they would be asked to admit their own set.
        first = [d for d in todo if d.ref.kind not in LAST_KINDS]
        last = [d for d in todo if d.ref.kind in LAST_KINDS]
        done: dict[int, ChangeSetEntry | str] = {}
        for group in (first, last):
            written = await self._gather(group, write)
            done.update((id(d), w) for d, w in zip(group, written, strict=True))
        changes = ChangeSet()
        errors: list[str] = []
        for d in plans:
            result = done.get(id(d))
            if result is None:
                changes.add(ChangeSetEntry(d.ref, d.action))
            elif isinstance(result, str):
                errors.append(result)
            else:
                changes.add(result)
        if errors:
            raise ApplyError(errors, changes)
        return changes

    # ----------------------------------------------------------------- apply
    async def apply_all(self, objects: Sequence[Mapping[str, Any]],
                        opts: ApplyOptions | None = None) -> ChangeSet:
        """Dry-run then apply one set of objects, without stages or waits."""
        opts = opts or ApplyOptions()
        plans = await self.dry_run_all(objects, opts)
        return await self._execute(plans, opts)

    async def apply_all_staged(self, objects: Sequence[Mapping[str, Any]],
                               opts: ApplyOptions | None = None) -> ChangeSet:
        """Apply ``objects`` stage by stage (see the module docstring).

        Raises `ApplyError` with the changes made so far; nothing is written
        for a stage unless all its objects passed their dry run.
        """
        opts = opts or ApplyOptions()
        changes = ChangeSet()
        stages = split_stages([dict(o) for o in objects], self.custom_stage_kinds)
        checked_ahead = False
        for index, (stage, members) in enumerate(stages):
            try:
                plans = await self.dry_run_all(members, opts)
            except ApplyError as exc:
                raise ApplyError(exc.errors, changes) from None
            writes = [d for d in plans if d.action in (Action.CREATED, Action.CONFIGURED)]
            later = [o for _, objs in stages[index + 1:] for o in objs]
            if writes and later and not checked_ahead:
                checked_ahead = True
                errors = await self._check_ahead(later, plans, opts)
                if errors:
                    raise ApplyError(errors, changes)
            try:
                stage_changes = await self._execute(plans, opts)
            except ApplyError as exc:
                changes.extend(exc.change_set)
                raise ApplyError(exc.errors, changes) from None
            changes.extend(stage_changes)
            if stage.waits:
                await self._wait_stage(stage_changes, opts, changes)
                self._refresh_mappings(plans)
        return changes

    async def _check_ahead(self, later: Sequence[Mapping[str, Any]], current: Sequence[DryRun],
                           opts: ApplyOptions) -> list[str]:
        """Dry-run later stages' objects that can be checked before this stage writes.

        Skipped: objects in a namespace this stage creates, kinds not served
        yet, and kinds whose CRD this stage changes (their schema may be about
        to change). Their own stage checks them.
        """
        creating_ns = {d.ref.name for d in current
                       if d.ref.kind == "Namespace" and d.action is Action.CREATED}
        changing_groups = {
            str(((d.desired.get("spec") or {}).get("group")) or "") for d in current
            if d.ref.kind == "CustomResourceDefinition"
            and d.action in (Action.CREATED, Action.CONFIGURED)}
        candidates: list[Mapping[str, Any]] = []
        for obj in later:
            ref = ObjectRef.of(obj)
            if ref.namespace in creating_ns or ref.group in changing_groups:
                continue
            candidates.append(obj)

        async def check(obj: Mapping[str, Any]) -> str | None:
            try:
                mapping, desired = await self.prepare(obj)
            except ApplyError as exc:
                # An unknown kind may be defined by this very stage.
                return None if "no matches for kind" in exc.message else exc.message
            d = await self.dry_run(mapping, desired, opts)
            if d.failure is not None and (is_not_found(d.failure)
                                          or is_immutable_error(d.failure)):
                return None  # a missing namespace, or left to force and the stage itself
            return d.error

        results = await self._gather(candidates, check)
        return [r for r in results if r]

    async def _wait_stage(self, stage_changes: ChangeSet, opts: ApplyOptions,
                          changes: ChangeSet) -> None:
        """Wait until a definitions or classes stage is ready (CRDs Established,
        Namespaces Active); kinds without status are Current at once."""
        refs = stage_changes.refs(skipped=False)
        if not refs:
            return
        report = await wait_for_health(self.client, refs, opts.wait_timeout, opts.wait_poll)
        if not report.healthy:
            raise ApplyError([report.error or "timeout"], changes)

    def _refresh_mappings(self, plans: Sequence[DryRun]) -> None:
        """Forget discovery of the group-versions a CRD of this stage serves."""
        for d in plans:
            if d.ref.kind != "CustomResourceDefinition" or d.action not in (
                    Action.CREATED, Action.CONFIGURED):
                continue
            spec = d.desired.get("spec") or {}
            for v in spec.get("versions") or []:
                if isinstance(v, dict) and v.get("name"):
                    self.client.mapper.invalidate(f"{spec.get('group')}/{v['name']}")
