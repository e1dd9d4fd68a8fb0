"""Git operations that outlive one reconcile pass, so a slow remote holds no reconcile worker.

A controller has a few reconcile workers (``--concurrent``) shared by all
its objects. If a reconcile awaited a remote that never answers until
``spec.timeout``, twenty such objects would keep every worker busy and an
unrelated, healthy GitRepository would wait minutes for its turn (Flux
behaves like that). Instead the reconciler starts each Git operation as a
background job of its object and waits for it only `share` seconds (none at
all for an object whose last operation timed out):

* done in time: the reconcile carries on with the result, as before;
* not yet: `run` raises `Pending`; the reconciler ends the pass without
  touching the outcome (no ``lastHandledReconcileAt``, no event) and frees
  its worker. When the job ends, its object is queued again, and that pass
  picks the result up (or the failure, reported as usual).

A job is identified by the inputs that shape it (`fingerprint`: URL, ref,
credentials, options); a pass with other inputs (the spec changed) cancels
the old job, whose worker process the Git pool kills. Jobs of a deleted
object are cancelled, and any result they left (a checkout directory) is
cleaned up with `discard`. Results nobody comes back for are cleaned up the
same way when replaced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sluice.runtime.reconciler import Request

__all__ = ["DEFAULT_SHARE", "BackgroundFetches", "Pending"]

log = logging.getLogger("sluice.controllers.source.fetches")

DEFAULT_SHARE = 0.2
_T = TypeVar("_T")


class Pending(Exception):
    """The object's Git operation is still running; it is queued again when it ends."""


@dataclass
class _Job(Generic[_T]):
    fingerprint: Hashable
    task: asyncio.Task[_T]
    cleanup: Callable[[_T], Awaitable[None]] | None
    watched: bool = False


class BackgroundFetches:
    """Per-object background Git jobs (see the module docs)."""

    def __init__(self, share: float = DEFAULT_SHARE) -> None:
        self.share = share
        # Set by the controller wiring: queues the object again.
        self.requeue: Callable[[Request], None] = lambda request: None
        self._jobs: dict[tuple[Request, str], _Job[Any]] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    async def run(self, request: Request, step: str, fingerprint: Hashable,
                  start: Callable[[], Awaitable[_T]], *, impatient: bool = False,
                  cleanup: Callable[[_T], Awaitable[None]] | None = None) -> _T:
        """The result of `start()` for this object and step, or `Pending`.

        `impatient` (the object's last operation hung) waits not at all.
        """
        key = (request, step)
        job = self._jobs.get(key)
        if job is not None and job.fingerprint != fingerprint:
            await self._drop(key)
            job = None
        if job is None:
            job = _Job(fingerprint, asyncio.ensure_future(start()), cleanup)
            self._jobs[key] = job
        if not job.task.done():
            wait = 0.0 if impatient else self.share
            if wait > 0:
                await asyncio.wait({job.task}, timeout=wait)
            if not job.task.done():
                if not job.watched:
                    job.watched = True
                    job.task.add_done_callback(lambda _task: self.requeue(request))
                raise Pending(f"{step} still running")
        del self._jobs[key]
        result: _T = job.task.result()
        return result

    async def discard(self, request: Request) -> None:
        """Cancel the object's jobs and clean up what they left (the object is gone)."""
        for key in [k for k in self._jobs if k[0] == request]:
            await self._drop(key)

    async def _drop(self, key: tuple[Request, str]) -> None:
        job = self._jobs.pop(key)
        if not job.task.done():
            job.task.cancel()
            await asyncio.wait({job.task})  # its worker process is killed meanwhile
            return
        if job.task.cancelled() or job.task.exception() is not None:
            return
        if job.cleanup is not None:
            try:
                await job.cleanup(job.task.result())
            except Exception:  # housekeeping only
                log.warning("%s: cleaning up an abandoned %s failed", key[0], key[1],
                            exc_info=True)
