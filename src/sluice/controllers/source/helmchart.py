"""The HelmChart reconciler: a chart version from a HelmRepository, a Git source or a Bucket, stored.

Follows source-controller's HelmChart reconciler, because the HelmRelease
controller (Sluice's or Flux's) consumes ``status.artifact`` exactly as Flux
writes it: ``revision`` = the chart version (with Flux's build metadata),
file ``<name>-<version>.tgz``, ``sha256:`` digest, ``status.url`` pointing at
``latest.tar.gz``.

1. *storage*: old artifacts collected, a vanished one noticed.
2. *source*: the ``sourceRef`` object (``SourceUnavailable`` when missing);
   without an artifact (except ``type: oci`` HelmRepositories, which have
   none) ``FetchFailed`` ``NoSourceArtifact`` ``no artifact available for
   HelmRepository source 'podinfo'``, retried when the source changes.
   ``status.observedSourceArtifactRevision`` records what was used.
3. *build* (`chartbuild`): from an HTTP repository, the stored index
   (parsed once per index revision, `IndexCache`) picks the version, the
   archive is downloaded with the repository's credentials and checked
   against the index digest; from an OCI repository, Helm's registry client
   lists tags and pulls; from a GitRepository, the chart directory of its
   artifact is packaged by Helm with its dependencies. When the stored
   chart already is the resolved name and version (and the generation was
   observed), nothing is downloaded. A new chart marks ``ArtifactOutdated``
   ``NewChart`` and ``building artifact: <summary>`` at once.
4. *artifact*: stored, ``ArtifactInStorage`` and Ready with the build summary
   (``pulled 'podinfo' chart with version '5.2.1'``, reason
   ``ChartPullSucceeded``/``ChartPackageSucceeded``), event with the same
   reason and message.

Errors carry Flux's reasons: ``InvalidChartReference`` (stalls: no version
satisfies the range), ``ChartPullError`` (unreachable, wrong digest),
``ValuesFilesError`` (stalls), ``DependencyBuildError``, ``ChartPackageError``,
``AuthenticationFailed``. The previous artifact stays.

A Bucket is read like a GitRepository: its artifact (a tarball of the
bucket's objects in the same storage) holds the chart directory at
``spec.chart``. Sluice has no Bucket controller yet, so such artifacts come
from whatever writes Bucket statuses into this storage (a test plays it).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sluice.api.meta import RECONCILING, STALLED, Artifact
from sluice.api.source import (
    API_VERSION,
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    BUILD_FAILED,
    COMPONENT,
    FETCH_FAILED,
    SOURCE_VERIFIED,
    STORAGE_OPERATION_FAILED,
    HelmChart,
    HelmRepository,
)
from sluice.controllers.source.artifacts import Storage, extract
from sluice.controllers.source.chartbuild import (
    CHART_PULL,
    CHART_REFERENCE,
    Build,
    BuildError,
    BuildOptions,
    build_local,
    finish_remote,
    plan,
)
from sluice.controllers.source.errors import SourceError
from sluice.controllers.source.helmauth import RepositoryAuth
from sluice.controllers.source.helmindex import IndexCache, download_chart, select_version
from sluice.controllers.source.helmrepository import repository_auth
from sluice.controllers.source.ocicharts import pull_oci_chart, resolve_oci_chart
from sluice.controllers.source.reconciling import SourceReconciler, State, seconds
from sluice.controllers.source.storing import link, store_file
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Obj, Objects
from sluice.runtime import conditions
from sluice.runtime.controller import Controller
from sluice.runtime.informer import MODIFIED, Informer
from sluice.runtime.manager import Manager
from sluice.runtime.reconciler import Request, Result
from sluice.runtime.status import StatusPatcher

__all__ = ["KIND", "SOURCE_INDEX", "HelmChartReconciler", "setup_helmchart_controller"]

log = logging.getLogger("sluice.controllers.source.helmchart")

KIND = "HelmChart"
SOURCE_INDEX = "sourceRef"
# source-controller's --requeue-dependency.
REQUEUE_DEPENDENCY = 30.0
READY_MESSAGE = "stored artifact for revision '{revision}'"
_PLURALS = {"HelmRepository": "helmrepositories", "GitRepository": "gitrepositories",
            "Bucket": "buckets"}


def source_keys(obj: Obj) -> Iterable[str]:
    """Index values: ``<kind>/<namespace>/<name>`` of the chart's source."""
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    if ref.get("kind") and ref.get("name"):
        yield f"{ref['kind']}/{ns}/{ref['name']}"


class HelmChartReconciler(SourceReconciler[HelmChart]):
    """Reconciles HelmChart objects into stored chart archives."""

    kind = KIND
    model = HelmChart
    ready_from = (STORAGE_OPERATION_FAILED, FETCH_FAILED, BUILD_FAILED, ARTIFACT_OUTDATED,
                  ARTIFACT_IN_STORAGE, SOURCE_VERIFIED)
    negative_polarity = frozenset({STORAGE_OPERATION_FAILED, FETCH_FAILED, BUILD_FAILED,
                                   ARTIFACT_OUTDATED, STALLED, RECONCILING})

    def __init__(self, informer: Informer, objects: Objects, storage: Storage,
                 recorder: EventRecorder, patcher: StatusPatcher,
                 sources: dict[str, Informer], index_cache: IndexCache | None = None) -> None:
        super().__init__(informer, objects, storage, recorder, patcher)
        self.sources = sources
        self.index_cache = index_cache or IndexCache()

    # ------------------------------------------------------------- watches
    def requests_for_source(self, kind: str):  # type: ignore[no-untyped-def]
        """Charts to rebuild when a ``kind`` source publishes a new artifact revision."""

        def map_fn(etype: str, old: Obj | None, new: Obj) -> list[Request]:
            art = ((new.get("status") or {}).get("artifact") or {})
            before = (((old or {}).get("status") or {}).get("artifact") or {})
            if etype == MODIFIED and art.get("revision") == before.get("revision") \
                    and art.get("digest") == before.get("digest"):
                return []
            if not art.get("revision") and not (new.get("spec") or {}).get("type") == "oci":
                return []
            meta = new.get("metadata") or {}
            key = f"{kind}/{meta.get('namespace') or ''}/{meta.get('name') or ''}"
            out = []
            for chart in self.informer.by_index(SOURCE_INDEX, key):
                seen = (chart.get("status") or {}).get("observedSourceArtifactRevision")
                if art.get("revision") and seen == art.get("revision"):
                    continue
                m = chart.get("metadata") or {}
                out.append(Request(str(m.get("namespace") or ""), str(m.get("name") or "")))
            return out

        return map_fn

    # --------------------------------------------------------------- steps
    async def steps(self, state: State[HelmChart]) -> Result | None:
        obj, status = state.obj, state.obj.status
        await self.storage_step(state, READY_MESSAGE)
        ref = obj.spec.source_ref
        informer = self.sources.get(ref.kind)
        raw = informer.get(obj.namespace, ref.name) if informer is not None else None
        if raw is None:
            if informer is None:
                message = (f"failed to get source: unsupported source kind '{ref.kind}', "
                           "must be one of: [HelmRepository GitRepository Bucket]")
            else:
                message = (f'failed to get source: {_PLURALS.get(ref.kind, ref.kind)}.'
                           f'source.toolkit.fluxcd.io "{ref.name}" not found')
            self.fail(state, FETCH_FAILED, "SourceUnavailable", message)
        source_art = ((raw.get("status") or {}).get("artifact") or None)
        is_oci = ref.kind == "HelmRepository" and (raw.get("spec") or {}).get("type") == "oci"
        if not is_oci and (source_art is None or not self.storage.exists(source_art["path"])):
            message = f"no artifact available for {ref.kind} source '{ref.name}'"
            conditions.mark_true(status, FETCH_FAILED, "NoSourceArtifact", message,
                                 state.generation)
            await self.recorder.trace(obj.to_dict(), "NoSourceArtifact", message)
            return Result(requeue_after=REQUEUE_DEPENDENCY)
        if source_art is not None:
            status.observed_source_artifact_revision = source_art.get("revision")
        opts = self._options(state, ref.kind, source_art)
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sluice-helmchart-"))
        try:
            try:
                if ref.kind == "HelmRepository":
                    build, reused = await self._remote(state, HelmRepository.from_dict(raw),
                                                       opts, workdir)
                else:
                    build, reused = await self._local(state, source_art or {}, opts, workdir)
            except BuildError as exc:
                self._build_failed(state, exc)
            conditions.delete(status, FETCH_FAILED)
            conditions.delete(status, BUILD_FAILED)
            await self._artifact(state, build, reused)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        return None

    def _options(self, state: State[HelmChart], kind: str, source_art: dict[str, str] | None
                 ) -> BuildOptions:
        obj = state.obj
        art = obj.status.artifact
        cached = None
        if art is not None and obj.status.observed_chart_name and self.storage.exists(art.path):
            cached = (obj.status.observed_chart_name, art.revision)
        metadata = ""
        if obj.spec.reconcile_strategy == "Revision" and kind in ("GitRepository", "Bucket") \
                and source_art:
            rev = str(source_art.get("revision") or "")
            rev = rev.rsplit("@", 1)[-1].split(":", 1)[-1]
            metadata = rev[:12]
        values_files = list(obj.spec.values_files or [])
        if values_files:
            metadata = f"{metadata}.{state.generation}" if metadata else str(state.generation)
        return BuildOptions(values_files=values_files,
                            ignore_missing_values_files=bool(obj.spec.ignore_missing_values_files),
                            version_metadata=metadata,
                            force=obj.status.observed_generation != state.generation,
                            cached=cached)

    def _build_failed(self, state: State[HelmChart], exc: BuildError) -> None:
        status = state.status
        if exc.fetch:
            conditions.delete(status, BUILD_FAILED)
            condition = FETCH_FAILED
        else:
            conditions.delete(status, FETCH_FAILED)
            condition = BUILD_FAILED
        if exc.persistent:
            self.stall(state, condition, exc.build_reason, exc.message)
        self.fail(state, condition, exc.build_reason, exc.message)

    async def _observe(self, state: State[HelmChart], build: Build) -> None:
        """A new chart: ArtifactOutdated and the build in progress, written at once."""
        status = state.status
        art = status.artifact
        if build.name == status.observed_chart_name and art is not None \
                and art.revision == build.version:
            return
        summary = build.summary()
        if art is not None:
            conditions.mark_true(status, ARTIFACT_OUTDATED, "NewChart", summary, state.generation)
        conditions.mark_progressing(status, "Progressing", f"building artifact: {summary}",
                                    state.generation, overwrite_ready=True)
        await self.write(state)

    async def _remote(self, state: State[HelmChart], repo: HelmRepository, opts: BuildOptions,
                      workdir: Path) -> tuple[Build, bool]:
        obj = state.obj
        auth = await repository_auth(self, state, repo)  # type: ignore[arg-type]
        timeout = seconds(repo.spec.timeout, "60s")
        if repo.is_oci():
            return await self._remote_oci(state, repo, auth, opts, workdir, timeout)
        art = repo.status.artifact
        assert art is not None
        try:
            index = await self.index_cache.get(self.storage.local_path(art.path), art.path)
        except (SourceError, OSError) as exc:
            raise BuildError(CHART_PULL, "could not load repository index for remote chart "
                             f"reference: {exc}") from None
        try:
            chart = select_version(index, obj.spec.chart, obj.spec.version)
        except SourceError as exc:
            raise BuildError(CHART_REFERENCE, "failed to get chart version for remote "
                             f"reference: {exc.message}") from None
        build, reused = plan(chart.name, chart.version, opts)
        await self._observe(state, build)
        if reused:
            return build, True
        try:
            data = await download_chart(repo.spec.url, chart, auth, timeout=timeout,
                                        pass_credentials=bool(repo.spec.pass_credentials))
        except SourceError as exc:
            raise BuildError(CHART_PULL, "failed to download chart for remote reference: "
                             f"{auth.scrub(exc.message)}") from None
        return await finish_remote(data, build, opts, workdir), False

    async def _remote_oci(self, state: State[HelmChart], repo: HelmRepository,
                          auth: RepositoryAuth, opts: BuildOptions, workdir: Path,
                          timeout: float) -> tuple[Build, bool]:  # noqa: ASYNC109
        obj = state.obj
        insecure = bool(repo.spec.insecure)
        try:
            tag = await resolve_oci_chart(repo.spec.url, obj.spec.chart, obj.spec.version, auth,
                                          insecure=insecure, timeout=timeout)
        except SourceError as exc:
            raise BuildError(CHART_PULL, "failed to get chart version for remote reference: "
                             f"{exc.message}") from None
        build, reused = plan(obj.spec.chart, tag.replace("_", "+"), opts)
        await self._observe(state, build)
        if reused:
            return build, True
        try:
            data = await pull_oci_chart(repo.spec.url, obj.spec.chart, tag, auth,
                                        insecure=insecure, timeout=timeout)
        except SourceError as exc:
            raise BuildError(CHART_PULL, "failed to download chart for remote reference: "
                             f"{exc.message}") from None
        return await finish_remote(data, build, opts, workdir), False

    async def _local(self, state: State[HelmChart], source_art: dict[str, str],
                     opts: BuildOptions, workdir: Path) -> tuple[Build, bool]:
        obj = state.obj
        source_dir = workdir / "source"
        try:
            await asyncio.to_thread(extract, self.storage.local_path(source_art["path"]),
                                    source_dir)
        except SourceError as exc:
            self.fail(state, FETCH_FAILED, "Failed", f"artifact untar error: {exc.message}")
        build, reused = await build_local(source_dir, obj.spec.chart, opts, workdir)
        await self._observe(state, build)
        if build.resolved_dependencies:
            await self.recorder.trace(obj.to_dict(), "ResolvedDependencies",
                                      f"resolved {build.resolved_dependencies} chart dependencies")
        return build, reused

    async def _artifact(self, state: State[HelmChart], build: Build, reused: bool) -> None:
        obj, status, gen = state.obj, state.obj.status, state.generation
        summary = build.summary()
        if not reused:
            assert build.path is not None
            data = await asyncio.to_thread(build.path.read_bytes)
            try:
                stored = await store_file(self.storage, KIND, obj.namespace, obj.name,
                                          f"{build.name}-{build.version}.tgz", data,
                                          build.version)
                status.url = await link(self.storage, stored.path, "latest.tar.gz")
            except SourceError as exc:
                self.fail(state, STORAGE_OPERATION_FAILED, "ArchiveOperationFailed",
                          f"unable to copy Helm chart to storage: {exc.message}")
            status.artifact = Artifact.from_dict(stored.to_status())
            status.observed_chart_name = build.name
            conditions.delete(status, STORAGE_OPERATION_FAILED)
        status.observed_values_files = list(build.values_files) or None
        conditions.delete(status, ARTIFACT_OUTDATED)
        conditions.mark_true(status, ARTIFACT_IN_STORAGE, build.reason, summary, gen)
        if obj.spec.verify is None:
            conditions.delete(status, SOURCE_VERIFIED)
        if reused:
            return
        log.info("%s %s/%s: %s", KIND, obj.namespace, obj.name, summary)
        await self.recorder.normal(obj.to_dict(), build.reason, summary,
                                   self.event_metadata(obj))
        assert status.artifact is not None
        await self.collect(obj, status.artifact.path)


async def setup_helmchart_controller(manager: Manager, storage: Storage, *,
                                     concurrent: int | None = None) -> Controller:
    """Register the HelmChart controller and its watches on the sources."""
    informer = await manager.informer(API_VERSION, KIND)
    informer.add_index(SOURCE_INDEX, source_keys)
    sources = {"HelmRepository": await manager.informer(API_VERSION, "HelmRepository"),
               "GitRepository": await manager.informer(API_VERSION, "GitRepository"),
               "Bucket": await manager.informer(API_VERSION, "Bucket")}
    patcher = StatusPatcher(manager.objects, informer.mapping, COMPONENT)
    reconciler = HelmChartReconciler(informer, manager.objects, storage,
                                     manager.event_recorder(COMPONENT), patcher, sources)
    controller = Controller(KIND, informer, reconciler,
                            concurrent=concurrent or manager.options.concurrent,
                            metrics=manager.metrics,
                            grace_period=manager.options.graceful_shutdown_timeout)
    for kind, source in sources.items():
        controller.watch(source, reconciler.requests_for_source(kind))
    manager.add_controller(controller)
    return controller

