"""The HelmRepository reconciler: a Helm repository's ``index.yaml`` as a stored artifact.

Follows source-controller (v1.9) step by step, so ``flux get sources helm``
and the HelmChart side see what they would with Flux:

* ``type: oci`` repositories are **static**: any stored artifact is removed,
  the status emptied, the finalizer dropped, and nothing else happens ever
  (HelmCharts pointing at one talk to the registry themselves).
* *storage*: old artifacts collected, a vanished one noticed, URLs refreshed.
* *source*: credentials from ``secretRef`` / ``certSecretRef`` (failures:
  ``FetchFailed`` ``AuthenticationFailed``), then GET ``<url>/index.yaml``
  with ``spec.timeout`` (default 60s). Failing: ``FetchFailed`` ``Failed``
  ``failed to fetch Helm repository index: failed to fetch <url> : 401
  Unauthorized``. If ``sha256`` of the raw bytes equals the stored
  revision, stop: no parse, no new artifact (``artifact up-to-date with remote
  revision: '<rev>'`` trace event). Otherwise the index must parse
  (``IndexationFailed`` ``failed to load Helm repository from index YAML:
  ...``); ``ArtifactOutdated=True NewRevision`` ``new index revision
  '<rev>'`` and Reconciling ``building artifact: new index revision '<rev>'``
  are written at once.
* *artifact*: the index stored as JSON in ``index-<hex>.yaml`` (revision =
  ``sha256:<hex of the raw bytes>``, digest = that of the stored JSON), the
  ``index.yaml`` link updated and put in ``status.url``, ``ArtifactInStorage``
  and Ready ``stored artifact: revision 'sha256:…'``, event ``NewArtifact``
  ``stored fetched index of size 1.234kB from '<url>'``.

A failure keeps the previous artifact in status and storage. An ``oci://``
URL without ``type: oci`` stalls (``URLInvalid``) until the spec changes.
Credentials never reach messages: errors quote status lines, not bodies.
"""

from __future__ import annotations

import hashlib
import logging

from sluice.api.meta import RECONCILING, STALLED, Artifact
from sluice.api.source import (
    API_VERSION,
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    ARTIFACT_UP_TO_DATE,
    AUTHENTICATION_FAILED,
    COMPONENT,
    FETCH_FAILED,
    INDEXATION_FAILED,
    NEW_REVISION,
    STORAGE_OPERATION_FAILED,
    URL_INVALID,
    HelmRepository,
)
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.errors import SourceError
from sluice.controllers.source.helmauth import RepositoryAuth, decode_secret_data, registry_host
from sluice.controllers.source.helmindex import (
    fetch_index,
    human_size,
    load_index,
    normalize_url,
)
from sluice.controllers.source.reconciling import SourceReconciler, State, seconds
from sluice.controllers.source.storing import link, store_file
from sluice.helmsdk import run
from sluice.kube.objects import Obj
from sluice.runtime import conditions
from sluice.runtime.controller import Controller
from sluice.runtime.manager import Manager
from sluice.runtime.reconciler import Result
from sluice.runtime.status import StatusPatcher, has_finalizer

__all__ = ["KIND", "HelmRepositoryReconciler", "repository_auth",
           "setup_helmrepository_controller"]

log = logging.getLogger("sluice.controllers.source.helmrepository")

KIND = "HelmRepository"
DEFAULT_TIMEOUT = "60s"
READY_MESSAGE = "stored artifact: revision '{revision}'"


async def repository_auth(reconciler: SourceReconciler[HelmRepository],
                          state: State[HelmRepository], repo: HelmRepository) -> RepositoryAuth:
    """The credentials and TLS material of ``repo`` (``state`` is the object failing)."""
    ns = repo.namespace
    auth_data = cert_data = None
    if repo.spec.secret_ref is not None:
        name = repo.spec.secret_ref.name
        secret = await reconciler.secret(state, name, what="authentication secret")
        auth_data = _decode(reconciler, state, secret, f"{ns}/{name}")
    if repo.spec.cert_secret_ref is not None:
        name = repo.spec.cert_secret_ref.name
        secret = await reconciler.secret(state, name, what="TLS secret")
        cert_data = _decode(reconciler, state, secret, f"{ns}/{name}")
    try:
        return RepositoryAuth.from_secrets(auth_data, cert_data, host=registry_host(repo.spec.url),
                                           where=f"{ns}/{repo.spec.secret_ref.name}"
                                           if repo.spec.secret_ref else "")
    except SourceError as exc:
        reconciler.fail(state, FETCH_FAILED, AUTHENTICATION_FAILED, exc.message)


def _decode(reconciler: SourceReconciler[HelmRepository], state: State[HelmRepository],
            secret: Obj, where: str) -> dict[str, bytes]:
    try:
        return decode_secret_data(secret, where)
    except SourceError as exc:
        reconciler.fail(state, FETCH_FAILED, AUTHENTICATION_FAILED, exc.message)


class HelmRepositoryReconciler(SourceReconciler[HelmRepository]):
    """Reconciles HelmRepository objects into stored indexes."""

    kind = KIND
    model = HelmRepository
    ready_from = (STORAGE_OPERATION_FAILED, FETCH_FAILED, ARTIFACT_OUTDATED, ARTIFACT_IN_STORAGE)
    negative_polarity = frozenset({STORAGE_OPERATION_FAILED, FETCH_FAILED, ARTIFACT_OUTDATED,
                                   STALLED, RECONCILING})

    async def before_finalizer(self, state: State[HelmRepository]) -> bool:
        obj = state.obj
        if not obj.is_oci():
            return False
        # Static: nothing stored, nothing reported, no finalizer (Flux's migrationToStatic).
        if obj.spec.suspend:
            return True
        status = obj.status
        if status.artifact is None and not status.conditions and not has_finalizer(obj) \
                and status.url is None and status.observed_generation in (None, -1):
            return True
        await self.delete(obj)
        raw = self.informer.get(obj.namespace, obj.name) or obj.to_dict()
        fresh = HelmRepository.from_dict(raw)
        before = fresh.status.to_dict()
        fresh.status = type(fresh.status)()
        await self.patcher.patch_status(fresh, before)
        return True

    async def steps(self, state: State[HelmRepository]) -> Result | None:
        obj = state.obj
        await self.storage_step(state, READY_MESSAGE)
        if obj.spec.url.startswith("oci://"):
            self.stall(state, FETCH_FAILED, URL_INVALID,
                       "invalid Helm repository URL: 'oci' URL scheme cannot be used with "
                       "'default' HelmRepository type")
        auth = await repository_auth(self, state, obj)
        raw = await self._fetch(state, auth)
        revision = f"sha256:{hashlib.sha256(raw).hexdigest()}"
        art = obj.status.artifact
        if art is not None and art.revision == revision:
            conditions.delete(obj.status, FETCH_FAILED)
            conditions.delete(obj.status, ARTIFACT_OUTDATED)
            conditions.mark_true(obj.status, ARTIFACT_IN_STORAGE, "Succeeded",
                                 READY_MESSAGE.format(revision=revision), state.generation)
            await self.recorder.trace(obj.to_dict(), ARTIFACT_UP_TO_DATE,
                                      f"artifact up-to-date with remote revision: '{revision}'")
            return None
        await self._store(state, raw, revision)
        return None

    async def _fetch(self, state: State[HelmRepository], auth: RepositoryAuth) -> bytes:
        obj = state.obj
        try:
            return await fetch_index(obj.spec.url, auth,
                                     timeout=seconds(obj.spec.timeout, DEFAULT_TIMEOUT))
        except SourceError as exc:
            self.fail(state, FETCH_FAILED, "Failed",
                      f"failed to fetch Helm repository index: {auth.scrub(exc.message)}")

    async def _store(self, state: State[HelmRepository], raw: bytes, revision: str) -> None:
        obj, status, gen = state.obj, state.obj.status, state.generation
        try:
            index = await run(load_index, raw)
        except SourceError as exc:
            self.fail(state, FETCH_FAILED, INDEXATION_FAILED,
                      f"failed to load Helm repository from index YAML: {exc.message}")
        conditions.delete(status, FETCH_FAILED)
        message = f"new index revision '{revision}'"
        if status.artifact is not None:
            conditions.mark_true(status, ARTIFACT_OUTDATED, NEW_REVISION, message, gen)
        conditions.mark_progressing(status, "Progressing", f"building artifact: {message}", gen,
                                    overwrite_ready=True)
        await self.write(state)
        hexdigest = revision.removeprefix("sha256:")
        try:
            stored = await store_file(self.storage, KIND, obj.namespace, obj.name,
                                      f"index-{hexdigest}.yaml", index.to_json(), revision)
            status.url = await link(self.storage, stored.path, "index.yaml")
        except SourceError as exc:
            self.fail(state, STORAGE_OPERATION_FAILED, "ArchiveOperationFailed",
                      f"unable to save artifact to storage: {exc.message}")
        status.artifact = Artifact.from_dict(stored.to_status())
        conditions.delete(status, ARTIFACT_OUTDATED)
        conditions.delete(status, STORAGE_OPERATION_FAILED)
        conditions.mark_true(status, ARTIFACT_IN_STORAGE, "Succeeded",
                             READY_MESSAGE.format(revision=revision), gen)
        event = (f"stored fetched index of size {human_size(len(raw))} from "
                 f"'{normalize_url(obj.spec.url)}'")
        log.info("%s %s/%s: %s", KIND, obj.namespace, obj.name, event)
        await self.recorder.normal(obj.to_dict(), "NewArtifact", event, self.event_metadata(obj))
        await self.collect(obj, stored.path)


async def setup_helmrepository_controller(manager: Manager, storage: Storage, *,
                                          concurrent: int | None = None) -> Controller:
    """Register the HelmRepository controller on ``manager``."""
    informer = await manager.informer(API_VERSION, KIND)
    patcher = StatusPatcher(manager.objects, informer.mapping, COMPONENT)
    reconciler = HelmRepositoryReconciler(informer, manager.objects, storage,
                                          manager.event_recorder(COMPONENT), patcher)
    controller = Controller(KIND, informer, reconciler,
                            concurrent=concurrent or manager.options.concurrent,
                            metrics=manager.metrics,
                            grace_period=manager.options.graceful_shutdown_timeout)
    manager.add_controller(controller)
    return controller

