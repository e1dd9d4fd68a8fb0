"""The work queue between watch events and reconcile workers.

It has the semantics controllers rely on (those of client-go's rate-limited
delaying queue, which every Flux controller runs on):

* a key (namespace/name) is queued at most once, however many events arrive;
* a key is never handed to two workers at once: an ``add`` while the key is
  being processed marks it dirty, and it is queued again when the worker
  calls `WorkQueue.done` (per-object serialisation);
* ``add_after`` queues a key after a delay; for a key already waiting, the
  earlier deadline wins (so a short error backoff is never pushed back by a
  long interval requeue, and vice versa);
* a key handed to a worker drops its pending delayed add: that pass decides
  the next run itself. (client-go keeps the timer: a "retry in 1s" left by a
  pass that found no artifact yet fired during the pass an event started, and
  a second full reconcile followed a successful one, showing Ready=Unknown
  right after ``bootstrap`` had reported the sync done);
* ``add_rate_limited`` queues after the key's exponential backoff
  (`ExponentialBackoff`: 750 ms doubling to 15 min, Flux's
  ``--min-retry-delay``/``--max-retry-delay``); ``forget`` resets it after a
  success.

`jittered` spreads interval requeues by ±5 % (Flux's
``--interval-jitter-percentage``) so that objects created together do not
reconcile in lock step forever.

Timers are ``loop.call_at`` handles; nothing polls.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = [
    "DEFAULT_JITTER",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_MIN_DELAY",
    "ExponentialBackoff",
    "QueueShutDown",
    "WorkQueue",
    "jittered",
]

K = TypeVar("K", bound=Hashable)

DEFAULT_MIN_DELAY = 0.75
DEFAULT_MAX_DELAY = 15 * 60.0
DEFAULT_JITTER = 0.05


class QueueShutDown(Exception):
    """Raised by `WorkQueue.get` once the queue is shut down and drained of waiters."""


def jittered(interval: float, fraction: float = DEFAULT_JITTER,
             rng: random.Random | None = None) -> float:
    """``interval`` moved uniformly within ±``fraction`` of itself."""
    if interval <= 0 or fraction <= 0:
        return max(interval, 0.0)
    r = rng.uniform(-fraction, fraction) if rng is not None else random.uniform(-fraction, fraction)
    return interval * (1.0 + r)


class ExponentialBackoff(Generic[K]):
    """Per-key failure counter giving ``min * 2**failures`` capped at ``max``."""

    def __init__(self, min_delay: float = DEFAULT_MIN_DELAY,
                 max_delay: float = DEFAULT_MAX_DELAY) -> None:
        self.min_delay = min_delay
        self.max_delay = max_delay
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """The delay before the next retry of ``key``; counts one more failure."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        # 2**n overflows float range long after the cap; stop doubling early.
        if n > 64:
            return self.max_delay
        return min(self.min_delay * (2.0**n), self.max_delay)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)


class WorkQueue(Generic[K]):
    """A deduplicating, per-key serialising, delaying, rate-limited queue."""

    def __init__(self, backoff: ExponentialBackoff[K] | None = None, name: str = "") -> None:
        self.name = name
        self.backoff: ExponentialBackoff[K] = backoff or ExponentialBackoff()
        self._queue: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shutdown = False

    # ----------------------------------------------------------------- adding
    def add(self, key: K) -> None:
        """Queue ``key`` now (no-op if already queued; deferred if in progress)."""
        if self._shutdown:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending deadline wins."""
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= deadline:
                return
            pending[1].cancel()
        handle = loop.call_at(deadline, self._fire, key)
        self._timers[key] = (deadline, handle)

    def add_rate_limited(self, key: K) -> float:
        """Queue ``key`` after its backoff delay; returns the delay used."""
        delay = self.backoff.when(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (after a successful reconcile)."""
        self.backoff.forget(key)

    def cancel_delayed(self, key: K) -> None:
        """Drop a pending delayed add (the object is gone, or a pass is starting)."""
        pending = self._timers.pop(key, None)
        if pending is not None:
            pending[1].cancel()

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    # -------------------------------------------------------------- consuming
    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def get(self) -> K:
        """The next key to process; the caller must call `done` with it."""
        while not self._queue:
            if self._shutdown:
                raise QueueShutDown()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # Pass the wake-up on if we were woken and cancelled at once.
                if fut.done() and not fut.cancelled():
                    self._wake_one()
                raise
        key = self._queue.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        self.cancel_delayed(key)  # superseded by this pass (see the module docs)
        return key

    def done(self, key: K) -> None:
        """Mark ``key`` processed; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    # ------------------------------------------------------------- inspection
    def __len__(self) -> int:
        return len(self._queue)

    def is_queued(self, key: K) -> bool:
        return key in self._queued

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def pending_delay(self, key: K) -> float | None:
        """Seconds until a delayed add of ``key`` fires, if one is pending."""
        pending = self._timers.get(key)
        if pending is None:
            return None
        return max(0.0, pending[0] - asyncio.get_running_loop().time())

    @property
    def shutting_down(self) -> bool:
        return self._shutdown

    def shutdown(self) -> None:
        """Stop accepting keys, cancel timers and wake every waiting worker."""
        self._shutdown = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._queue.clear()
        self._queued.clear()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
