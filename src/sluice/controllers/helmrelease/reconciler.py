"""The HelmRelease reconciler: helm-controller's outer loop, step by step.

1. deleted -> uninstall the release (not when suspended: a suspended
   HelmRelease leaves its release and HelmChart behind, as Flux), delete the
   generated HelmChart, drop the ``finalizers.fluxcd.io`` finalizer;
2. add the finalizer; ``spec.suspend`` stops here;
3. *chart template* (`chart_template`): create/update/GC the HelmChart;
4. ``Reconciling Progressing`` ``Fulfilling prerequisites``;
5. *dependsOn* (`dependencies`): ``DependencyNotReady``, retried after 30 s;
6. *source* (`source`): ``SourceNotReady`` / ``ArtifactFailed``;
7. *values* (`values`): ``ValuesError`` (a Warning event);
8. *chart* download, digest check and Helm load (`source.ChartCache`):
   ``ArtifactFailed`` ``Could not load chart: ...``; from an OCIRepository,
   the version gets the OCI digest (`chart_version`): ``ChartMutateError``;
9. *storage in place*: revisions Sluice left outside the storage namespace
   are moved there (`names`); then *release target changed* (storage
   namespace, release namespace, release
   name or chart name differs from the latest snapshot): uninstall the old
   release, clear history and counters, requeue;
10. ``status.storageNamespace``; reset the failure counters when the
    generation, chart version or values changed, or on a new
    ``reconcile.fluxcd.io/resetAt``; record ``lastAttempted*``;
11. the *atomic release* loop (`atomic`) with its state machine, actions
    and remediation; the outcome becomes the requeue.

``reconcile.fluxcd.io/forceAt`` (new value) forces one upgrade or install.
Status is written at the end (and before each Helm action), with
``observedGeneration`` set on success or terminal failure, and
``lastHandledReconcileAt`` echoing ``requestedAt``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx2
import yaml

from sluice.api.helm import HelmRelease
from sluice.api.meta import (
    ACCESS_DENIED,
    ARTIFACT_FAILED,
    DEPENDENCY_NOT_READY,
    FORCE_REQUEST_ANNOTATION,
    HELM_NAME_LABEL,
    HELM_NAMESPACE_LABEL,
    PROGRESSING,
    READY,
    RECONCILING,
    RESET_REQUEST_ANNOTATION,
    STALLED,
)
from sluice.core.durations import seconds_or
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.events import EventRecorder
from sluice.kube.impersonation import ImpersonatingClients, impersonated_user
from sluice.kube.objects import Obj, Objects
from sluice.runtime import conditions
from sluice.runtime.informer import Informer
from sluice.runtime.reconciler import Request, Result
from sluice.runtime.status import (
    StatusPatcher,
    has_finalizer,
    is_deleting,
    is_suspended,
    record_reconcile_request,
)

from . import actions
from .atomic import AtomicRelease
from .chart_template import delete_chart, reconcile_chart_template
from .chart_version import oci_chart_version
from .dependencies import DependencyNotReady, check_dependencies
from .errors import ArtifactMissing, ChartLoadError, HelmReleaseError, ValuesError
from .livedrift import ReleaseLiveState
from .names import release_name, storage_namespace
from .postrender import spec_for, write_spec
from .request import LoadedChart, ReleaseRequest
from .runner import HelmRunner
from .source import ChartCache, SourceNotReady, source_ready
from .storage import ReleaseStorage, StoredRelease
from .values import compose_values, config_digest

__all__ = ["KIND", "HelmReleaseOptions", "HelmReleaseReconciler"]

log = logging.getLogger("sluice.controllers.helmrelease")

KIND = "HelmRelease"
VALUES_ERROR = "ValuesError"
SOURCE_NOT_READY = "SourceNotReady"
STATE_ERROR = "StateError"
CHART_MUTATE_ERROR = "ChartMutateError"


@dataclass
class HelmReleaseOptions:
    """helm-controller's flags (Flux's names and defaults in comments)."""

    # --concurrent [4]
    concurrent: int | None = None
    # --requeue-dependency [30s]
    requeue_dependency: float = 30.0
    # --http-retry [9]
    http_retry: int = 9
    # Wait before retrying a source that is not ready (Flux: 30 s, jittered).
    source_retry: float = 30.0
    # --no-cross-namespace-refs
    no_cross_namespace_refs: bool = False
    # --default-service-account
    default_service_account: str | None = None
    # Run Flux's post-renderer (origin labels, commonMetadata, postRenderers) in Helm.
    post_render: bool = True


class _Stop(Exception):
    """A step ended the reconcile; the conditions already say why."""

    def __init__(self, reason: str, message: str, *, requeue: float | None = None,
                 event: bool = False, terminal: bool = False, outcome: str = "error") -> None:
        super().__init__(message)
        self.outcome = outcome
        self.reason = reason
        self.message = message
        self.requeue = requeue
        self.event = event
        self.terminal = terminal


CLUSTER_SCOPED_TTL = 30.0


def _rv_of(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _labelled_for(rel: StoredRelease, hr: HelmRelease) -> bool:
    """Whether a stored revision's objects carry this HelmRelease's post-renderer labels."""
    for doc in yaml.safe_load_all(rel.manifest):
        labels = ((doc or {}).get("metadata") or {}).get("labels") or {}
        if labels.get(HELM_NAME_LABEL) == hr.name and \
                labels.get(HELM_NAMESPACE_LABEL) == hr.namespace:
            return True
    return False


def _rv(obj: Obj) -> int:
    return _rv_of((obj.get("metadata") or {}).get("resourceVersion"))


class HelmReleaseReconciler:
    """Reconciles HelmRelease objects; see the module docs."""

    def __init__(self, informer: Informer, sources: dict[str, Informer], objects: Objects,
                 recorder: EventRecorder, patcher: StatusPatcher,
                 options: HelmReleaseOptions | None = None) -> None:
        self.informer = informer
        self.sources = sources
        self.objects = objects
        self.recorder = recorder
        self.patcher = patcher
        self.options = options or HelmReleaseOptions()
        post_renderer = None
        if self.options.post_render:
            from sluice.helmsdk import plugins_dir

            from .postrender import install_plugin
            post_renderer = install_plugin(plugins_dir())
        self.runner = HelmRunner(objects.connection, post_renderer=post_renderer)
        self.storage = ReleaseStorage(objects)
        self.charts = ChartCache(self.runner, retries=self.options.http_retry)
        self._cluster_scoped: tuple[float, frozenset[str]] = (0.0, frozenset())
        # CRDs and drift act as spec.serviceAccountName, as Helm's own actions do.
        self.clients = ImpersonatingClients(objects, self.options.default_service_account)
        # Drift noticed from watches, no dry run while none (wired by the controller).
        self.live_drift = ReleaseLiveState(objects)

    async def close(self) -> None:
        await self.charts.close()
        self.runner.close()
        await self.live_drift.close()

    # ------------------------------------------------------------ helpers
    async def _fetch(self, kind: str, namespace: str, name: str) -> Obj | None:
        mapping = await self.objects.mapping("v1", kind)
        return await self.objects.get_or_none(mapping, name, namespace)

    def _user(self, hr: HelmRelease) -> str | None:
        account = hr.spec.service_account_name or self.options.default_service_account
        return impersonated_user(hr.namespace or "", account) if account else None

    def _source(self, hr: HelmRelease) -> tuple[str, str, str]:
        if hr.spec.chart_ref is not None:
            ref = hr.spec.chart_ref
            return ref.kind, ref.namespace or hr.namespace or "", ref.name
        return "HelmChart", hr.helm_chart_namespace(), hr.helm_chart_name()

    def _request(self, raw: Obj, hr: HelmRelease, chart: LoadedChart, values: dict[str, Any],
                 digest: str, written: dict[str, Any]) -> ReleaseRequest:
        return ReleaseRequest(
            raw=raw, hr=hr, chart=chart, values=values, config_digest=digest,
            release_name=release_name(hr), release_namespace=hr.release_namespace(),
            storage_namespace=storage_namespace(hr), runner=self.runner, storage=self.storage,
            recorder=self.recorder, patcher=self.patcher, user=self._user(hr), written=written,
            kube=self.clients.client_for(hr.namespace or "", hr.spec.service_account_name))

    # ---------------------------------------------------------- reconcile
    async def reconcile(self, request: Request) -> Result:
        # Re-read when the cache predates our own last status write (runtime.status).
        raw = await self.patcher.current(
            request.namespace, request.name, self.informer.get(request.namespace, request.name))
        if raw is None:
            return Result()
        hr = HelmRelease.from_dict(raw)
        written = hr.status.to_dict()
        if is_deleting(hr):
            await self._finalize(raw, hr, written)
            return Result()
        if not has_finalizer(hr):
            await self.patcher.add_finalizer(hr)
        if is_suspended(hr):
            log.info("%s %s: reconciliation is suspended for this object", KIND, request)
            return Result(outcome="suspended")
        if (hr.spec.chart is None) == (hr.spec.chart_ref is None):
            conditions.mark_stalled(hr.status, "InvalidChartReference",
                                    "invalid Chart reference", hr.metadata.generation)
            conditions.mark_false(hr.status, READY, "InvalidChartReference",
                                  "invalid Chart reference", hr.metadata.generation)
            hr.status.observed_generation = hr.metadata.generation
            await self.patcher.patch_status(hr, written)
            return Result(outcome="error")
        started = time.monotonic()
        interval = seconds_or(hr.spec.interval, 600.0)
        state: dict[str, Any] = {"written": written}
        try:
            result = await self._reconcile(raw, hr, state)
        except _Stop as stop:
            record_reconcile_request(hr)
            if stop.terminal:
                hr.status.observed_generation = hr.metadata.generation
            elif conditions.is_false(hr.status, READY):
                conditions.mark_retrying(hr.status)
            await self.patcher.patch_status(hr, state["written"])
            await self._cache_caught_up(hr)
            if stop.event:
                await self.recorder.warning(raw, stop.reason, stop.message)
            log.info("%s %s: %s", KIND, request, stop.message)
            if stop.terminal:
                return Result(outcome="stalled")
            return Result(requeue_after=stop.requeue or interval, outcome=stop.outcome)
        record_reconcile_request(hr)
        await self.patcher.patch_status(hr, state["written"])
        await self._cache_caught_up(hr)
        log.info("%s %s: reconciled in %.1fs", KIND, request, time.monotonic() - started)
        return result

    async def _reconcile(self, raw: Obj, hr: HelmRelease, state: dict[str, Any]) -> Result:
        status, gen = hr.status, hr.metadata.generation
        interval = seconds_or(hr.spec.interval, 600.0)
        try:
            await reconcile_chart_template(hr, raw, self.sources.get("HelmChart"), self.objects,
                                           self.recorder)
        except HelmReleaseError as exc:
            conditions.mark_false(status, READY, "HelmChartSyncErr", exc.message, gen)
            raise _Stop("HelmChartSyncErr", exc.message, event=True) from None
        if hr.metadata.generation != status.observed_generation or \
                not conditions.is_true(status, READY):
            conditions.mark_reconciling(status, PROGRESSING, "Fulfilling prerequisites", gen)
            await self.patcher.patch_status(hr, state["written"])
            state["written"] = status.to_dict()

        if hr.spec.depends_on:
            try:
                check_dependencies(hr, self.informer.get)
            except DependencyNotReady as exc:
                conditions.mark_false(status, READY, DEPENDENCY_NOT_READY, exc.message, gen)
                await self.recorder.normal(raw, DEPENDENCY_NOT_READY, exc.message)
                raise _Stop(DEPENDENCY_NOT_READY, exc.message, outcome="dependency",
                            requeue=self.options.requeue_dependency) from None

        kind, src_ns, src_name = self._source(hr)
        if self.options.no_cross_namespace_refs and src_ns != hr.namespace:
            message = f"can't access '{kind}/{src_ns}/{src_name}', cross-namespace references " \
                      "have been blocked"
            conditions.mark_false(status, READY, ACCESS_DENIED, message, gen)
            conditions.mark_stalled(status, ACCESS_DENIED, message, gen)
            raise _Stop(ACCESS_DENIED, message, terminal=True, event=True)
        informer = self.sources.get(kind)
        try:
            obj = informer.get(src_ns, src_name) if informer is not None else None
            artifact = source_ready(kind, obj, src_ns, src_name)
        except SourceNotReady as exc:
            conditions.mark_false(status, READY, SOURCE_NOT_READY, exc.message, gen)
            raise _Stop(SOURCE_NOT_READY, exc.message, requeue=self.options.source_retry,
                        outcome="dependency") from None

        try:
            values = await compose_values(hr, self._fetch)
        except ValuesError as exc:
            conditions.mark_false(status, READY, VALUES_ERROR, exc.message, gen)
            raise _Stop(VALUES_ERROR, exc.message, event=True) from None
        except (KubeError, httpx2.HTTPError) as exc:
            message = f"could not resolve chart values: {exc}"
            conditions.mark_false(status, READY, VALUES_ERROR, message, gen)
            raise _Stop(VALUES_ERROR, message, event=True) from None

        try:
            chart = await self.charts.get(artifact)
        except ArtifactMissing as exc:
            conditions.mark_false(status, READY, ARTIFACT_FAILED, exc.message, gen)
            raise _Stop(ARTIFACT_FAILED, exc.message, requeue=self.options.source_retry) \
                from None
        except ChartLoadError as exc:
            conditions.mark_false(status, READY, ARTIFACT_FAILED, exc.message, gen)
            raise _Stop(ARTIFACT_FAILED, exc.message, event=True) from None

        if kind == "OCIRepository":
            try:
                version, oci_digest = oci_chart_version(chart.version,
                                                        str(artifact.get("revision") or ""))
                chart = await self.charts.with_version(chart, version, oci_digest)
            except ChartLoadError as exc:
                conditions.mark_false(status, READY, CHART_MUTATE_ERROR, exc.message, gen)
                raise _Stop(CHART_MUTATE_ERROR, exc.message, event=True) from None

        digest = config_digest(values)
        req = self._request(raw, hr, chart, values, digest, state["written"])
        try:
            await self._storage_in_place(req)
        except HelmReleaseError as exc:
            conditions.mark_false(status, READY, STATE_ERROR, exc.message, gen)
            raise _Stop(STATE_ERROR, exc.message, event=True) from None
        try:
            moved = await self._target_changed(req)
        except HelmReleaseError as exc:
            state["written"] = req.written
            conditions.mark_false(status, READY, "UninstallFailed", exc.message, gen)
            raise _Stop("UninstallFailed", exc.message, event=False) from None
        if moved:
            state["written"] = req.written
            return Result(requeue=True)

        status.storage_namespace = req.storage_namespace
        annotations = hr.metadata.annotations or {}
        reset = annotations.get(RESET_REQUEST_ANNOTATION)
        new_reset = bool(reset) and reset != status.last_handled_reset_at
        if (status.last_attempted_generation != gen
                or status.last_attempted_revision != chart.version
                or status.last_attempted_revision_digest != chart.oci_digest
                or status.last_attempted_config_digest != digest or new_reset):
            status.failures = None
            status.install_failures = None
            status.upgrade_failures = None
            conditions.delete(status, STALLED)
        if new_reset:
            status.last_handled_reset_at = reset
        force = annotations.get(FORCE_REQUEST_ANNOTATION)
        if force and force != status.last_handled_force_at:
            req.forced = True
            status.last_handled_force_at = force
        status.last_attempted_generation = gen
        status.last_attempted_revision = chart.version
        status.last_attempted_revision_digest = chart.oci_digest
        status.last_attempted_config_digest = digest
        status.last_attempted_values_checksum = None
        status.last_release_revision = None

        spec_file = None
        if self.runner.post_renderer:
            apart = req.storage_namespace != req.release_namespace
            try:
                cluster = await self._cluster_scoped_kinds() if apart else frozenset()
            except KubeError as exc:
                message = f"API discovery failed: {exc}"
                conditions.mark_false(status, READY, "DiscoveryFailed", message, gen)
                raise _Stop("DiscoveryFailed", message) from None
            spec_file = write_spec(spec_for(
                hr, namespace=req.release_namespace if apart else None, cluster_scoped=cluster))
            req.post_renderer_args = [spec_file]
        try:
            outcome = await AtomicRelease(req, detect=self.live_drift.detect).run()
        except HelmReleaseError as exc:
            state["written"] = req.written
            conditions.mark_false(status, READY, STATE_ERROR,
                                  f"Could not determine release state: {exc.message}", gen)
            raise _Stop(STATE_ERROR, exc.message) from None
        finally:
            if spec_file:
                try:
                    os.unlink(spec_file)
                except OSError:
                    pass
        state["written"] = req.written
        if outcome.terminal:
            status.observed_generation = gen
            conditions.delete(status, RECONCILING)
            raise _Stop(RECONCILING, outcome.error.message if outcome.error else "",
                        terminal=True)
        if outcome.error is not None and conditions.is_true(status, READY):
            conditions.mark_false(status, READY, "ReconcileError", outcome.error.message, gen)
        if outcome.requeue_now:
            return Result(requeue=True)
        if outcome.retry_after is not None:
            return Result(requeue_after=outcome.retry_after)
        if outcome.error is not None:
            conditions.mark_retrying(status)
            return Result(requeue_after=interval, outcome="error")
        conditions.delete(status, RECONCILING)
        if conditions.is_true(status, READY) or status.condition(READY) is not None:
            status.observed_generation = gen
        return Result(requeue_after=interval)

    async def _cache_caught_up(self, hr: HelmRelease, limit: float = 10.0) -> None:
        """Wait (up to 10 s, as Flux) until the informer holds what was just written.

        The next reconcile reads the cache; one that still held the status
        from before this run's history would see a release it never made.
        """
        wanted = hr.metadata.resource_version
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            cached = self.informer.get(hr.namespace or "", hr.name or "")
            if cached is None or _rv(cached) >= _rv_of(wanted):
                return
            await asyncio.sleep(0.02)

    async def _cluster_scoped_kinds(self) -> frozenset[str]:
        """Discovery's cluster-scoped kinds, kept 30 s (no-change reconciles ask for them too)."""
        at, kinds = self._cluster_scoped
        if time.monotonic() - at > CLUSTER_SCOPED_TTL:
            kinds = await self.objects.mapper.cluster_scoped_kinds()
            self._cluster_scoped = (time.monotonic(), kinds)
        return kinds

    async def _storage_in_place(self, req: ReleaseRequest) -> None:
        """Bring revisions to the storage namespace when Sluice itself left them elsewhere.

        Two cases, both moves (never an uninstall): a HelmRelease released
        by an older Sluice, which stored in the release namespace whatever
        the spec said (``status.storageNamespace`` = release namespace,
        ``spec.storageNamespace`` unset); and an install whose revision was
        not moved yet (the controller stopped in between): the storage
        namespace holds nothing, the release namespace holds this release,
        labelled for this HelmRelease by the post-renderer.
        """
        hr, status = req.hr, req.hr.status
        target, rel_ns = req.storage_namespace, req.release_namespace
        if target == rel_ns:
            return
        snap = status.history[0] if status.history else None
        if (hr.spec.storage_namespace is None and status.storage_namespace == rel_ns
                and snap is not None and snap.namespace == rel_ns):
            moved = await req.storage.relocate(snap.name, rel_ns, target)
            log.info("%s %s/%s: moved %d Helm revision(s) of %s/%s to storage namespace %s",
                     KIND, hr.namespace, hr.name, moved, rel_ns, snap.name, target)
            status.storage_namespace = target
            return
        if status.history or await req.storage.latest(target, req.release_name) is not None:
            return
        left = await req.storage.latest(rel_ns, req.release_name)
        if left is not None and left.namespace == rel_ns and _labelled_for(left, hr):
            await req.storage.relocate(req.release_name, rel_ns, target)

    async def _target_changed(self, req: ReleaseRequest) -> bool:
        """Step 9: uninstall a release whose storage, namespace, name or chart moved."""
        hr, status = req.hr, req.hr.status
        snap = status.history[0] if status.history else None
        reason = None
        if status.storage_namespace and status.storage_namespace != req.storage_namespace:
            reason = "storage namespace"
        elif snap is not None and snap.namespace != req.release_namespace:
            reason = "release namespace"
        elif snap is not None and snap.name != req.release_name:
            reason = "release name"
        elif snap is not None and snap.chart_name != req.chart.name:
            reason = "chart name"
        if reason is None:
            return False
        log.info("%s %s/%s: release target configuration changed (%s): running uninstall for "
                 "current release", KIND, hr.namespace, hr.name, reason)
        old = ReleaseRequest(**{**req.__dict__})
        old.storage_namespace = status.storage_namespace or req.storage_namespace
        if snap is not None:
            old.release_namespace, old.release_name = snap.namespace, snap.name
        error = await actions.uninstall(old)
        req.written = old.written
        if error is not None:
            raise error
        status.history = None
        status.failures = status.install_failures = status.upgrade_failures = None
        status.storage_namespace = None
        return True

    # ----------------------------------------------------------- deletion
    async def _finalize(self, raw: Obj, hr: HelmRelease, written: dict[str, Any]) -> None:
        if not has_finalizer(hr):
            return
        if not is_suspended(hr):
            status = hr.status
            if status.storage_namespace:
                snap = status.history[0] if status.history else None
                chart = LoadedChart(snap.chart_name if snap else "",
                                    snap.chart_version if snap else "", "", "", b"")
                req = self._request(raw, hr, chart, {}, "", written)
                req.storage_namespace = status.storage_namespace
                if snap is not None:
                    req.release_namespace, req.release_name = snap.namespace, snap.name
                error = await actions.uninstall(req)
                if error is not None:
                    conditions.mark_false(status, READY, "UninstallFailed", error.message,
                                          hr.metadata.generation)
                    await self.patcher.patch_status(hr, req.written)
                    raise KubeError(f"uninstall failed: {error.message}")
                status.history = None
            if status.helm_chart:
                try:
                    await delete_chart(self.objects, self.recorder, raw, status.helm_chart)
                except HelmReleaseError as exc:
                    raise KubeError(exc.message) from None
        try:
            await self.patcher.remove_finalizer(hr)
        except KubeError as exc:
            if not is_not_found(exc):
                raise
