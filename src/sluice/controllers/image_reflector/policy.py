"""The ImagePolicy reconciler: the latest tag of an ImageRepository, by policy, in status.

Flux's steps, in order:

1. deleted -> remove the finalizer; add it otherwise; ``spec.suspend`` stops;
2. ``digestReflectionPolicy: Always`` without ``interval``: Stalled
   ``IntervalNotConfigured`` (the CRD refuses it too; kept for old objects);
3. ``Reconciling`` (``processing object: new generation <a> -> <b>``);
4. the referenced ImageRepository (same namespace unless
   ``imageRepositoryRef.namespace``; cross-namespace needs its ``accessFrom``):
   missing is ``DependencyNotReady``, refused is ``AccessDenied``, both
   retried; an unparsable image stalls with ``ImageURLInvalid``;
5. the repository's stored tags through ``filterTags`` and the policy
   (`policies`): an unusable policy stalls with ``InvalidPolicy``; no tags
   yet is ``DependencyNotReady`` ``no tags in database`` (retried after
   ``requeue_dependency``; the repository's next scan re-triggers it anyway);
   a tag the numerical policy cannot parse is ``Failure``, retried;
6. ``latestRef`` = ``{name: <spec.image>, tag, digest?}`` (the digest
   fetched with the repository's credentials as ``digestReflectionPolicy``
   says); when it differs from the last one, the last one moves to
   ``observedPreviousRef``;
7. Ready ``Latest image tag for <name> resolved to <tag>[ with digest
   <d>][ (previously <name>:<tag>[@<d>])]`` and its event when it changes
   (what alerts forward); requeue after ``interval`` only with ``Always``.

Policies run on their own spec changes and when their repository's
``lastScanResult.revision`` changes (`requests_for_repository`), never on a
timer otherwise, as in Flux.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from sluice.api.image import (
    GROUP,
    INTERVAL_NOT_CONFIGURED,
    REFLECT_ALWAYS,
    REFLECT_IF_NOT_PRESENT,
    ImagePolicy,
    ImageRef,
    ImageRepository,
)
from sluice.api.meta import PROGRESSING, STALLED
from sluice.controllers.image_reflector.access import check_access
from sluice.controllers.image_reflector.auth import client_options
from sluice.controllers.image_reflector.errors import (
    AccessDenied,
    AuthOptionsFailed,
    DependencyFailed,
    ImageURLInvalid,
    InvalidPolicy,
    PolicyFailed,
    ReflectorError,
)
from sluice.controllers.image_reflector.outcome import finish, notify
from sluice.controllers.image_reflector.policies import PolicyError, SpecError, latest_tag
from sluice.controllers.image_reflector.tagstore import TagStore
from sluice.core.deadlines import call_deadline
from sluice.core.durations import SECOND, DurationError, parse_duration
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Obj, Objects
from sluice.oci.client import RegistryClient
from sluice.oci.errors import InvalidReference, OCIError
from sluice.oci.names import parse_image
from sluice.runtime import conditions
from sluice.runtime.informer import Informer
from sluice.runtime.reconciler import Request, Result, TerminalError
from sluice.runtime.status import (
    StatusPatcher,
    has_finalizer,
    is_deleting,
    is_suspended,
    record_reconcile_request,
)

__all__ = ["KIND", "REPOSITORY_INDEX", "ImagePolicyReconciler", "ready_message",
           "repository_keys"]

log = logging.getLogger("sluice.controllers.image_reflector.policy")

KIND = "ImagePolicy"
REPOSITORY_INDEX = "imageRepositoryRef"
# image-reflector-controller's --requeue-dependency.
REQUEUE_DEPENDENCY = 30.0
DEFAULT_DIGEST_INTERVAL = 600.0


def repository_keys(obj: Obj) -> Iterable[str]:
    """Index values: ``namespace/name`` of the ImageRepository a policy refers to."""
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    ref = (obj.get("spec") or {}).get("imageRepositoryRef") or {}
    if ref.get("name"):
        yield f"{ref.get('namespace') or ns}/{ref['name']}"


def ready_message(obj: ImagePolicy) -> str:
    latest = obj.status.latest_ref
    assert latest is not None
    text = f"Latest image tag for {latest.name} resolved to {latest.tag}"
    if latest.digest:
        text += f" with digest {latest.digest}"
    prev = obj.status.observed_previous_ref
    if prev is not None and prev.to_dict() != latest.to_dict():
        text += f" (previously {prev.name}:{prev.tag}"
        if prev.digest:
            text += f"@{prev.digest}"
        text += ")"
    return text


def _revision(obj: Obj | None) -> str | None:
    result = ((obj or {}).get("status") or {}).get("lastScanResult")
    return None if not isinstance(result, dict) else str(result.get("revision") or "")


class ImagePolicyReconciler:
    def __init__(self, informer: Informer, repositories: Informer, objects: Objects,
                 store: TagStore, recorder: EventRecorder, patcher: StatusPatcher, *,
                 no_cross_namespace_refs: bool = False,
                 requeue_dependency: float = REQUEUE_DEPENDENCY) -> None:
        self.informer = informer
        self.repositories = repositories
        self.objects = objects
        self.store = store
        self.recorder = recorder
        self.patcher = patcher
        self.no_cross_namespace_refs = no_cross_namespace_refs
        self.requeue_dependency = requeue_dependency

    def requests_for_repository(self, etype: str, old: Obj | None, new: Obj) -> list[Request]:
        """Policies of a repository whose scan revision changed (or that came or went)."""
        if etype == "MODIFIED":
            if _revision(new) is None or _revision(old) == _revision(new):
                return []
        meta = new.get("metadata") or {}
        key = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        return [Request(str((p.get("metadata") or {}).get("namespace") or ""),
                        str((p.get("metadata") or {}).get("name") or ""))
                for p in self.informer.by_index(REPOSITORY_INDEX, key)]

    async def reconcile(self, request: Request) -> Result:
        raw = self.informer.get(request.namespace, request.name)
        if raw is None:
            return Result()
        obj = ImagePolicy.from_dict(raw)
        if is_deleting(obj):
            if has_finalizer(obj):
                try:
                    await self.patcher.remove_finalizer(obj)
                except KubeError as exc:
                    if not is_not_found(exc):
                        raise
            return Result()
        if not has_finalizer(obj):
            await self.patcher.add_finalizer(obj)
        before = obj.status.to_dict()
        if is_suspended(obj):
            record_reconcile_request(obj)
            await self.patcher.patch_status(obj, before)
            log.info("%s %s: reconciliation is suspended for this object", KIND, request)
            return Result(outcome="suspended")
        status, gen = obj.status, obj.metadata.generation
        written = before
        failure: ReflectorError | None = None
        dependency_wait = False
        always = obj.digest_reflection_policy() == REFLECT_ALWAYS
        interval = self._interval(obj) if always else None
        try:
            if always and not obj.spec.interval:
                failure = _Stall(INTERVAL_NOT_CONFIGURED, "spec.interval must be set when "
                                 "spec.digestReflectionPolicy is set to 'Always'")
                raise failure
            conditions.mark_progressing(status, PROGRESSING, "reconciliation in progress", gen)
            if gen != status.observed_generation:
                conditions.mark_progressing(
                    status, PROGRESSING,
                    f"processing object: new generation {status.observed_generation} -> {gen}",
                    gen)
                await self.patcher.patch_status(obj, written)
                written = status.to_dict()
            repo = await self._repository(obj)
            try:
                parse_image(repo.spec.image, insecure=bool(repo.spec.insecure))
            except InvalidReference as exc:
                raise ImageURLInvalid(str(exc)) from None
            conditions.delete(status, STALLED)
            tags = await asyncio.to_thread(self.store.read, repo.namespace, repo.name)
            if not tags:
                dependency_wait = True
                raise DependencyFailed("no tags in database")
            try:
                latest = latest_tag(obj.spec.policy, obj.spec.filter_tags, tags)
            except SpecError as exc:
                raise InvalidPolicy(str(exc)) from None
            except PolicyError as exc:
                raise PolicyFailed(str(exc)) from None
            await self._update_refs(obj, repo, latest)
        except ReflectorError as exc:
            failure = exc
        finish(status, gen, failure, ready_message(obj) if failure is None else "")
        record_reconcile_request(obj)
        await self.patcher.patch_status(obj, written)
        trace = ready_message(obj) if failure is None else ""
        await notify(self.recorder, log, obj.to_dict(), before, status, trace)
        if failure is not None:
            if failure.stalls:
                raise TerminalError(failure.message)
            if dependency_wait:
                return Result(requeue_after=self.requeue_dependency, outcome="dependency")
            raise failure
        return Result(requeue_after=interval)

    @staticmethod
    def _interval(obj: ImagePolicy) -> float:
        try:
            return parse_duration(obj.spec.interval or "10m") / SECOND
        except DurationError:
            return DEFAULT_DIGEST_INTERVAL

    async def _repository(self, obj: ImagePolicy) -> ImageRepository:
        ref = obj.spec.image_repository_ref
        ns = ref.namespace or obj.namespace
        prefix = "failed to get the referred ImageRepository: "
        if self.no_cross_namespace_refs and ns != obj.namespace:
            raise AccessDenied(f"{prefix}cannot access 'ImageRepository/{ns}/{ref.name}', "
                               "cross-namespace references have been blocked")
        raw = self.repositories.get(ns, ref.name)
        if raw is None:
            raise DependencyFailed(f"{prefix}referenced ImageRepository does not exist: "
                                   f'imagerepositories.{GROUP} "{ref.name}" not found')
        repo = ImageRepository.from_dict(raw)
        try:
            await check_access(self.objects, obj.namespace, ns, ref.name, repo.spec.access_from)
        except AccessDenied as exc:
            raise AccessDenied(prefix + exc.message) from None
        return repo

    async def _update_refs(self, obj: ImagePolicy, repo: ImageRepository, tag: str) -> None:
        status = obj.status
        latest = ImageRef(name=repo.spec.image, tag=tag)
        current = status.latest_ref
        policy = obj.digest_reflection_policy()
        fetch = policy == REFLECT_ALWAYS
        if policy == REFLECT_IF_NOT_PRESENT:
            fetch = (current is None or current.name != latest.name or current.tag != latest.tag
                     or not current.digest)
            if not fetch and current is not None:
                latest.digest = current.digest
        if fetch:
            latest.digest = await self._digest(obj, repo, tag)
        if current is None or current.to_dict() != latest.to_dict():
            status.observed_previous_ref = current
            status.latest_ref = latest

    async def _digest(self, obj: ImagePolicy, repo: ImageRepository, tag: str) -> str:
        ref = f"{repo.spec.image}:{tag}"
        prefix = f"failed fetching digest of {ref}: "
        registry = parse_image(repo.spec.image, insecure=bool(repo.spec.insecure))
        timeout = 60.0
        try:
            opts = await client_options(self.objects, repo, registry, timeout)
        except AuthOptionsFailed as exc:
            raise PolicyFailed(f"{prefix}failed to configure authentication options: "
                               f"{exc}") from None
        try:
            async with call_deadline(timeout), \
                    RegistryClient(registry, opts) as client:
                return await client.head_digest(tag)
        except TimeoutError:
            raise PolicyFailed(f"{prefix}failed fetching descriptor for \"{registry}:{tag}\": "
                               "context deadline exceeded") from None
        except OCIError as exc:
            raise PolicyFailed(f"{prefix}failed fetching descriptor for \"{registry}:{tag}\": "
                               f"{exc}") from None


class _Stall(ReflectorError):
    stalls = True

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
