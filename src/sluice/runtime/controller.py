"""A controller: one kind's informer events feeding a work queue drained by reconcile workers.

This is the loop every Sluice controller runs (the manager starts it):

1. the primary informer's events pass a *predicate* before queuing a
   `Request`. As with Flux's ``GenerationChangedPredicate`` +
   ``ReconcileRequestedPredicate``, a MODIFIED event counts only when the
   spec changed (``metadata.generation``), ``reconcile.fluxcd.io/requestedAt``
   changed or deletion started: the controller's own status writes do not
   trigger reconciles;
2. *dependency watches* (`Controller.watch`) map changes of other objects
   (an included GitRepository got a new artifact, a Secret changed) to
   requests for the objects depending on them, queued at once;
3. ``concurrent`` workers take requests from the `WorkQueue` (never two for
   the same object), call the `Reconciler`, and requeue: after
   ``requeue_after`` ±5 % on success, with exponential backoff on errors;
4. each outcome is one log line and a metrics sample; the object's Ready
   condition and suspend flag are mirrored into ``gotk_reconcile_condition``
   and ``gotk_suspend_status`` from the informer's view.

Stopping lets in-flight reconciles finish within a grace period, then
cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from sluice.api.meta import READY, RECONCILE_REQUEST_ANNOTATION
from sluice.core.durations import SECOND, format_duration
from sluice.kube.objects import Obj
from sluice.runtime.informer import ADDED, DELETED, Informer, object_key
from sluice.runtime.metrics import ControllerMetrics
from sluice.runtime.reconciler import Reconciler, Request, Result, TerminalError
from sluice.runtime.workqueue import (
    DEFAULT_JITTER,
    ExponentialBackoff,
    QueueShutDown,
    WorkQueue,
    jittered,
)

__all__ = ["Controller", "MapFunc", "Predicate", "spec_or_request_changed"]

log = logging.getLogger("sluice.runtime.controller")

Predicate = Callable[[str, Obj | None, Obj], bool]
MapFunc = Callable[[str, Obj | None, Obj], Iterable[Request]]


def _meta(obj: Obj | None) -> dict[str, object]:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def spec_or_request_changed(etype: str, old: Obj | None, new: Obj) -> bool:
    """Flux's default event filter (see the module docs)."""
    if etype != "MODIFIED" or old is None:
        return True
    before, after = _meta(old), _meta(new)
    if before.get("generation") != after.get("generation"):
        return True
    if bool(before.get("deletionTimestamp")) != bool(after.get("deletionTimestamp")):
        return True
    ann_before = before.get("annotations") or {}
    ann_after = after.get("annotations") or {}
    assert isinstance(ann_before, dict) and isinstance(ann_after, dict)
    return ann_before.get(RECONCILE_REQUEST_ANNOTATION) != ann_after.get(
        RECONCILE_REQUEST_ANNOTATION)


def _ready_status(obj: Obj) -> str | None:
    status = obj.get("status")
    if not isinstance(status, dict):
        return None
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == READY:
            return str(cond.get("status") or "Unknown")
    return None


class Controller:
    """Reconciles one kind with ``concurrent`` workers."""

    def __init__(self, kind: str, informer: Informer, reconciler: Reconciler, *,
                 concurrent: int = 2, metrics: ControllerMetrics | None = None,
                 predicate: Predicate = spec_or_request_changed,
                 backoff: ExponentialBackoff[Request] | None = None,
                 jitter: float = DEFAULT_JITTER, grace_period: float = 30.0) -> None:
        self.kind = kind
        self.informer = informer
        self.reconciler = reconciler
        self.concurrent = max(1, concurrent)
        self.metrics = metrics or ControllerMetrics()
        self.predicate = predicate
        self.jitter = jitter
        self.grace_period = grace_period
        self.queue: WorkQueue[Request] = WorkQueue(backoff, name=kind)
        self._dependencies: list[Informer] = []
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.metrics.queue_depth.collect_with(lambda: [((self.kind,), float(len(self.queue)))])
        informer.add_handler(self._on_primary)

    # -------------------------------------------------------------- wiring
    def watch(self, informer: Informer, map_fn: MapFunc) -> None:
        """Queue ``map_fn``'s requests immediately whenever ``informer`` reports a change."""
        self._dependencies.append(informer)

        def handler(etype: str, old: Obj | None, new: Obj) -> None:
            for req in map_fn(etype, old, new):
                self.queue.add(req)

        informer.add_handler(handler)

    def _on_primary(self, etype: str, old: Obj | None, new: Obj) -> None:
        ns, name = object_key(new)
        if etype == DELETED:
            self.metrics.record_condition(self.kind, name, ns, READY, None)
            self.metrics.suspend.remove(self.kind, name, ns)
        else:
            ready = _ready_status(new)
            if ready is not None:
                self.metrics.record_condition(self.kind, name, ns, READY, ready)
            spec = new.get("spec")
            suspended = bool(spec.get("suspend")) if isinstance(spec, dict) else False
            self.metrics.record_suspend(self.kind, name, ns, suspended)
        if etype == DELETED:
            # The finalizer path already ran; drop pending retries.
            self.queue.cancel_delayed(Request(ns, name))
            self.queue.forget(Request(ns, name))
            return
        if etype == ADDED or self.predicate(etype, old, new):
            self.queue.add(Request(ns, name))

    # ------------------------------------------------------------- running
    async def run(self) -> None:
        """Wait for the caches, then reconcile until cancelled or `stop` is called."""
        await self.informer.wait_synced()
        for dep in self._dependencies:
            await dep.wait_synced()
        self._workers = [asyncio.create_task(self._worker(), name=f"{self.kind}-worker-{i}")
                         for i in range(self.concurrent)]
        try:
            await asyncio.gather(*self._workers)
        finally:
            for task in self._workers:
                task.cancel()
            for task in self._workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def stop(self) -> None:
        """Stop taking work; give in-flight reconciles ``grace_period`` to finish."""
        self.queue.shutdown()
        if self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.grace_period)
        for task in self._workers:
            task.cancel()

    async def _worker(self) -> None:
        while True:
            try:
                req = await self.queue.get()
            except QueueShutDown:
                return
            self._in_flight += 1
            self._idle.clear()
            try:
                await self.process(req)
            except Exception:  # never lose a worker to a bug outside the reconciler
                log.exception("%s %s: processing failed", self.kind, req)
                self.queue.add_rate_limited(req)
            finally:
                self.queue.done(req)
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()

    async def process(self, req: Request) -> None:
        """Run one reconcile and schedule what comes next."""
        started = time.monotonic()
        outcome = "success"
        try:
            result = await self.reconciler.reconcile(req)
        except asyncio.CancelledError:
            raise
        except TerminalError as exc:
            outcome = "error"
            self.queue.forget(req)
            log.error("%s %s reconciliation stalled: %s", self.kind, req, exc,
                      extra=self._extra(req, outcome))
        except Exception as exc:
            outcome = "error"
            delay = self.queue.add_rate_limited(req)
            log.error("%s %s reconciliation failed: %s; retrying in %s", self.kind, req,
                      exc or type(exc).__name__, format_duration(int(delay * SECOND)),
                      extra=self._extra(req, outcome))
            if _is_bug(exc):
                # A programming error, not an expected failure: keep the traceback.
                log.error("%s %s: unexpected error in the reconciler", self.kind, req,
                          exc_info=True)
        else:
            outcome = self._schedule(req, result, time.monotonic() - started)
        elapsed = time.monotonic() - started
        self.metrics.record_reconcile(self.kind, req.name, req.namespace, outcome, elapsed)

    def _extra(self, req: Request, outcome: str, result: Result | None = None,
               elapsed: float | None = None) -> dict[str, object]:
        """Structured fields of the outcome line (rendered by JSON log formatters)."""
        extra: dict[str, object] = {
            "object": {"kind": self.kind, "name": req.name, "namespace": req.namespace},
            "result": outcome}
        if elapsed is not None:
            extra["duration"] = round(elapsed, 6)
        if result is not None and result.revision:
            extra["revision"] = result.revision
        return extra

    def _schedule(self, req: Request, result: Result, elapsed: float) -> str:
        """Queue what comes next and write the reconcile's one outcome line."""
        outcome = result.outcome or "success"
        if result.requeue:
            self.queue.add_rate_limited(req)
            return result.outcome or "requeue"
        self.queue.forget(req)
        took = format_duration(int(elapsed * SECOND))
        said = f": {result.message}" if result.message else ""
        at = f" at {result.revision}" if result.revision else ""
        level = logging.ERROR if outcome == "error" else logging.INFO
        if result.requeue_after is not None and result.requeue_after > 0:
            delay = jittered(result.requeue_after, self.jitter)
            self.queue.add_after(req, delay)
            verb = "failed" if outcome == "error" else "reconciled"
            log.log(level, "%s %s %s in %s%s%s, next run in %s", self.kind, req, verb, took,
                    at, said, format_duration(int(result.requeue_after * SECOND)),
                    extra=self._extra(req, outcome, result, elapsed))
        else:
            log.log(level, "%s %s reconciled in %s%s%s", self.kind, req, took, at, said,
                    extra=self._extra(req, outcome, result, elapsed))
        return outcome


def _is_bug(exc: BaseException) -> bool:
    """Errors that are programming mistakes rather than expected failures."""
    return isinstance(exc, (AttributeError, KeyError, TypeError, IndexError, AssertionError,
                            NameError))
