"""The work queue: dedup, per-object serialisation, delays, backoff and jitter."""

from __future__ import annotations

import asyncio
import random

import pytest

from sluice.runtime.workqueue import (
    ExponentialBackoff,
    QueueShutDown,
    WorkQueue,
    jittered,
)


def test_backoff_doubles_from_750ms_and_caps_at_15_minutes() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff()
    delays = [backoff.when("a") for _ in range(14)]
    assert delays[:5] == [0.75, 1.5, 3.0, 6.0, 12.0]
    assert delays[-1] == 900.0
    assert all(d <= 900.0 for d in delays)
    assert delays == sorted(delays)
    # Keys are independent, and forgetting resets the count.
    assert backoff.when("b") == 0.75
    backoff.forget("a")
    assert backoff.when("a") == 0.75


def test_backoff_survives_huge_failure_counts() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff()
    for _ in range(2000):
        delay = backoff.when("k")
    assert delay == 900.0


def test_jitter_stays_within_five_percent_and_spreads_both_ways() -> None:
    rng = random.Random(7)
    values = [jittered(60.0, rng=rng) for _ in range(500)]
    assert all(57.0 <= v <= 63.0 for v in values)
    assert min(values) < 58.5 and max(values) > 61.5
    assert jittered(0.0) == 0.0


async def test_a_key_is_queued_once_however_many_adds() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_a_key_in_progress_is_never_handed_out_twice() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    first = await q.get()
    q.add("a")  # an event arrives while "a" is being reconciled
    assert len(q) == 0 and q.is_processing("a")
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.done(first)  # now it is queued again, once
    assert await asyncio.wait_for(waiter, 1) == "a"
    q.done("a")
    assert len(q) == 0


async def test_add_after_delays_and_the_earlier_deadline_wins() -> None:
    loop = asyncio.get_running_loop()
    q: WorkQueue[str] = WorkQueue()
    start = loop.time()
    q.add_after("a", 30.0)
    q.add_after("a", 0.05)  # earlier: replaces the 30 s timer
    q.add_after("a", 10.0)  # later: ignored
    delay = q.pending_delay("a")
    assert delay is not None and delay <= 0.05
    assert await asyncio.wait_for(q.get(), 2) == "a"
    assert loop.time() - start >= 0.045
    assert q.pending_delay("a") is None


async def test_a_pass_that_starts_drops_the_retry_an_earlier_pass_asked_for() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 30.0)  # "retry in 30 s" from a pass that found no artifact yet
    q.add("a")  # the artifact arrives: an event starts the next pass now
    assert await q.get() == "a"
    assert q.pending_delay("a") is None  # no second pass once this one is done
    q.add_after("a", 60.0)  # what the running pass asks for itself stays
    q.done("a")
    assert len(q) == 0 and q.pending_delay("a") is not None


async def test_rate_limited_adds_back_off_until_forgotten() -> None:
    q: WorkQueue[str] = WorkQueue(ExponentialBackoff(min_delay=0.01, max_delay=1.0))
    assert q.add_rate_limited("a") == 0.01
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    assert q.add_rate_limited("a") == 0.02
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    q.forget("a")
    assert q.add_rate_limited("a") == 0.01


async def test_shutdown_wakes_waiting_workers_and_cancels_timers() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 60)
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(QueueShutDown):
        await asyncio.wait_for(waiter, 1)
    assert q.pending_delay("a") is None
    q.add("b")
    assert len(q) == 0
