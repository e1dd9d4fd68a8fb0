"""The Kustomization reconciler: a source artifact in, the cluster brought to it.

This is kustomize-controller's loop, in its order and with its status, so a
repository written for Flux behaves the same under Sluice:

1. deleted object -> apply ``spec.deletionPolicy`` to the inventory
   (MirrorPrune follows ``spec.prune``; Delete; WaitForTermination; Orphan),
   then drop the ``finalizers.fluxcd.io`` finalizer;
2. add the finalizer; ``spec.suspend`` stops here;
3. *source*: the ``sourceRef`` (GitRepository, OCIRepository, Bucket; its
   namespace defaults to the Kustomization's, cross-namespace references can
   be refused) read from the shared informer; no source or no artifact ->
   ``Ready=False ArtifactFailed``, retried after ``retryInterval``;
4. *dependsOn* (`dependencies`): not ready -> ``Ready=False
   DependencyNotReady``, retried after 30 s;
5. ``Ready=Unknown`` ``Reconciliation in progress`` and ``Reconciling``
   ``Fetching manifests for revision <rev> with a timeout of <t>`` (written
   when a download is needed); download and verify the artifact (`fetch`;
   extracted once per digest and shared, `artifact_cache`), find ``spec.path``
   (``kustomization path not found: ...``, ArtifactFailed); record
   ``lastAttemptedRevision``;
6. *build* (`building`): kustomize with the spec merged, post-build
   substitution, ``commonMetadata`` -> BuildFailed; nothing is applied;
7. *apply*: staged server-side apply as ``kustomize-controller`` with a dry
   run first (`sluice.kube.apply`), impersonating ``serviceAccountName``
   when set -> ReconciliationFailed; changed objects become one event
   (``Deployment/agnhost/agnhost created``);
8. *inventory* in ``status.inventory``, then *prune* of what left it (only
   after a successful apply) -> PruneFailed;
9. *health* (`health_check`; ``wait: true`` or ``healthChecks``) within the timeout ->
   ``Healthy`` and HealthCheckFailed;
10. ``lastAppliedRevision`` and ``Ready=True ReconciliationSucceeded``
    ``Applied revision: main@sha1:...``; event ``Reconciliation finished in
    <d>, next run in <interval>``; requeue after ``spec.interval``.

Between 4 and 5, a reconcile that would change nothing stops (`nochange`):
same revision, same build inputs, no live change to what was applied (from
the watches of `sluice.runtime.livestate`, which also enqueue the
Kustomization the moment an applied object drifts), health still passing.
It writes nothing but Flux's ``Reconciliation finished`` event, so a
no-change interval costs no dry run and no object write. When the watches
name the objects that drifted and nothing else changed, only those are
applied again, from the last build (`drift`).

Failures leave ``Ready=False`` with the reason and message, ``Reconciling``
with ``ProgressingWithRetry``, a Warning event, and a retry after
``spec.retryInterval``. Events carry the revision as
``kustomize.toolkit.fluxcd.io/revision`` and take the Ready reason of the
moment as their reason, as Flux's do.

What else triggers a reconcile is in `watches`; the wiring on a manager in
`controller`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx2

from sluice.api.kustomize import (
    GROUP,
    ORIGIN_REVISION_KEY,
    REVISION_KEY,
    Kustomization,
)
from sluice.api.meta import (
    ACCESS_DENIED,
    ARTIFACT_FAILED,
    BUILD_FAILED,
    DEPENDENCY_NOT_READY,
    KUSTOMIZE_NAME_LABEL,
    PROGRESSING,
    PRUNE_FAILED,
    READY,
    RECONCILIATION_FAILED,
    RECONCILIATION_SUCCEEDED,
    RECONCILING,
    ResourceInventory,
)
from sluice.controllers.kustomization.artifact_cache import ArtifactCache, CachedArtifact
from sluice.controllers.kustomization.building import (
    BuildFailure,
    PathNotFound,
    build_manifests,
    ignore_filter,
    resolve_path,
    set_common_metadata,
)
from sluice.controllers.kustomization.dependencies import DependencyNotReady, check_dependencies
from sluice.controllers.kustomization.drift import BuildCache, drifted_objects, pack
from sluice.controllers.kustomization.fetch import ArtifactFetchError, ArtifactNotFound
from sluice.controllers.kustomization.health_check import check_health, health_refs
from sluice.controllers.kustomization.history import build_digest, upsert
from sluice.controllers.kustomization.nochange import (
    Applied,
    inputs_digest,
    is_shared,
    owner_key,
    same_inputs,
    still_healthy,
)
from sluice.controllers.kustomization.options import SOURCE_KINDS, KustomizationOptions
from sluice.controllers.kustomization.progress import ReconcileState, StatusWriter, StepFailed
from sluice.controllers.kustomization.substitution import (
    load_variables,
    scan_quoting,
    substitute_objects,
    substitutes,
)
from sluice.controllers.kustomization.watches import artifact_of
from sluice.core.durations import format_seconds, seconds_or
from sluice.kube.apply import ApplyError, ApplyOptions, ResourceManager
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.events import EventRecorder
from sluice.kube.impersonation import ImpersonatingClients
from sluice.kube.inventory import (
    ChangeSet,
    Inventory,
    Owner,
    PruneError,
    deletes_on_finalize,
    finalize,
    prune,
)
from sluice.kube.objects import Obj, Objects
from sluice.kube.ordering import ObjectRef
from sluice.runtime import conditions
from sluice.runtime.informer import Informer
from sluice.runtime.livestate import Drift, LiveState
from sluice.runtime.reconciler import Request, Result
from sluice.runtime.status import (
    StatusPatcher,
    has_finalizer,
    is_deleting,
    is_suspended,
    record_reconcile_request,
)

__all__ = ["KIND", "SOURCE_KINDS", "KustomizationOptions", "KustomizationReconciler"]

log = logging.getLogger("sluice.controllers.kustomization")

KIND = "Kustomization"
COMMIT_STATUS_KEY = f"{GROUP}/commit_status"
# OCI sources record the commit they were built from under this annotation.
OCI_REVISION_ANNOTATION = "org.opencontainers.image.revision"


class KustomizationReconciler:
    """Reconciles Kustomization objects; see the module docs."""

    def __init__(self, informer: Informer, sources: dict[str, Informer], objects: Objects,
                 recorder: EventRecorder, patcher: StatusPatcher,
                 options: KustomizationOptions | None = None) -> None:
        self.informer = informer
        self.sources = sources
        self.objects = objects
        self.recorder = recorder
        self.patcher = patcher
        self.options = options or KustomizationOptions()
        self.artifacts = ArtifactCache(self.options.work_dir, retries=self.options.http_retry,
                                       retry_wait=self.options.artifact_retry_wait)
        self.clients = ImpersonatingClients(objects, self.options.default_service_account)
        # What each Kustomization's objects look like live (``on_drift`` is set by
        # the controller wiring), and what its last full reconcile was given.
        self.live = LiveState(objects, self.options.field_manager,
                              selector=KUSTOMIZE_NAME_LABEL, untracked=is_shared)
        self.applied: dict[tuple[str, str], Applied] = {}
        self.builds = BuildCache(self.options.build_cache_bytes)
        self.status = StatusWriter(patcher, self.options.progress_delay)

    async def close(self) -> None:
        """Remove the extracted artifacts, stop the live-state watches, release clients."""
        await self.artifacts.close()
        await self.live.close()
        self.clients.clear()

    # -------------------------------------------------------------- helpers
    def _timeout(self, obj: Kustomization) -> float:
        interval = seconds_or(obj.spec.interval, 600.0)
        timeout = interval - 30.0
        if obj.spec.timeout:
            timeout = seconds_or(obj.spec.timeout, timeout)
        return max(timeout, self.options.min_timeout)

    async def _write(self, state: ReconcileState) -> None:
        await self.status.write(state)

    def _metadata(self, state: ReconcileState, revision: str | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        rev = revision if revision is not None else state.revision
        if rev:
            out[REVISION_KEY] = rev
        if state.origin_revision:
            out[ORIGIN_REVISION_KEY] = state.origin_revision
        return out

    def _reason(self, state: ReconcileState, default: str) -> str:
        cond = state.obj.status.condition(READY)
        return cond.reason if cond is not None and cond.reason else default

    async def _event(self, state: ReconcileState, severity: str, message: str,
                     metadata: dict[str, str] | None = None, revision: str | None = None) -> None:
        """An event whose reason is the current Ready reason, as Flux records them."""
        meta = {**self._metadata(state, revision), **(metadata or {})}
        if severity == "error":
            await self.recorder.warning(state.raw, self._reason(state, "error"), message, meta)
        else:
            await self.recorder.normal(state.raw, self._reason(state, "info"), message, meta)

    def _resource_manager(self, obj: Kustomization,
                          observe: Callable[[Mapping[str, Any]], None] | None = None
                          ) -> ResourceManager:
        owner = Owner(obj.name or "", obj.namespace or "", self.options.field_manager)
        client = self.clients.client_for(obj.namespace or "", obj.spec.service_account_name)
        return ResourceManager(client, owner,
                               concurrency=self.options.concurrent_ssa,
                               custom_stage_kinds=self.options.custom_stage_kinds,
                               claims=self._claims, observe=observe)

    async def _claims(self, other: Owner, ref: ObjectRef) -> bool:
        """Does Kustomization ``other`` still hold ``ref``: alive and in its inventory?

        An object labelled by a Kustomization that is gone, being deleted, or no longer
        lists it (it was moved out of that Kustomization's path) is free to adopt.
        """
        raw = self.informer.get(other.namespace, other.name)
        if raw is None or (raw.get("metadata") or {}).get("deletionTimestamp"):
            return False
        entries = ((raw.get("status") or {}).get("inventory") or {}).get("entries") or []
        return any(isinstance(e, dict) and e.get("id") == ref.id for e in entries)

    # ------------------------------------------------------------ reconcile
    async def reconcile(self, request: Request) -> Result:
        # Re-read when the cache predates our own last status write (runtime.status).
        raw = await self.patcher.current(
            request.namespace, request.name, self.informer.get(request.namespace, request.name))
        if raw is None:
            self.applied.pop((request.namespace, request.name), None)
            self.builds.drop((request.namespace, request.name))
            await self.live.forget(owner_key(request.namespace, request.name))
            return Result()
        obj = Kustomization.from_dict(raw)
        state = ReconcileState(raw, obj, obj.status.to_dict())
        started = time.monotonic()
        if is_deleting(obj):
            await self._finalize(state)
            return Result()
        if not has_finalizer(obj):
            await self.patcher.add_finalizer(obj)
        if is_suspended(obj):
            record_reconcile_request(obj)
            await self._write(state)
            log.info("%s %s: reconciliation is suspended for this object", KIND, request)
            return Result(outcome="suspended")

        failure: StepFailed | None = None
        result = Result()
        try:
            result = await self._reconcile(state)
        except StepFailed as exc:
            failure = exc
        finally:
            await self.status.settle(state)
        self._finish_status(state)
        await self._write(state)
        interval = seconds_or(obj.spec.interval, 600.0)
        if failure is not None:
            retry = failure.requeue or seconds_or(obj.retry_interval(), interval)
            # The runtime writes the one outcome line (error level) with this message.
            if failure.event:
                await self._event(state, "error", failure.message)
            return Result(requeue_after=retry, outcome=failure.outcome,
                          message=failure.message,
                          revision=obj.status.last_attempted_revision or "")
        # Every reconcile that ends Ready, unchanged ones included, as Flux does:
        # notification forwards it (the interval's "still fine" for alerts).
        if conditions.is_ready(obj.status):
            message = (f"Reconciliation finished in {format_seconds(time.monotonic() - started)}, "
                       f"next run in {format_seconds(interval)}")
            await self._event(state, "info", message, {COMMIT_STATUS_KEY: "update"})
        ready = conditions.find(obj.status, READY)
        return dataclasses.replace(
            result, message=(ready.message or "") if ready is not None else "",
            revision=obj.status.last_applied_revision or "")

    def _finish_status(self, state: ReconcileState) -> None:
        """Flux's end-of-reconcile bookkeeping (kustomize-controller's finalizeStatus)."""
        status = state.obj.status
        record_reconcile_request(state.obj)
        if conditions.is_ready(status):
            conditions.delete(status, RECONCILING)
            status.observed_generation = state.generation
        elif conditions.is_false(status, READY):
            conditions.mark_retrying(status)

    def _fail(self, state: ReconcileState, reason: str, message: str, **kw: Any) -> StepFailed:
        conditions.mark_false(state.obj.status, READY, reason, message, state.generation)
        return StepFailed(reason, message, **kw)

    async def _reconcile(self, state: ReconcileState) -> Result:
        obj, gen = state.obj, state.generation
        ref = obj.spec.source_ref
        src_ns = ref.namespace or obj.namespace or ""
        retry = seconds_or(obj.retry_interval(), 60.0)
        if self.options.no_cross_namespace_refs and src_ns != obj.namespace:
            raise self._fail(state, ACCESS_DENIED,
                             f"can't access '{ref.kind}/{src_ns}/{ref.name}', cross-namespace "
                             "references have been blocked", requeue=retry)
        if obj.spec.kube_config is not None:
            raise self._fail(state, RECONCILIATION_FAILED,
                             "spec.kubeConfig (remote clusters) is not supported by Sluice")
        source_informer = self.sources.get(ref.kind)
        if source_informer is None:
            raise self._fail(state, ARTIFACT_FAILED,
                             f"unable to get source '{ref}': source kind '{ref.kind}' is not "
                             "served by this cluster", requeue=retry)
        source = source_informer.get(src_ns, ref.name)
        if source is None:
            message = (f"unable to get source '{ref}': {source_informer.mapping.plural}."
                       f"{source_informer.mapping.group} \"{ref.name}\" not found")
            log.info("%s %s/%s: Source '%s' not found", KIND, obj.namespace, obj.name, ref)
            # kustomize-controller waits --requeue-dependency (30s) for a missing source or
            # artifact, not the retry interval; the source's watch wakes it earlier.
            raise self._fail(state, ARTIFACT_FAILED, message, event=False,
                             requeue=self.options.requeue_dependency, outcome="dependency")
        artifact = artifact_of(source)
        if artifact is None:
            raise self._fail(state, ARTIFACT_FAILED,
                             f"Source '{ref}' is not ready, artifact not found", event=False,
                             requeue=self.options.requeue_dependency, outcome="dependency")
        state.revision = str(artifact["revision"])
        origin = (artifact.get("metadata") or {}).get(OCI_REVISION_ANNOTATION)
        state.origin_revision = str(origin) if origin else ""

        if obj.spec.depends_on:
            try:
                check_dependencies(obj, self.informer.get, state.revision)
            except DependencyNotReady as exc:
                conditions.mark_false(obj.status, READY, DEPENDENCY_NOT_READY, exc.message, gen)
                wait = self.options.requeue_dependency
                message = (f"Dependencies do not meet ready condition, retrying in "
                           f"{format_seconds(wait)}")
                log.info("%s %s/%s: %s", KIND, obj.namespace, obj.name, message)
                await self._event(state, "info", message)
                return Result(requeue_after=wait, outcome="dependency")
            log.debug("%s %s/%s: all dependencies are ready", KIND, obj.namespace, obj.name)

        interval = seconds_or(obj.spec.interval, 600.0)
        key = (obj.namespace or "", obj.name or "")
        owner = owner_key(*key)
        variables: dict[str, str] | None
        try:
            variables = await load_variables(self.objects, obj.namespace or "",
                                             obj.spec.post_build)
        except BuildFailure:
            variables = None  # the build step reports it, in Flux's order
        inputs = inputs_digest((state.raw.get("spec") or {}), artifact, variables or {})
        status, record = obj.status, self.applied.get(key)
        if variables is not None and record is not None and same_inputs(
                record, generation=gen, observed_generation=status.observed_generation,
                ready=conditions.is_ready(status), last_applied=status.last_applied_revision,
                revision=state.revision, inputs=inputs):
            drift = self.live.drift(owner)
            if drift == [] and await still_healthy(
                    record, self.clients.client_for(obj.namespace or "",
                                                    obj.spec.service_account_name),
                    self.options.health_poll):
                log.debug("%s %s/%s: no change since the last apply", KIND, *key)
                return Result(requeue_after=interval, outcome="unchanged")
            if drift and await self._correct_drift(state, record, inputs, drift):
                return Result(requeue_after=interval, outcome="corrected")
        self.applied.pop(key, None)
        self.builds.drop(key)
        observe = self.live.begin(owner)
        try:
            health = await self._reconcile_revision(state, artifact, variables, observe)
        except BaseException:
            self.live.abort(owner)
            raise
        await self.live.commit(owner, health[0])
        self.applied[key] = Applied(gen, state.revision, inputs, tuple(health[1]))
        if state.built:
            self.builds.put(key, inputs, state.built)
        return Result(requeue_after=interval)

    async def _correct_drift(self, state: ReconcileState, record: Applied, inputs: bytes,
                             drift: list[Drift]) -> bool:
        """Apply again only the objects that drifted, from the last build (`drift`).

        False when the last build is not at hand: the caller takes the full path.
        """
        obj = state.obj
        key = (obj.namespace or "", obj.name or "")
        built = self.builds.get(key, inputs)
        subset = drifted_objects(built, drift) if built is not None else None
        if subset is None:
            return False
        log.info("%s %s/%s: correcting drift of %s", KIND, *key,
                 ", ".join(f"{d.kind}/{d.namespace + '/' if d.namespace else ''}{d.name}"
                           + (" (deleted)" if d.deleted else "") for d in drift))
        owner = owner_key(*key)
        observe = self.live.begin(owner, partial=True)
        manager = self._resource_manager(obj, observe)
        unfollow = self.live.follow(manager.latest, record.health)
        try:
            timeout = self._timeout(obj)
            changes = await self._apply(state, manager, subset, timeout)
            if record.health:
                await self._check_health(state, manager, changes, timeout, False,
                                         refs=list(record.health))
        except BaseException:
            self.live.abort(owner)
            raise
        finally:
            unfollow()
        await self.live.commit(owner, changes.refs(skipped=False), partial=True)
        return True

    async def _reconcile_revision(self, state: ReconcileState, artifact: dict[str, Any],
                                  variables: dict[str, str] | None,
                                  observe: Callable[[Mapping[str, Any]], None]
                                  ) -> tuple[list[ObjectRef], list[ObjectRef]]:
        """Fetch, build, apply, prune, check health; returns what was applied (not
        skipped) and what health was checked on."""
        obj, status, gen, revision = state.obj, state.obj.status, state.generation, state.revision
        started = time.monotonic()
        timeout = self._timeout(obj)
        budget = format_seconds(timeout)
        conditions.mark_unknown(status, READY, PROGRESSING, "Reconciliation in progress", gen)
        conditions.mark_reconciling(
            status, PROGRESSING,
            f"Fetching manifests for revision {revision} with a timeout of {budget}", gen)
        url, digest = str(artifact.get("url") or ""), artifact.get("digest")
        if not self.artifacts.has(url, digest):
            # Only a download is worth showing; an extracted artifact is instant.
            await self.status.progress(state)
        try:
            async with self.artifacts.use(url, digest) as extracted:
                try:
                    folder = await asyncio.to_thread(resolve_path, extracted.path, obj.spec.path)
                except PathNotFound as exc:
                    raise self._fail(state, ARTIFACT_FAILED, exc.message) from None
                status.last_attempted_revision = revision
                conditions.mark_reconciling(
                    status, PROGRESSING,
                    f"Building manifests for revision {revision} with a timeout of {budget}", gen)
                await self.status.progress(state)
                objects = await self._build(state, extracted, folder, variables)
        except ArtifactNotFound as exc:
            raise self._fail(state, ARTIFACT_FAILED, exc.message, event=False,
                             requeue=seconds_or(obj.retry_interval(), 60.0)) from None
        except ArtifactFetchError as exc:
            raise self._fail(state, ARTIFACT_FAILED, exc.message) from None

        # From here on every ending is a snapshot in status.history, as Flux records it.
        checksum = await asyncio.to_thread(build_digest, objects)
        meta = {"revision": revision}
        if state.origin_revision:
            meta["originRevision"] = state.origin_revision
        manager = self._resource_manager(obj, observe)
        # The health check judges what the apply was answered and what the watches
        # see next (a Deployment's status), without reading the objects back.
        unfollow = self.live.follow(manager.latest, (ObjectRef.of(o) for o in objects))
        try:
            changes = await self._apply(state, manager, objects, timeout)
            await self._prune(state, manager, changes)
            drifted = bool(changes.changed())
            new_revision = status.last_applied_revision != revision
            health = await self._check_health(state, manager, changes, timeout,
                                              new_revision and drifted)
        except StepFailed as exc:
            status.history = upsert(status.history, checksum, time.monotonic() - started,
                                    exc.reason, meta)
            raise
        finally:
            unfollow()
        status.last_applied_revision = revision
        status.last_applied_origin_revision = state.origin_revision or None
        conditions.mark_true(status, READY, RECONCILIATION_SUCCEEDED,
                             f"Applied revision: {revision}", gen)
        status.history = upsert(status.history, checksum, time.monotonic() - started,
                                RECONCILIATION_SUCCEEDED, meta)
        return changes.refs(skipped=False), health

    async def _build(self, state: ReconcileState, extracted: CachedArtifact, folder: Path,
                     variables: dict[str, str] | None) -> list[Obj]:
        obj = state.obj
        post_build = obj.spec.post_build
        try:
            if variables is None:
                variables = await load_variables(self.objects, obj.namespace or "", post_build)
            strict = self.options.strict_substitutions

            def run() -> list[Obj]:
                root = extracted.path
                ignored = extracted.memo("ignore", lambda: ignore_filter(root))
                built = build_manifests(root, folder, obj.spec, ignored)
                if substitutes(post_build, variables):
                    quoting = extracted.memo("quoting", lambda: scan_quoting(root))
                    quoted = quoting.with_texts(p.patch for p in obj.spec.patches or [])
                    built = substitute_objects(built, variables, strict=strict, quoted=quoted)
                set_common_metadata(built, obj.spec.common_metadata)
                state.built = pack(built)
                return built

            return await asyncio.to_thread(run)
        except BuildFailure as exc:
            raise self._fail(state, BUILD_FAILED, exc.message) from None

    async def _apply(self, state: ReconcileState, manager: ResourceManager, objects: list[Obj],
                     budget: float) -> ChangeSet:
        obj = state.obj
        opts = ApplyOptions(force=bool(obj.spec.force), wait_timeout=budget,
                            wait_poll=self.options.health_poll,
                            override_managers=self.options.override_managers)
        try:
            changes = await manager.apply_all_staged(objects, opts)
        except ApplyError as exc:
            raise self._fail(state, RECONCILIATION_FAILED, exc.message) from None
        except (KubeError, httpx2.HTTPError) as exc:
            raise self._fail(state, RECONCILIATION_FAILED,
                             f"apply failed: {exc}") from None
        message = changes.message()
        if message:
            log.info("%s %s/%s: server-side apply completed:\n%s", KIND, obj.namespace,
                     obj.name, message)
            await self._event(state, "info", message)
        return changes

    async def _prune(self, state: ReconcileState, manager: ResourceManager, changes: ChangeSet) -> None:
        obj, status = state.obj, state.obj.status
        old = Inventory.from_status(status.inventory.to_dict() if status.inventory else None)
        new = Inventory.from_change_set(changes)
        status.inventory = ResourceInventory.from_dict(new.to_status())
        if not obj.spec.prune:
            return
        try:
            pruned = await prune(manager, old, new)
        except PruneError as exc:
            raise self._fail(state, PRUNE_FAILED, exc.message) from None
        except (KubeError, httpx2.HTTPError) as exc:
            raise self._fail(state, PRUNE_FAILED, f"prune failed: {exc}") from None
        if pruned:
            message = "\n".join(str(e) for e in pruned)
            log.info("%s %s/%s: garbage collection completed: %s", KIND, obj.namespace,
                     obj.name, message)
            await self._event(state, "info", message)

    async def _check_health(self, state: ReconcileState, manager: ResourceManager,
                            changes: ChangeSet, budget: float, changed_revision: bool,
                            refs: list[ObjectRef] | None = None) -> list[ObjectRef]:
        """The health step (`health_check`), on ``wait``/``healthChecks`` or ``refs``."""
        spec = state.obj.spec
        if refs is None:
            refs = health_refs(state.obj, changes) if spec.wait or spec.health_checks else []

        async def event(state: ReconcileState, message: str) -> None:
            await self._event(state, "info", message)

        return await check_health(state, manager, refs, budget, self.options.health_poll,
                                  changed_revision, progress=self.status.progress, event=event)

    # ------------------------------------------------------------- deletion
    async def _finalize(self, state: ReconcileState) -> None:
        obj = state.obj
        key = (obj.namespace or "", obj.name or "")
        self.applied.pop(key, None)
        self.builds.drop(key)
        await self.live.forget(owner_key(*key))
        if not has_finalizer(obj):
            return
        status = obj.status
        inventory = Inventory.from_status(status.inventory.to_dict() if status.inventory
                                          else None)
        revision = status.last_applied_revision or ""
        if len(inventory) and deletes_on_finalize(obj.deletion_policy(), obj.spec.prune,
                                                  is_suspended(obj)):
            manager = self._resource_manager(obj)
            try:
                changes = await finalize(manager, inventory, obj.deletion_policy(),
                                         prune=obj.spec.prune, suspended=is_suspended(obj),
                                         timeout=self._timeout(obj),
                                         poll=min(self.options.health_poll, 2.0))
            except (PruneError, KubeError, httpx2.HTTPError) as exc:
                await self._event(state, "error", "pruning for deleted resource failed",
                                  revision=revision)
                raise KubeError(f"pruning for deleted resource failed: {exc}") from None
            if changes:
                await self._event(state, "info", "\n".join(str(e) for e in changes),
                                  revision=revision)
        try:
            await self.patcher.remove_finalizer(obj)
        except KubeError as exc:
            if not is_not_found(exc):
                raise
