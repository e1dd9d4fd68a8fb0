"""Bounded delivery: per provider address, a bounded queue and a few sends in flight.

Flux starts one goroutine per (event, matching Alert) and lets them all
race. Done the same way in one event loop, 5,000 events matching 10
Alerts became 50,000 tasks queued on one HTTP connection pool: their
timeouts ran while they waited for a connection, so they failed with
"context deadline exceeded" without ever being sent, and the loop was too
busy to accept the event server's connections. A slow or hanging provider
also held connections every other provider needed.

So each provider *address* (scheme, host and port: never the path, which
for Discord and Slack is the secret) gets a `Lane`:

* its own HTTP client session with at most ``in_flight`` connections, so a
  hanging endpoint only ever holds its own connections;
* at most ``in_flight`` workers, started when work arrives and gone when
  the queue is empty; a notification's timeout (the Provider's
  ``spec.timeout``) starts when a worker takes it, not when it is queued;
* a queue of at most ``queued`` notifications. When it is full, the
  *oldest* waiting notification is dropped (the newest news is the one worth
  sending), counted in `LaneStats.dropped` and reported through
  ``on_drop``: intake never waits for a provider.

Lanes idle for ``idle_close`` seconds are closed (their keep-alive
connections with them) the next time a lane is looked up.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from sluice.controllers.notification.providers.base import new_session

__all__ = ["Job", "Lane", "LaneLimits", "LaneStats", "Lanes", "address_key"]

log = logging.getLogger("sluice.controllers.notification")


@dataclass(frozen=True)
class LaneLimits:
    # Sends in flight per provider address (Flux: unbounded goroutines).
    in_flight: int = 8
    # Notifications waiting per provider address before the oldest are dropped.
    queued: int = 20_000
    idle_close: float = 300.0


@dataclass
class LaneStats:
    queued: int = 0
    sent: int = 0
    dropped: int = 0


@dataclass
class Job:
    """One notification to send: ``run`` gets the lane's client once a slot is taken."""

    run: Callable[[aiohttp.ClientSession], Awaitable[None]]
    # Who to tell when it is dropped: (namespace, name) of the Alert, and the Alert itself.
    alert_key: tuple[str, str]
    alert: Any = None
    provider: str = ""


def address_key(address: str) -> str:
    """``scheme://host:port`` of a provider address; the path and credentials are left out."""
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        return "invalid"
    scheme = (parts.scheme or "https").lower()
    port = port or (80 if scheme == "http" else 443)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


class Lane:
    def __init__(self, key: str, limits: LaneLimits,
                 on_drop: Callable[[Job], None], on_idle: Callable[[Lane], None]) -> None:
        self.key = key
        self.limits = limits
        self.stats = LaneStats()
        self._on_drop = on_drop
        self._on_idle = on_idle
        self._queue: collections.deque[Job] = collections.deque()
        self._workers: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.idle_since = time.monotonic()
        self.client = new_session(limits.in_flight)

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def busy(self) -> bool:
        return bool(self._queue or self._workers)

    def submit(self, job: Job) -> None:
        if len(self._queue) >= self.limits.queued:
            dropped = self._queue.popleft()
            self.stats.dropped += 1
            self._on_drop(dropped)
        self._queue.append(job)
        self.stats.queued += 1
        self._idle.clear()
        if len(self._workers) < self.limits.in_flight:
            task = asyncio.get_running_loop().create_task(self._work(),
                                                          name=f"notify-lane-{self.key}")
            self._workers.add(task)

    async def _work(self) -> None:
        try:
            while self._queue:
                job = self._queue.popleft()
                try:
                    await job.run(self.client)
                except Exception:  # a job reports its own failures; this is a bug
                    log.exception("notification job failed")
                self.stats.sent += 1
        finally:
            self._workers.discard(asyncio.current_task())  # type: ignore[arg-type]
            if not self._workers and not self._queue:
                self.idle_since = time.monotonic()
                self._idle.set()
                self._on_idle(self)

    async def drain(self) -> None:
        await self._idle.wait()

    async def aclose(self) -> None:
        self._queue.clear()
        for task in list(self._workers):
            task.cancel()
        for task in list(self._workers):
            try:
                await task
            except BaseException:  # shutting down; outcomes were already logged
                pass
        await self.client.close()


@dataclass
class Lanes:
    """The lanes by address key; see the module docs."""

    limits: LaneLimits
    on_drop: Callable[[Job], None]
    on_idle: Callable[[Lane], None]
    lanes: dict[str, Lane] = field(default_factory=dict)
    # What lanes closed since counted (so `stats` stays cumulative).
    closed: LaneStats = field(default_factory=LaneStats)

    async def get(self, address: str) -> Lane:
        key = address_key(address)
        lane = self.lanes.get(key)
        if lane is None:
            await self._close_idle()
            lane = self.lanes[key] = Lane(key, self.limits, self.on_drop, self.on_idle)
        return lane

    async def _close_idle(self) -> None:
        now = time.monotonic()
        for key, lane in list(self.lanes.items()):
            if not lane.busy and now - lane.idle_since >= self.limits.idle_close:
                del self.lanes[key]
                self._count_closed(lane)
                await lane.aclose()

    def _count_closed(self, lane: Lane) -> None:
        self.closed.queued += lane.stats.queued
        self.closed.sent += lane.stats.sent
        self.closed.dropped += lane.stats.dropped

    def stats(self) -> LaneStats:
        """Totals since start, over open and closed lanes."""
        total = LaneStats(self.closed.queued, self.closed.sent, self.closed.dropped)
        for lane in self.lanes.values():
            total.queued += lane.stats.queued
            total.sent += lane.stats.sent
            total.dropped += lane.stats.dropped
        return total

    def waiting(self) -> int:
        """Notifications queued now, over every address."""
        return sum(lane.waiting for lane in self.lanes.values())

    async def drain(self) -> None:
        while any(lane.busy for lane in self.lanes.values()):
            for lane in list(self.lanes.values()):
                await lane.drain()

    async def aclose(self) -> None:
        lanes, self.lanes = list(self.lanes.values()), {}
        for lane in lanes:
            await lane.aclose()
