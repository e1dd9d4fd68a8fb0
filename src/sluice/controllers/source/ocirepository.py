"""The OCIRepository reconciler: one layer of an OCI artifact as a stored tarball.

Follows source-controller's OCIRepository reconciler:

1. *storage*: old artifacts collected, a vanished one noticed.
2. *source*: credentials from ``secretRef`` (a dockerconfigjson Secret) and
   TLS from ``certSecretRef``; the reference resolved with Flux's
   precedence **digest > semver > tag** (default tag ``latest``); for tags
   and semver the manifest digest comes from a HEAD (GET when the registry
   gives no digest header). Revision: ``<tag>@sha256:<hex>``, or
   ``sha256:<hex>`` for a digest ref. When it equals the stored artifact's
   and ``ignore``/``layerSelector`` are unchanged, stop: nothing is pulled.
   Otherwise ``ArtifactOutdated`` ``NewRevision`` and Reconciling ``new
   revision '<rev>' for '<url>'`` are written at once.
3. *pull*: the manifest, then the first layer (or the first of
   ``layerSelector.mediaType``); ``extract`` (default) unpacks the tar+gzip
   layer and re-archives it with ``.sourceignore``/``spec.ignore`` rules,
   ``copy`` stores the blob as is (``<hex>.tgz``).
4. *artifact*: ``<hex>.tar.gz``, ``status.artifact.metadata`` = the
   manifest annotations, ``observedIgnore``/``observedLayerSelector``,
   ``status.url`` -> ``latest.tar.gz``; Ready ``stored artifact for digest
   '<rev>'`` (Flux's code, not its docs); event ``NewArtifact`` ``stored
   artifact with revision '<rev>' from '<url>'`` plus ``, origin source
   '…', origin revision '…'`` from the OCI annotations.

Errors: ``OCIArtifactPullFailed`` (unreachable, refused, no semver match,
unknown tag), ``OCIArtifactLayerOperationFailed`` (no such layer, a layer
that is not tar+gzip), ``AuthenticationFailed`` (secrets), ``URLInvalid``
(stalls). The previous artifact stays; messages come from the OCI client,
already free of credentials. Not supported yet: ``provider`` other than
``generic``, ``serviceAccountName`` pull secrets, ``verify``, proxies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import re
import shutil
import tempfile
from pathlib import Path

from sluice.api.meta import RECONCILING, STALLED, Artifact
from sluice.api.source import (
    API_VERSION,
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    AUTHENTICATION_FAILED,
    COMPONENT,
    FETCH_FAILED,
    NEW_REVISION,
    OCI_LAYER_OPERATION_FAILED,
    OCI_PULL_FAILED,
    SOURCE_VERIFIED,
    STORAGE_OPERATION_FAILED,
    URL_INVALID,
    OCIRepository,
)
from sluice.controllers.source.artifacts import Artifact as StoredArtifact
from sluice.controllers.source.artifacts import Storage, extract
from sluice.controllers.source.errors import SourceError
from sluice.controllers.source.helmauth import decode_secret_data
from sluice.controllers.source.reconciling import SourceReconciler, State, seconds
from sluice.controllers.source.storing import link, store_file
from sluice.core.deadlines import call_deadline
from sluice.core.semver import SemverError, parse_constraint, parse_version
from sluice.core.sourceignore import load_ignore_rules
from sluice.oci.client import ClientOptions
from sluice.oci.credentials import ANONYMOUS, parse_dockerconfigjson
from sluice.oci.errors import InvalidReference, OCIError
from sluice.oci.names import Repository, parse_repository
from sluice.oci.pull import Manifest, PullClient, parse_manifest
from sluice.runtime import conditions
from sluice.runtime.controller import Controller
from sluice.runtime.manager import Manager
from sluice.runtime.reconciler import Result
from sluice.runtime.status import StatusPatcher

__all__ = ["KIND", "OCIRepositoryReconciler", "setup_ocirepository_controller"]

log = logging.getLogger("sluice.controllers.source.ocirepository")

KIND = "OCIRepository"
DEFAULT_TIMEOUT = "60s"
READY_MESSAGE = "stored artifact for digest '{revision}'"
SOURCE_ANNOTATION = "org.opencontainers.image.source"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
HELM_CHART_CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


class OCIRepositoryReconciler(SourceReconciler[OCIRepository]):
    """Reconciles OCIRepository objects into stored artifacts."""

    kind = KIND
    model = OCIRepository
    ready_from = (STORAGE_OPERATION_FAILED, FETCH_FAILED, ARTIFACT_OUTDATED, ARTIFACT_IN_STORAGE,
                  SOURCE_VERIFIED)
    negative_polarity = frozenset({STORAGE_OPERATION_FAILED, FETCH_FAILED, ARTIFACT_OUTDATED,
                                   STALLED, RECONCILING})

    async def steps(self, state: State[OCIRepository]) -> Result | None:
        obj = state.obj
        await self.storage_step(state, READY_MESSAGE)
        url = obj.spec.url
        try:
            repository = parse_repository(url.removeprefix("oci://"),
                                          insecure=bool(obj.spec.insecure))
        except InvalidReference as exc:
            self.stall(state, FETCH_FAILED, URL_INVALID, f"URL validation failed for '{url}': "
                       f"{exc}")
        options = await self._options(state, repository.registry)
        # One deadline for every request of the pull, as Flux's context with
        # spec.timeout (see `sluice.core.deadlines`).
        try:
            async with call_deadline(options.timeout):
                pulled = await self._pull(state, repository, options)
        except TimeoutError:
            self.fail(state, FETCH_FAILED, OCI_PULL_FAILED,
                      f"failed to pull artifact from '{url}': context deadline exceeded")
        if pulled is None:
            return None
        revision, manifest, blob = pulled
        conditions.delete(obj.status, FETCH_FAILED)
        await self._store(state, revision, manifest, blob)
        return None

    async def _pull(self, state: State[OCIRepository], repository: Repository,
                    options: ClientOptions) -> tuple[str, Manifest, bytes] | None:
        """(revision, manifest, content layer), or None when the artifact is up to date."""
        obj = state.obj
        url = obj.spec.url
        async with PullClient(repository, options) as client:
            revision, reference = await self._resolve(state, client)
            if self._unchanged(obj, revision):
                conditions.delete(obj.status, FETCH_FAILED)
                conditions.delete(obj.status, ARTIFACT_OUTDATED)
                conditions.mark_true(obj.status, ARTIFACT_IN_STORAGE, "Succeeded",
                                     READY_MESSAGE.format(revision=revision), state.generation)
                return None
            message = f"new revision '{revision}' for '{url}'"
            if obj.status.artifact is not None:
                conditions.mark_true(obj.status, ARTIFACT_OUTDATED, NEW_REVISION, message,
                                     state.generation)
            conditions.mark_progressing(obj.status, "Progressing", f"building artifact: {message}",
                                        state.generation, overwrite_ready=True)
            await self.write(state)
            try:
                body, media_type, digest = await client.get_manifest(reference)
                manifest = parse_manifest(body, media_type, digest)
            except OCIError as exc:
                self.fail(state, FETCH_FAILED, OCI_PULL_FAILED,
                          f"failed to pull artifact from '{url}': {exc}")
            layer_digest = self._select_layer(state, manifest)
            try:
                blob = await client.get_blob(layer_digest)
            except OCIError as exc:
                self.fail(state, FETCH_FAILED, OCI_PULL_FAILED,
                          f"failed to pull artifact from '{url}': {exc}")
        return revision, manifest, blob

    async def _options(self, state: State[OCIRepository], registry: str) -> ClientOptions:
        obj = state.obj
        creds = ANONYMOUS
        ca = cert = key = None
        try:
            if obj.spec.secret_ref is not None:
                name = obj.spec.secret_ref.name
                data = decode_secret_data(await self.secret(state, name), f"{obj.namespace}/{name}")
                if ".dockerconfigjson" in data:
                    creds = parse_dockerconfigjson(data[".dockerconfigjson"],
                                                   f"{obj.namespace}/{name}").resolve(registry)
            if obj.spec.cert_secret_ref is not None:
                name = obj.spec.cert_secret_ref.name
                data = decode_secret_data(await self.secret(state, name, what="TLS secret"),
                                          f"{obj.namespace}/{name}")
                ca, cert, key = data.get("ca.crt"), data.get("tls.crt"), data.get("tls.key")
        except (SourceError, OCIError) as exc:
            self.fail(state, FETCH_FAILED, AUTHENTICATION_FAILED, str(exc))
        return ClientOptions(credentials=creds, ca_pem=ca, cert_pem=cert, key_pem=key,
                             timeout=seconds(obj.spec.timeout, DEFAULT_TIMEOUT))

    async def _resolve(self, state: State[OCIRepository], client: PullClient) -> tuple[str, str]:
        """(revision, manifest reference) by Flux's digest > semver > tag precedence."""
        obj = state.obj
        ref = obj.spec.effective_ref()
        try:
            if ref.digest:
                return ref.digest, ref.digest
            tag = ref.tag or "latest"
            if ref.semver:
                tag = self._semver_tag(state, await client.list_tags(), ref.semver,
                                       ref.semver_filter)
            digest = await client.head_digest(tag)
        except OCIError as exc:
            self.fail(state, FETCH_FAILED, OCI_PULL_FAILED,
                      f"failed to determine artifact digest: {exc}")
        return f"{tag}@{digest}", tag

    def _semver_tag(self, state: State[OCIRepository], tags: list[str], semver: str,
                    semver_filter: str | None) -> str:
        helm = (state.obj.spec.layer_selector is not None
                and state.obj.spec.layer_selector.media_type == HELM_CHART_CONTENT)
        try:
            constraint = parse_constraint(semver)
        except SemverError as exc:
            self.stall(state, FETCH_FAILED, OCI_PULL_FAILED,
                       f"failed to determine the artifact tag for '{state.obj.spec.url}': semver "
                       f"parse error: {exc}")
        pattern = None
        if semver_filter:
            try:
                pattern = re.compile(semver_filter)
            except re.error as exc:
                self.stall(state, FETCH_FAILED, OCI_PULL_FAILED,
                           f"failed to determine the artifact tag for '{state.obj.spec.url}': "
                           f"semver regex parse error: {exc}")
        best = None
        for tag in tags:
            if pattern is not None and not pattern.search(tag):
                continue
            try:
                v = parse_version(tag.replace("_", "+") if helm else tag, strict=True)
            except SemverError:
                continue
            if constraint.check(v) and (best is None or v > best[0]):
                best = (v, tag)
        if best is None:
            self.fail(state, FETCH_FAILED, OCI_PULL_FAILED,
                      f"failed to determine the artifact tag for '{state.obj.spec.url}': no "
                      f"match found for semver: {semver}")
        return best[1]

    def _unchanged(self, obj: OCIRepository, revision: str) -> bool:
        art, st = obj.status.artifact, obj.status
        if art is None or art.revision != revision:
            return False
        if (st.observed_ignore or None) != (obj.spec.ignore or None):
            return False
        seen = st.observed_layer_selector.to_dict() if st.observed_layer_selector else None
        want = obj.spec.layer_selector.to_dict() if obj.spec.layer_selector else None
        return seen == want

    def _select_layer(self, state: State[OCIRepository], manifest: Manifest) -> str:
        selector = state.obj.spec.layer_selector
        if not manifest.layers:
            self.fail(state, FETCH_FAILED, OCI_LAYER_OPERATION_FAILED,
                      "failed to extract layer: no layers found in artifact")
        if selector is not None and selector.media_type:
            for layer in manifest.layers:
                if layer.media_type == selector.media_type:
                    return layer.digest
            self.fail(state, FETCH_FAILED, OCI_LAYER_OPERATION_FAILED,
                      f"failed to find layer with media type '{selector.media_type}' in OCI "
                      "artifact")
        return manifest.layers[0].digest

    async def _store(self, state: State[OCIRepository], revision: str, manifest: Manifest,
                     blob: bytes) -> None:
        obj, status, gen = state.obj, state.obj.status, state.generation
        hexdigest = revision.rsplit(":", 1)[-1]
        selector = obj.spec.layer_selector
        copy = selector is not None and selector.operation == "copy"
        try:
            if copy:
                stored = await store_file(self.storage, KIND, obj.namespace, obj.name,
                                          f"{hexdigest}.tgz", blob, revision, manifest.annotations)
            else:
                stored = await self._extract_and_archive(state, hexdigest, revision, blob)
                if manifest.annotations:
                    stored = dataclasses.replace(stored, metadata=dict(manifest.annotations))
            status.url = await link(self.storage, stored.path, "latest.tar.gz")
        except SourceError as exc:
            self.fail(state, STORAGE_OPERATION_FAILED, exc.reason,
                      f"unable to archive artifact to storage: {exc.message}")
        status.artifact = Artifact.from_dict(stored.to_status())
        status.observed_ignore = obj.spec.ignore
        status.observed_layer_selector = selector.copy() if selector is not None else None
        conditions.delete(status, ARTIFACT_OUTDATED)
        conditions.delete(status, STORAGE_OPERATION_FAILED)
        conditions.mark_true(status, ARTIFACT_IN_STORAGE, "Succeeded",
                             READY_MESSAGE.format(revision=revision), gen)
        event = f"stored artifact with revision '{revision}' from '{obj.spec.url}'"
        if SOURCE_ANNOTATION in manifest.annotations:
            event += f", origin source '{manifest.annotations[SOURCE_ANNOTATION]}'"
        if REVISION_ANNOTATION in manifest.annotations:
            event += f", origin revision '{manifest.annotations[REVISION_ANNOTATION]}'"
        log.info("%s %s/%s: %s", KIND, obj.namespace, obj.name, event)
        await self.recorder.normal(obj.to_dict(), "NewArtifact", event, self.event_metadata(obj))
        await self.collect(obj, stored.path)

    async def _extract_and_archive(self, state: State[OCIRepository], hexdigest: str,
                                   revision: str, blob: bytes) -> StoredArtifact:
        obj = state.obj
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sluice-ocirepo-"))
        try:
            try:
                await asyncio.to_thread(extract, io.BytesIO(blob), workdir / "src")
            except SourceError as exc:
                self.fail(state, FETCH_FAILED, OCI_LAYER_OPERATION_FAILED,
                          f"failed to extract layer contents from artifact: {exc.message}")

            def build() -> StoredArtifact:
                rules = load_ignore_rules(workdir / "src", obj.spec.ignore)
                return self.storage.archive_sync(KIND, obj.namespace, obj.name,
                                                 f"{hexdigest}.tar.gz", workdir / "src",
                                                 revision, rules)

            return await asyncio.to_thread(build)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)


async def setup_ocirepository_controller(manager: Manager, storage: Storage, *,
                                         concurrent: int | None = None) -> Controller:
    """Register the OCIRepository controller on ``manager``."""
    informer = await manager.informer(API_VERSION, KIND)
    patcher = StatusPatcher(manager.objects, informer.mapping, COMPONENT)
    reconciler = OCIRepositoryReconciler(informer, manager.objects, storage,
                                         manager.event_recorder(COMPONENT), patcher)
    controller = Controller(KIND, informer, reconciler,
                            concurrent=concurrent or manager.options.concurrent,
                            metrics=manager.metrics,
                            grace_period=manager.options.graceful_shutdown_timeout)
    manager.add_controller(controller)
    return controller
