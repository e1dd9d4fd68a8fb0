"""The GitRepository reconciler: a Git ref in, a stored, digested artifact out.

Follows source-controller's order and status vocabulary, so ``flux get
sources git``, ``kubectl wait --for=condition=Ready`` and the kustomize side
see exactly what they would with Flux:

1. deleted object -> remove its stored artifacts, then the finalizer;
2. add the ``finalizers.fluxcd.io`` finalizer; stop here when
   ``spec.suspend`` (a pending ``reconcile.fluxcd.io/requestedAt`` is still
   acknowledged);
3. new generation -> ``Reconciling=True NewGeneration``;
4. *storage*: collect old artifacts, notice a vanished one, refresh the
   artifact URL (the advertised address may have changed since), and keep
   ``ArtifactInStorage`` true for the artifact we still serve;
5. *source*: read the auth Secret, resolve includes, ask the remote for the
   ref's revision (one ls-remote); when it equals the stored artifact's and
   nothing that shapes the content changed (ignore rules, includes,
   submodules), stop: no clone, no new artifact (an ``ArtifactOutdated`` left by
   an interrupted pass is cleared). Otherwise check out, and
   if the revision is new mark ``ArtifactOutdated=True NewRevision`` and
   ``Reconciling`` ``building artifact: new upstream revision '...'``
   (written at once, so users see the build in progress);
6. *include*: copy the included GitRepositories' artifacts in place;
7. *artifact*: archive with the ``.sourceignore`` rules, store as
   ``<sha>.tar.gz``, record ``status.artifact`` and the observed inputs,
   emit ``NewArtifact`` (``stored artifact for commit '<subject>'``), collect
   older artifacts;
8. summarise Ready from the owned conditions, copy ``requestedAt`` to
   ``status.lastHandledReconcileAt`` (only in this final write, so a client
   seeing its request handled reads the outcome, not a build in progress),
   write status, requeue after ``spec.interval`` (±5 %).

Failures set ``FetchFailed`` (``GitOperationFailed``/``AuthenticationFailed``,
message ``failed to checkout and determine revision: ...`` naming the failed
step), ``IncludeUnavailable`` or ``StorageOperationFailed``; Ready turns False
with that reason and message, a Warning event is recorded, the previous
artifact stays in storage and in status, and the error goes back to the
runtime for exponential backoff. An unusable URL stalls the object until its
spec changes. Messages come from the Git layer already scrubbed of secrets.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import posixpath
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sluice.api.meta import RECONCILING, STALLED, Artifact
from sluice.api.source import (
    API_VERSION,
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    AUTHENTICATION_FAILED,
    COMPONENT,
    FETCH_FAILED,
    GROUP,
    INCLUDE_UNAVAILABLE,
    NEW_REVISION,
    SOURCE_VERIFIED,
    STORAGE_OPERATION_FAILED,
    URL_INVALID,
    GitRepository,
    GitRepositoryInclude,
)
from sluice.controllers.source.artifacts import Storage, extract
from sluice.controllers.source.errors import InvalidURL, SourceError, StorageOperationFailed
from sluice.controllers.source.fetches import BackgroundFetches, Pending
from sluice.controllers.source.git import Commit, GitAuth, GitRef, checkout, remote_revision
from sluice.controllers.source.reconciling import reconcile_storage
from sluice.core.durations import SECOND, DurationError, parse_duration
from sluice.git.pool import default_pool
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.events import EventRecorder
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects
from sluice.runtime import conditions
from sluice.runtime.controller import Controller
from sluice.runtime.informer import Informer
from sluice.runtime.manager import Manager
from sluice.runtime.reconciler import Request, Result, TerminalError
from sluice.runtime.status import (
    StatusPatcher,
    has_finalizer,
    is_deleting,
    is_suspended,
    record_reconcile_request,
)

__all__ = [
    "INCLUDE_INDEX",
    "KIND",
    "GitRepositoryReconciler",
    "ReconcileFailed",
    "include_keys",
    "setup_gitrepository_controller",
]

log = logging.getLogger("sluice.controllers.source.gitrepository")

KIND = "GitRepository"
INCLUDE_INDEX = "include"
DEFAULT_TIMEOUT = "60s"
# source-controller's --requeue-dependency.
REQUEUE_DEPENDENCY = 30.0
# Artifacts kept per object (the current one included).
ARTIFACT_RETENTION = 2
# The least deadline of archiving a checkout (local work, but a big tree takes a while).
_ARCHIVE_TIMEOUT = 300.0

# Ready is summarised from these, in this priority (source-controller's list).
READY_FROM = (STORAGE_OPERATION_FAILED, FETCH_FAILED, INCLUDE_UNAVAILABLE, ARTIFACT_OUTDATED,
              ARTIFACT_IN_STORAGE, SOURCE_VERIFIED)
NEGATIVE_POLARITY = frozenset({STORAGE_OPERATION_FAILED, FETCH_FAILED, INCLUDE_UNAVAILABLE,
                               ARTIFACT_OUTDATED, STALLED, RECONCILING})

_REVISION_KEY = f"{GROUP}/revision"
_DIGEST_KEY = f"{GROUP}/digest"


class ReconcileFailed(Exception):
    """A failed step, already written to the conditions; ``reason`` goes to the event."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class _Include:
    spec: GitRepositoryInclude
    artifact: Artifact

    @property
    def to_path(self) -> str:
        return self.spec.to_path or self.spec.repository.name


def include_keys(obj: Obj) -> Iterable[str]:
    """Index values: ``namespace/name`` of every GitRepository ``obj`` includes."""
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    for incl in (obj.get("spec") or {}).get("include") or []:
        name = ((incl or {}).get("repository") or {}).get("name")
        if name:
            yield f"{ns}/{name}"


def _artifact_changed(old: Obj | None, new: Obj) -> bool:
    def art(o: Obj | None) -> tuple[Any, Any]:
        a = ((o or {}).get("status") or {}).get("artifact") or {}
        return a.get("revision"), a.get("digest")

    return old is None or art(old) != art(new)


def _pool_key(obj: GitRepository) -> str:
    """Who asks the Git pool: its fairness is per object."""
    return f"{KIND}/{obj.namespace}/{obj.name}"


def _seconds(text: str | None, default: str) -> float:
    try:
        return parse_duration(text or default) / SECOND
    except DurationError:
        return parse_duration(default) / SECOND


class _State:
    """One reconcile's object plus the status as last written."""

    def __init__(self, request: Request, obj: GitRepository) -> None:
        self.request = request
        self.obj = obj
        self.written = obj.status.to_dict()
        self.generation = obj.metadata.generation

    @property
    def status(self) -> Any:
        return self.obj.status


class GitRepositoryReconciler:
    """Reconciles GitRepository objects into artifacts in `storage`."""

    def __init__(self, informer: Informer, objects: Objects, secrets: ResourceMapping,
                 storage: Storage, recorder: EventRecorder, patcher: StatusPatcher, *,
                 requeue_dependency: float = REQUEUE_DEPENDENCY,
                 retention: int = ARTIFACT_RETENTION,
                 fetches: BackgroundFetches | None = None) -> None:
        self.informer = informer
        self.objects = objects
        self.secrets = secrets
        self.storage = storage
        self.recorder = recorder
        self.patcher = patcher
        self.requeue_dependency = requeue_dependency
        self.retention = retention
        # Git work runs as per-object background jobs: a slow remote holds no worker.
        self.fetches = fetches or BackgroundFetches()

    # ------------------------------------------------------------ dependencies
    def requests_for_included(self, etype: str, old: Obj | None, new: Obj) -> list[Request]:
        """Objects including ``new``, when its artifact changed (or it came or went)."""
        if etype == "MODIFIED" and not _artifact_changed(old, new):
            return []
        meta = new.get("metadata") or {}
        key = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        out = []
        for obj in self.informer.by_index(INCLUDE_INDEX, key):
            m = obj.get("metadata") or {}
            out.append(Request(str(m.get("namespace") or ""), str(m.get("name") or "")))
        return out

    # --------------------------------------------------------------- reconcile
    async def reconcile(self, request: Request) -> Result:
        raw = await self.patcher.current(
            request.namespace, request.name, self.informer.get(request.namespace, request.name))
        if raw is None:
            await self.fetches.discard(request)
            return Result()
        state = _State(request, GitRepository.from_dict(raw))
        obj = state.obj
        if is_deleting(obj):
            await self.fetches.discard(request)
            await self._delete(obj)
            return Result()
        if not has_finalizer(obj):
            await self.patcher.add_finalizer(obj)
        if is_suspended(obj):
            record_reconcile_request(obj)
            await self._write(state)
            log.info("%s %s: reconciliation is suspended for this object", KIND, request)
            return Result(outcome="suspended")

        failure: BaseException | None = None
        try:
            await self._reconcile(state)
        except Pending:
            # The remote is slow: this pass ends here and the object comes back
            # when its Git job is done; the outcome is written then.
            log.debug("%s %s: waiting for the remote", KIND, request)
            return Result(outcome="pending")
        except (ReconcileFailed, TerminalError) as exc:
            failure = exc
        status = obj.status
        if failure is None:
            conditions.delete(status, RECONCILING)
        else:
            conditions.mark_retrying(status)
        conditions.summarize(status, READY_FROM, NEGATIVE_POLARITY, state.generation)
        if conditions.is_ready(status) or conditions.is_true(status, STALLED):
            status.observed_generation = state.generation
        # Acknowledged only with the final status: `flux reconcile` reads Ready
        # as soon as it sees its request handled.
        record_reconcile_request(obj)
        await self._write(state)
        if isinstance(failure, ReconcileFailed):
            await self.recorder.warning(self._ref(obj), failure.reason, failure.message,
                                        self._event_metadata(obj))
            raise failure
        if isinstance(failure, TerminalError):
            await self.recorder.warning(self._ref(obj), URL_INVALID, str(failure))
            raise failure
        return Result(requeue_after=_seconds(obj.spec.interval, "1m"))

    async def _write(self, state: _State) -> None:
        await self.patcher.patch_status(state.obj, state.written)
        state.written = state.obj.status.to_dict()

    @staticmethod
    def _ref(obj: GitRepository) -> Obj:
        return obj.to_dict()

    @staticmethod
    def _event_metadata(obj: GitRepository) -> dict[str, str]:
        art = obj.status.artifact
        if art is None:
            return {}
        out = {_REVISION_KEY: art.revision}
        if art.digest:
            out[_DIGEST_KEY] = art.digest
        return out

    async def _reconcile(self, state: _State) -> None:
        status, gen = state.obj.status, state.generation
        if status.observed_generation != gen:
            conditions.mark_reconciling(status, "NewGeneration",
                                        f"reconciling new object generation ({gen})", gen)
            await self._write(state)
        await self._reconcile_storage(state)
        auth = await self._auth(state)
        includes = await self._includes(state)
        if await self._unchanged(state, auth, includes):
            return
        # The files are written only when something must change them before
        # archiving (includes, submodules); otherwise a Git worker archives the
        # commit's objects directly (`Storage.archive_checkout`).
        worktree = bool(includes) or bool(state.obj.spec.recurse_submodules)
        commit, workdir = await self._reconcile_source(state, auth, worktree)
        try:
            await self._reconcile_include(state, workdir, includes)
            await self._reconcile_artifact(state, commit, workdir / "src", includes, worktree)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    # ----------------------------------------------------------------- storage
    async def _reconcile_storage(self, state: _State) -> None:
        if not await reconcile_storage(self.storage, KIND, self.retention, state.obj,
                                       state.generation,
                                       "stored artifact for revision '{revision}'"):
            await self._write(state)

    # ------------------------------------------------------------------ source
    async def _auth(self, state: _State) -> GitAuth:
        obj = state.obj
        ref = obj.spec.secret_ref
        if ref is None:
            return GitAuth()
        try:
            secret = await self.objects.get(self.secrets, ref.name, obj.namespace)
        except KubeError as exc:
            detail = (f'secrets "{ref.name}" not found' if is_not_found(exc)
                      else f"{exc.message}")
            self._fail_fetch(state, AUTHENTICATION_FAILED,
                             f"failed to get secret '{obj.namespace}/{ref.name}': {detail}")
        data: dict[str, bytes] = {}
        for key, value in (secret.get("data") or {}).items():
            try:
                data[key] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError, TypeError):
                self._fail_fetch(state, AUTHENTICATION_FAILED,
                                 f"secret '{obj.namespace}/{ref.name}': key '{key}' is not "
                                 "valid base64")
        for key, value in (secret.get("stringData") or {}).items():
            data[key] = str(value).encode()
        return GitAuth.from_secret(data)

    def _fail_fetch(self, state: _State, reason: str, message: str) -> NoReturn:
        conditions.mark_true(state.status, FETCH_FAILED, reason, message, state.generation)
        raise ReconcileFailed(reason, message)

    async def _includes(self, state: _State) -> list[_Include]:
        obj, status, gen = state.obj, state.obj.status, state.generation
        out: list[_Include] = []
        for incl in obj.spec.include or []:
            name = incl.repository.name
            raw = self.informer.get(obj.namespace, name)
            if raw is None:
                message = (f"could not get resource for include '{name}': "
                           f'gitrepositories.{GROUP} "{name}" not found')
                conditions.mark_true(status, INCLUDE_UNAVAILABLE, "NotFound", message, gen)
                raise ReconcileFailed("NotFound", message)
            included = GitRepository.from_dict(raw)
            art = included.status.artifact
            if art is None or not self.storage.exists(art.path):
                message = f"no artifact available for include '{name}'"
                conditions.mark_true(status, INCLUDE_UNAVAILABLE, "NoArtifact", message, gen)
                raise ReconcileFailed("NoArtifact", message)
            out.append(_Include(incl, art))
        conditions.delete(status, INCLUDE_UNAVAILABLE)
        return out

    def _content_config_changed(self, obj: GitRepository, includes: list[_Include]) -> bool:
        """Whether inputs other than the commit changed since the stored artifact."""
        st = obj.status
        if (st.observed_ignore or None) != (obj.spec.ignore or None):
            return True
        if bool(st.observed_recurse_submodules) != bool(obj.spec.recurse_submodules):
            return True
        observed = [i.to_dict() for i in st.observed_include or []]
        wanted = [i.spec.to_dict() for i in includes]
        if observed != wanted:
            return True
        seen = [(a.revision, a.digest) for a in st.included_artifacts or []]
        return seen != [(i.artifact.revision, i.artifact.digest) for i in includes]

    def _fetch_failed(self, state: _State, exc: SourceError) -> NoReturn:
        message = f"failed to checkout and determine revision: {exc.message}"
        if isinstance(exc, InvalidURL):
            # Retrying cannot fix the URL: stall until the spec changes.
            conditions.mark_true(state.status, FETCH_FAILED, URL_INVALID, message,
                                 state.generation)
            conditions.mark_stalled(state.status, URL_INVALID, message, state.generation)
            raise TerminalError(message) from None
        self._fail_fetch(state, exc.reason, message)

    async def _unchanged(self, state: _State, auth: GitAuth, includes: list[_Include]) -> bool:
        """Whether one ls-remote shows the stored artifact is still current."""
        obj, status = state.obj, state.obj.status
        art = status.artifact
        if art is None or self._content_config_changed(obj, includes):
            return False
        ref = GitRef.from_spec(obj.spec.ref.to_dict() if obj.spec.ref else None)
        timeout, key = _seconds(obj.spec.timeout, DEFAULT_TIMEOUT), _pool_key(obj)
        try:
            revision = await self.fetches.run(
                state.request, "ls-remote", (obj.spec.url, ref, auth, timeout),
                lambda: remote_revision(obj.spec.url, ref, auth, timeout=timeout, key=key),
                impatient=default_pool().is_suspect(key))
        except SourceError as exc:
            self._fetch_failed(state, exc)
        if revision != art.revision:
            return False
        log.debug("%s %s/%s: no changes since last reconciliation of %s", KIND, obj.namespace,
                  obj.name, revision)
        conditions.delete(status, FETCH_FAILED)
        # As source-controller's artifact step for a revision it already stores: an
        # ArtifactOutdated left by an interrupted pass is no longer true.
        conditions.delete(status, ARTIFACT_OUTDATED)
        conditions.mark_true(status, ARTIFACT_IN_STORAGE, "Succeeded",
                             f"stored artifact for revision '{art.revision}'", state.generation)
        return True

    async def _reconcile_source(self, state: _State, auth: GitAuth,
                                worktree: bool) -> tuple[Commit, Path]:
        """Check the ref out into a new work directory (``<dir>/src``), the caller's to remove."""
        obj, status, gen = state.obj, state.obj.status, state.generation
        ref = GitRef.from_spec(obj.spec.ref.to_dict() if obj.spec.ref else None)
        timeout, key = _seconds(obj.spec.timeout, DEFAULT_TIMEOUT), _pool_key(obj)
        recurse = bool(obj.spec.recurse_submodules)

        async def fetch() -> tuple[Commit, Path]:
            workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sluice-gitrepo-"))
            try:
                commit = await checkout(obj.spec.url, ref, auth, workdir / "src", timeout,
                                        recurse, key=key, worktree=worktree)
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, workdir, True)
                raise
            return commit, workdir

        async def abandon(result: tuple[Commit, Path]) -> None:
            await asyncio.to_thread(shutil.rmtree, result[1], True)

        try:
            commit, workdir = await self.fetches.run(
                state.request, "checkout", (obj.spec.url, ref, auth, timeout, recurse, worktree),
                fetch,
                impatient=default_pool().is_suspect(key), cleanup=abandon)
        except SourceError as exc:
            self._fetch_failed(state, exc)
        art = status.artifact
        if art is None or art.revision != commit.revision:
            message = f"new upstream revision '{commit.revision}'"
            conditions.mark_true(status, ARTIFACT_OUTDATED, NEW_REVISION, message, gen)
            conditions.mark_progressing(status, "Progressing", f"building artifact: {message}",
                                        gen, overwrite_ready=True)
            await self._write(state)
        conditions.delete(status, FETCH_FAILED)
        return commit, workdir

    # ----------------------------------------------------------------- include
    async def _reconcile_include(self, state: _State, workdir: Path,
                                 includes: list[_Include]) -> None:
        status, gen = state.obj.status, state.generation
        seen = [(a.revision, a.digest) for a in status.included_artifacts or []]
        if seen != [(i.artifact.revision, i.artifact.digest) for i in includes]:
            message = "included artifacts differ from last observed includes"
            if status.included_artifacts is not None:
                conditions.mark_true(status, ARTIFACT_OUTDATED, "IncludeChange", message, gen)
            conditions.mark_progressing(status, "Progressing", f"building artifact: {message}",
                                        gen, overwrite_ready=True)
            await self._write(state)
        for n, incl in enumerate(includes):
            try:
                await asyncio.to_thread(self._copy_include, incl, workdir, n)
            except SourceError as exc:
                message = f"failed to copy '{incl.spec.repository.name}' include: {exc.message}"
                conditions.mark_true(status, STORAGE_OPERATION_FAILED, exc.reason, message, gen)
                raise ReconcileFailed(exc.reason, message) from None

    def _copy_include(self, incl: _Include, workdir: Path, n: int) -> None:
        to_path = posixpath.normpath(incl.to_path.strip("/"))
        from_path = posixpath.normpath((incl.spec.from_path or ".").strip("/"))
        for path in (to_path, from_path):
            if path.startswith("..") or posixpath.isabs(path):
                raise StorageOperationFailed(f"path '{path}' escapes the repository root")
        staging = workdir / f"include-{n}"
        extract(self.storage.local_path(incl.artifact.path), staging)
        source = staging / from_path if from_path != "." else staging
        if not source.is_dir():
            raise StorageOperationFailed(f"path '{incl.spec.from_path}' not found in the "
                                         "included artifact")
        target = workdir / "src" / to_path if to_path != "." else workdir / "src"
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)

    # ---------------------------------------------------------------- artifact
    async def _reconcile_artifact(self, state: _State, commit: Commit, source: Path,
                                  includes: list[_Include], worktree: bool) -> None:
        obj, status, gen = state.obj, state.obj.status, state.generation
        art = status.artifact
        if (art is not None and art.revision == commit.revision
                and not self._content_config_changed(obj, includes)):
            conditions.delete(status, ARTIFACT_OUTDATED)
            conditions.mark_true(status, ARTIFACT_IN_STORAGE, "Succeeded",
                                 f"stored artifact for revision '{art.revision}'", gen)
            return

        try:
            # In a Git worker: the tar and gzip work stays off this interpreter.
            stored = await self.storage.archive_checkout(
                KIND, obj.namespace, obj.name, f"{commit.hash}.tar.gz", source, commit.revision,
                obj.spec.ignore, from_disk=worktree,
                timeout=max(_seconds(obj.spec.timeout, DEFAULT_TIMEOUT), _ARCHIVE_TIMEOUT),
                key=_pool_key(obj))
        except SourceError as exc:
            message = f"unable to archive artifact to storage: {exc.message}"
            conditions.mark_true(status, STORAGE_OPERATION_FAILED, exc.reason, message, gen)
            raise ReconcileFailed(exc.reason, message) from None
        except OSError as exc:
            message = f"unable to archive artifact to storage: {exc.strerror or exc}"
            conditions.mark_true(status, STORAGE_OPERATION_FAILED, "ArchiveOperationFailed",
                                 message, gen)
            raise ReconcileFailed("ArchiveOperationFailed", message) from None
        status.artifact = Artifact.from_dict(stored.to_status())
        status.included_artifacts = [i.artifact.copy() for i in includes] or None
        status.observed_ignore = obj.spec.ignore
        status.observed_recurse_submodules = obj.spec.recurse_submodules
        status.observed_include = [i.spec.copy() for i in includes] or None
        conditions.delete(status, ARTIFACT_OUTDATED)
        conditions.delete(status, STORAGE_OPERATION_FAILED)
        conditions.mark_true(status, ARTIFACT_IN_STORAGE, "Succeeded",
                             f"stored artifact for revision '{stored.revision}'", gen)
        message = f"stored artifact for commit '{commit.short_message}'"
        log.info("%s %s/%s: %s", KIND, obj.namespace, obj.name, message)
        await self.recorder.normal(self._ref(obj), "NewArtifact", message,
                                   self._event_metadata(obj))
        try:
            await asyncio.to_thread(self.storage.garbage_collect, KIND, obj.namespace, obj.name,
                                    keep=self.retention, current=stored.path)
        except StorageOperationFailed as exc:
            log.warning("%s %s/%s: %s", KIND, obj.namespace, obj.name, exc)

    # ---------------------------------------------------------------- deletion
    async def _delete(self, obj: GitRepository) -> None:
        try:
            removed = await asyncio.to_thread(self.storage.remove_all, KIND, obj.namespace,
                                              obj.name)
        except StorageOperationFailed as exc:
            raise ReconcileFailed(exc.reason, f"garbage collection for deleted resource "
                                  f"failed: {exc.message}") from None
        if removed:
            await self.recorder.trace(self._ref(obj), "GarbageCollectionSucceeded",
                                      "garbage collected artifacts for deleted resource")
        if has_finalizer(obj):
            try:
                await self.patcher.remove_finalizer(obj)
            except KubeError as exc:
                if not is_not_found(exc):
                    raise


async def setup_gitrepository_controller(manager: Manager, storage: Storage, *,
                                         concurrent: int | None = None) -> Controller:
    """Register the GitRepository controller (and its watches) on ``manager``."""
    informer = await manager.informer(API_VERSION, KIND)
    informer.add_index(INCLUDE_INDEX, include_keys)
    secrets = await manager.objects.mapping("v1", "Secret")
    patcher = StatusPatcher(manager.objects, informer.mapping, COMPONENT)
    reconciler = GitRepositoryReconciler(informer, manager.objects, secrets, storage,
                                         manager.event_recorder(COMPONENT), patcher)
    controller = Controller(KIND, informer, reconciler,
                            concurrent=concurrent or manager.options.concurrent,
                            metrics=manager.metrics,
                            grace_period=manager.options.graceful_shutdown_timeout)
    controller.watch(informer, reconciler.requests_for_included)
    reconciler.fetches.requeue = controller.queue.add
    manager.add_controller(controller)
    return controller

