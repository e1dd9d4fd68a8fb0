"""What one Kustomization reconcile carries from step to step, how a step stops it, and
how its progress reaches the status.

The reconciler (`reconciler`) runs Flux's steps in order; each reads and
updates one `ReconcileState` (the object, its status as last written, the
source revision, the build) and stops the reconcile by raising `StepFailed`
once it has set the Ready condition that says why.

`StatusWriter` writes the status. kustomize-controller patches it at every
step (``Fetching manifests``, ``Building manifests``, ``Running health
checks``, then the outcome): three or four writes per reconcile, each also an
event to every watcher. Here the first progress status of a reconcile is
written at once, so users still see ``Reconciling`` then ``Ready`` as with
Flux; a later step's message is written only if that step is still running
``progress_delay`` seconds later (a health check waiting on a rollout shows
``Running health checks ...``), otherwise the outcome replaces it. A first
apply of 1,000 Kustomizations then costs two status writes each, not three.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx2

from sluice.api.kustomize import Kustomization
from sluice.kube.errors import KubeError
from sluice.kube.objects import Obj
from sluice.runtime.status import StatusPatcher

__all__ = ["ReconcileState", "StatusWriter", "StepFailed"]

log = logging.getLogger("sluice.controllers.kustomization")


class StepFailed(Exception):
    """A failed step; the conditions already say why."""

    def __init__(self, reason: str, message: str, *, event: bool = True,
                 requeue: float | None = None, outcome: str = "error") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.event = event
        self.requeue = requeue
        # "dependency": a wait on something else (a source with no artifact yet), which
        # kustomize-controller logs at info level, not a failure of this object.
        self.outcome = outcome


@dataclass
class ReconcileState:
    raw: Obj
    obj: Kustomization
    written: dict[str, Any] = field(default_factory=dict)
    revision: str = ""
    origin_revision: str = ""
    built: bytes = b""  # the build's objects, packed (`drift.pack`)
    # `StatusWriter`: a progress status was written; the deferred one, if any.
    progress_written: bool = False
    pending: asyncio.Task[None] | None = field(default=None, repr=False)
    writing: bool = False

    @property
    def status(self) -> Any:
        return self.obj.status

    @property
    def generation(self) -> int | None:
        return self.obj.metadata.generation


class StatusWriter:
    """Status writes of one reconcile: the outcome at once, later progress deferred."""

    def __init__(self, patcher: StatusPatcher, progress_delay: float) -> None:
        self.patcher = patcher
        self.progress_delay = progress_delay

    async def write(self, state: ReconcileState) -> None:
        """Write the status now (what a deferred progress write would have said, too)."""
        await self.settle(state)
        await self._write(state)

    async def progress(self, state: ReconcileState) -> None:
        """A step starts: its Reconciling message goes out now if it is the reconcile's
        first, else once the step has lasted ``progress_delay``."""
        if not state.progress_written:
            state.progress_written = True
            await self.write(state)
        elif state.pending is None or state.pending.done():
            state.pending = asyncio.create_task(self._later(state))

    async def settle(self, state: ReconcileState) -> None:
        """Drop a deferred write not started yet; wait for one under way."""
        task, state.pending = state.pending, None
        if task is None:
            return
        if not task.done() and not state.writing:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _later(self, state: ReconcileState) -> None:
        await asyncio.sleep(self.progress_delay)
        state.writing = True
        try:
            await self._write(state)
        except (KubeError, httpx2.HTTPError) as exc:  # the outcome's write reports it
            log.debug("%s/%s: progress status not written: %s", state.obj.namespace,
                      state.obj.name, exc)
        finally:
            state.writing = False

    async def _write(self, state: ReconcileState) -> None:
        await self.patcher.patch_status(state.obj, state.written)
        state.written = state.obj.status.to_dict()
