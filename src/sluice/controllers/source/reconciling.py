"""The reconcile skeleton HelmRepository, HelmChart and OCIRepository share.

source-controller runs the same outer loop for every source kind; only the
steps differ. `SourceReconciler.reconcile` is that loop:

1. object gone -> nothing; deleted -> remove its stored artifacts, then the
   ``finalizers.fluxcd.io`` finalizer;
2. add the finalizer; when ``spec.suspend``, acknowledge a pending
   ``requestedAt`` and stop;
3. new generation -> ``Reconciling=True NewGeneration``;
4. the kind's steps (`SourceReconciler.steps`), which raise `StepFailed`
   after writing the failing condition (FetchFailed, BuildFailed, ...), or
   `TerminalError` after marking Stalled;
5. Ready summarised from the kind's conditions (``ready_from``),
   ``observedGeneration`` when Ready or Stalled, ``lastHandledReconcileAt``
   in this final write, status written, a Warning event for a failure (with
   the artifact revision annotation), requeue after ``spec.interval``.

The GitRepository reconciler predates this module and keeps its own loop (it
belongs to the Git transport work), sharing only the storage step
(`reconcile_storage`); new kinds use this one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Generic, NoReturn, TypeVar

from sluice.api.meta import RECONCILING, STALLED
from sluice.api.resource import Resource
from sluice.api.source import ARTIFACT_IN_STORAGE, FETCH_FAILED, GROUP
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.errors import StorageOperationFailed
from sluice.core.durations import SECOND, DurationError, parse_duration
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Obj, Objects
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

__all__ = ["DIGEST_KEY", "REVISION_KEY", "SourceReconciler", "State", "StepFailed",
           "reconcile_storage", "seconds"]

log = logging.getLogger("sluice.controllers.source")

REVISION_KEY = f"{GROUP}/revision"
DIGEST_KEY = f"{GROUP}/digest"

R = TypeVar("R", bound=Resource)


def seconds(text: str | None, default: str) -> float:
    try:
        return parse_duration(text or default) / SECOND
    except DurationError:
        return parse_duration(default) / SECOND


async def reconcile_storage(storage: Storage, kind: str, retention: int, obj: Any, gen: int | None,
                            ready_message: str) -> bool:
    """source-controller's reconcileStorage, the first step of every source kind.

    Collects old artifacts (a failure there is only logged: it is housekeeping),
    notices an artifact that vanished from storage and refreshes the artifact's URL
    (the artifact server's address may have changed since it was stored). Returns
    False when there is no artifact: the status then says ``building artifact`` and
    the caller writes it before fetching.
    """
    status = obj.status
    art = status.artifact
    try:
        await asyncio.to_thread(storage.garbage_collect, kind, obj.namespace, obj.name,
                                keep=retention, current=art.path if art else None)
    except StorageOperationFailed as exc:
        log.warning("%s %s/%s: %s", kind, obj.namespace, obj.name, exc)
    missing = art is not None and not storage.exists(art.path)
    if missing:
        status.artifact = None
    if status.artifact is None:
        message = "building artifact" + (": disappeared from storage" if missing else "")
        conditions.mark_progressing(status, "Progressing", message, gen, overwrite_ready=True)
        conditions.delete(status, ARTIFACT_IN_STORAGE)
        return False
    status.artifact.url = storage.url_for(status.artifact.path)
    conditions.mark_true(status, ARTIFACT_IN_STORAGE, "Succeeded",
                         ready_message.format(revision=status.artifact.revision), gen)
    return True


class StepFailed(Exception):
    """A failed step, already written to the conditions; ``reason`` goes to the event."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


class State(Generic[R]):
    """One reconcile's object plus the status as last written."""

    def __init__(self, obj: R) -> None:
        self.obj = obj
        self.written: dict[str, Any] = obj.status.to_dict()  # type: ignore[attr-defined]
        self.generation = obj.metadata.generation

    @property
    def status(self) -> Any:
        return self.obj.status  # type: ignore[attr-defined]


class SourceReconciler(Generic[R]):
    """The outer loop; subclasses set the class attributes and implement `steps`."""

    kind: ClassVar[str]
    model: ClassVar[type[Resource]]
    ready_from: ClassVar[tuple[str, ...]]
    negative_polarity: ClassVar[frozenset[str]]
    default_interval: ClassVar[str] = "1m"
    retention: ClassVar[int] = 2

    def __init__(self, informer: Informer, objects: Objects, storage: Storage,
                 recorder: EventRecorder, patcher: StatusPatcher) -> None:
        self.informer = informer
        self.objects = objects
        self.storage = storage
        self.recorder = recorder
        self.patcher = patcher

    # ------------------------------------------------------------- the loop
    async def reconcile(self, request: Request) -> Result:
        raw = await self.patcher.current(
            request.namespace, request.name, self.informer.get(request.namespace, request.name))
        if raw is None:
            return Result()
        obj: R = self.model.from_dict(raw)  # type: ignore[assignment]
        state = State(obj)
        if is_deleting(obj):
            await self.delete(obj)
            return Result()
        if await self.before_finalizer(state):
            return Result()
        if not has_finalizer(obj):
            await self.patcher.add_finalizer(obj)
        if is_suspended(obj):
            record_reconcile_request(obj)
            await self.write(state)
            log.info("%s %s: reconciliation is suspended for this object", self.kind, request)
            return Result(outcome="suspended")

        failure: BaseException | None = None
        result: Result | None = None
        try:
            if state.status.observed_generation != state.generation:
                conditions.mark_reconciling(
                    state.status, "NewGeneration",
                    f"reconciling new object generation ({state.generation})", state.generation)
                await self.write(state)
            result = await self.steps(state)
        except (StepFailed, TerminalError) as exc:
            failure = exc
        status = state.status
        if failure is None:
            conditions.delete(status, RECONCILING)
        else:
            conditions.mark_retrying(status)
        conditions.summarize(status, self.ready_from, self.negative_polarity, state.generation)
        if conditions.is_ready(status) or conditions.is_true(status, STALLED):
            status.observed_generation = state.generation
        # Acknowledged only with the final status: `flux reconcile` reads Ready
        # as soon as it sees its request handled.
        record_reconcile_request(obj)
        await self.write(state)
        if isinstance(failure, StepFailed):
            await self.recorder.warning(obj.to_dict(), failure.reason, failure.message,
                                        self.event_metadata(obj))
            raise failure
        if isinstance(failure, TerminalError):
            await self.recorder.warning(obj.to_dict(), self.stalled_reason(status), str(failure),
                                        self.event_metadata(obj))
            raise failure
        if result is not None:
            return result
        return Result(requeue_after=seconds(getattr(obj.spec, "interval", None),  # type: ignore[attr-defined]
                                            self.default_interval))

    async def steps(self, state: State[R]) -> Result | None:
        raise NotImplementedError

    async def before_finalizer(self, state: State[R]) -> bool:
        """A hook for kinds that stop before the finalizer (static OCI HelmRepository)."""
        return False

    # -------------------------------------------------------------- helpers
    async def write(self, state: State[R]) -> None:
        await self.patcher.patch_status(state.obj, state.written)
        state.written = state.status.to_dict()

    @staticmethod
    def stalled_reason(status: Any) -> str:
        cond = status.condition(STALLED)
        return str(cond.reason) if cond is not None else "Stalled"

    @staticmethod
    def event_metadata(obj: Resource) -> dict[str, str]:
        art = getattr(obj.status, "artifact", None)  # type: ignore[attr-defined]
        if art is None:
            return {}
        out = {REVISION_KEY: art.revision}
        if art.digest:
            out[DIGEST_KEY] = art.digest
        return out

    def fail(self, state: State[R], condition: str, reason: str, message: str) -> NoReturn:
        conditions.mark_true(state.status, condition, reason, message, state.generation)
        raise StepFailed(reason, message)

    def stall(self, state: State[R], condition: str, reason: str, message: str) -> NoReturn:
        conditions.mark_true(state.status, condition, reason, message, state.generation)
        conditions.mark_stalled(state.status, reason, message, state.generation)
        raise TerminalError(message)

    async def secret(self, state: State[R], name: str, condition: str = FETCH_FAILED,
                     reason: str = "AuthenticationFailed", what: str = "secret") -> Obj:
        obj = state.obj
        mapping = await self.objects.mapping("v1", "Secret")
        try:
            return await self.objects.get(mapping, name, obj.namespace)
        except KubeError as exc:
            detail = f'secrets "{name}" not found' if is_not_found(exc) else exc.message
            self.fail(state, condition, reason,
                      f"failed to get {what} '{obj.namespace}/{name}': {detail}")

    async def storage_step(self, state: State[R], ready_message: str) -> None:
        """Collect old artifacts, notice a vanished one, refresh its URL."""
        if not await reconcile_storage(self.storage, self.kind, self.retention, state.obj,
                                       state.generation, ready_message):
            await self.write(state)

    async def collect(self, obj: R, current: str) -> None:
        try:
            await asyncio.to_thread(self.storage.garbage_collect, self.kind, obj.namespace,
                                    obj.name, keep=self.retention, current=current)
        except StorageOperationFailed as exc:
            log.warning("%s %s/%s: %s", self.kind, obj.namespace, obj.name, exc)

    async def delete(self, obj: R) -> None:
        try:
            removed = await asyncio.to_thread(self.storage.remove_all, self.kind, obj.namespace,
                                              obj.name)
        except StorageOperationFailed as exc:
            raise StepFailed(exc.reason, f"garbage collection for deleted resource failed: "
                             f"{exc.message}") from None
        if removed:
            await self.recorder.trace(obj.to_dict(), "GarbageCollectionSucceeded",
                                      "garbage collected artifacts for deleted resource")
        if has_finalizer(obj):
            try:
                await self.patcher.remove_finalizer(obj)
            except KubeError as exc:
                if not is_not_found(exc):
                    raise
