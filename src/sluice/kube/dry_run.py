"""Preparing manifests and dry-running them: what applying each object would do.

The middle layer of `sluice.kube.apply.ResourceManager`. `prepare` resolves
the kind, sets the owner labels and normalises (`sluice.kube.normalize`);
`dry_run` asks, at once, for the live object and a server-side dry run
(field manager ``kustomize-controller``, force) and classifies the object:
created, configured (the dry-run result differs from the live object in
anything but status and server metadata, or kubectl's field ownership must be
taken over, `sluice.kube.takeover`), unchanged, skipped (``reconcile:
disabled``, ``ssa: Ignore``, ``ssa: IfNotPresent`` on an existing object), to
be recreated (an immutable field under force), or failed. An object another
applier still claims fails with an ownership conflict naming that applier,
unless either side is annotated ``sluice.dev/shared-ownership: enabled``.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.api.meta import (
    ENABLED_VALUE,
    KUSTOMIZE_FORCE_ANNOTATION,
    KUSTOMIZE_SSA_ANNOTATION,
    SHARED_OWNERSHIP_ANNOTATION,
    SSA_IF_NOT_PRESENT,
)
from sluice.kube.apply_requests import ApplyRequests
from sluice.kube.apply_types import (
    ApplyError,
    ApplyOptions,
    DryRun,
    failure_message,
    failure_reason,
    is_immutable_error,
)
from sluice.kube.errors import ApiStatusError, NoKindMatch
from sluice.kube.inventory import Action, any_in_metadata, is_excluded
from sluice.kube.mapping import ResourceMapping
from sluice.kube.normalize import normalize
from sluice.kube.ordering import ObjectRef
from sluice.kube.takeover import cleanup_body

Obj = dict[str, Any]


def _comparable(obj: Mapping[str, Any]) -> Obj:
    """What drift means: everything but status and server metadata (labels and
    annotations count)."""
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion")}
    meta = obj.get("metadata") or {}
    out["metadata"] = {"labels": meta.get("labels") or {},
                       "annotations": meta.get("annotations") or {}}
    return out



class DryRunner(ApplyRequests):
    """Prepares and dry-runs objects as one owner (no writes)."""

    async def prepare(self, obj: Mapping[str, Any]) -> tuple[ResourceMapping, Obj]:
        """Resolve the kind and copy the manifest with owner labels and Flux's normalisation.

        Raises `ApplyError` for a kind the cluster does not serve or a
        namespaced object without a namespace.
        """
        desired: Obj = copy.deepcopy(dict(obj))
        ref = ObjectRef.of(desired)
        if not ref.kind or not ref.version or not ref.name:
            raise ApplyError([f"{ref.subject or 'object'} is missing apiVersion, kind or "
                              f"metadata.name"])
        try:
            mapping = await self.client.mapping(ref.api_version, ref.kind)
        except NoKindMatch as exc:
            raise ApplyError([f"{ref.subject} dry-run failed: {exc.message}"]) from None
        meta = desired.setdefault("metadata", {})
        if mapping.namespaced and not meta.get("namespace"):
            raise ApplyError([f"{ref.subject} namespace not specified"])
        if not mapping.namespaced:
            # kustomize may set a namespace on a cluster-scoped custom kind it
            # does not know; the API server ignores it, so must the identity.
            meta.pop("namespace", None)
        for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields",
                  "generation", "selfLink"):
            meta.pop(k, None)
        labels = meta.get("labels")
        meta["labels"] = {**(labels if isinstance(labels, dict) else {}), **self.owner.labels}
        normalize(desired)
        return mapping, desired

    async def dry_run(self, mapping: ResourceMapping, desired: Obj,
                      opts: ApplyOptions) -> DryRun:
        """Dry-run one prepared object (see `prepare`); failures are in the result."""
        ref = ObjectRef.of(desired)
        meta = desired["metadata"]
        namespace = meta.get("namespace", "")
        if is_excluded(desired):
            return DryRun(ref, desired, mapping, None, None, Action.SKIPPED)
        # The live object and the dry run are independent: ask for both at once.
        got, tried = await asyncio.gather(
            self.get(mapping, namespace, meta["name"]),
            self._ssa((mapping, desired), dry_run=True), return_exceptions=True)
        for outcome in (got, tried):
            if isinstance(outcome, BaseException) and not isinstance(outcome, ApiStatusError):
                raise outcome
        if isinstance(got, ApiStatusError):
            return DryRun(ref, desired, mapping, None, None, Action.UNKNOWN,
                          error=f"{ref.subject} query failed: {got.message}", failure=got)
        existing: Obj | None = got if isinstance(got, dict) else None
        failure = tried if isinstance(tried, ApiStatusError) else None
        merged: Obj | None = tried if isinstance(tried, dict) else None
        if existing is not None and (
                is_excluded(existing)
                or any_in_metadata(desired, KUSTOMIZE_SSA_ANNOTATION, SSA_IF_NOT_PRESENT)):
            return DryRun(ref, desired, mapping, existing, None, Action.SKIPPED)
        if existing is not None:
            conflict = await self._ownership_conflict(ref, desired, existing)
            if conflict is not None:
                return DryRun(ref, desired, mapping, existing, None, Action.UNKNOWN,
                              error=conflict)
        if failure is not None:
            force = opts.force or any(
                any_in_metadata(o, KUSTOMIZE_FORCE_ANNOTATION, ENABLED_VALUE)
                for o in (desired, existing))
            if existing is not None and force and is_immutable_error(failure):
                return DryRun(ref, desired, mapping, existing, None, Action.CREATED,
                              recreate=True)
            return DryRun(ref, desired, mapping, existing, None, Action.UNKNOWN,
                          error=self._dry_run_error(ref, failure), failure=failure)
        assert merged is not None
        if existing is None:
            return DryRun(ref, desired, mapping, None, merged, Action.CREATED)
        cleanup = cleanup_body(existing, desired, opts, self.owner.field_manager)
        drifted = _comparable(existing) != _comparable(merged)
        action = Action.CONFIGURED if drifted or cleanup is not None else Action.UNCHANGED
        return DryRun(ref, desired, mapping, existing, merged, action, cleanup=cleanup)

    async def _ownership_conflict(self, ref: ObjectRef, desired: Obj,
                                  existing: Obj) -> str | None:
        """Why this owner may not write ``existing``: another applier's object."""
        other = self.owner.labelled_owner(existing)
        same_kind = other is not None
        if other is None:
            # A Kustomization writing over a HelmRelease's object (or the other
            # way round) flips it every interval just the same.
            other = self.owner.foreign_owner(existing)
        if other is None or (same_kind and (other.name, other.namespace) == (
                self.owner.name, self.owner.namespace)):
            return None
        if any(any_in_metadata(o, SHARED_OWNERSHIP_ANNOTATION, ENABLED_VALUE)
               for o in (desired, existing)):
            return None
        if same_kind and self.claims is not None and not await self.claims(other, ref):
            return None  # left behind by an applier that no longer has it: adopted
        return (f"{ref.subject} ownership conflict: it belongs to {other.kind} "
                f"{other.namespace}/{other.name} ({other.name_label}, "
                f"{other.namespace_label} labels); remove it from one of them, or "
                f"annotate it {SHARED_OWNERSHIP_ANNOTATION}: {ENABLED_VALUE} to share it")

    @staticmethod
    def _dry_run_error(ref: ObjectRef, exc: BaseException) -> str:
        return f"{ref.subject} dry-run failed ({failure_reason(exc)}): {failure_message(exc)}"

    async def dry_run_all(self, objects: Sequence[Mapping[str, Any]],
                          opts: ApplyOptions | None = None) -> list[DryRun]:
        """Dry-run every object (no write); `ApplyError` lists every failure.

        Objects keep their order. This is what ``sluice diff`` shows and what
        apply does before writing a stage.
        """
        opts = opts or ApplyOptions()
        prepared, errors = await self._prepare_all(objects)
        results: list[DryRun] = await self._gather(
            prepared, lambda p: self.dry_run(p[0], p[1], opts))
        errors += [d.error for d in results if d.error]
        if errors:
            raise ApplyError(errors)
        return results

    async def _prepare_all(self, objects: Sequence[Mapping[str, Any]]
                           ) -> tuple[list[tuple[ResourceMapping, Obj]], list[str]]:
        async def one(obj: Mapping[str, Any]) -> tuple[ResourceMapping, Obj] | str:
            try:
                return await self.prepare(obj)
            except ApplyError as exc:
                return exc.message

        out = await asyncio.gather(*(one(o) for o in objects))
        prepared = [p for p in out if not isinstance(p, str)]
        errors = [p for p in out if isinstance(p, str)]
        return prepared, errors

