"""Bounded worker threads for request work too heavy for the event loop.

The embedded cluster serves every client, the controllers of ``sluice up`` and
``/healthz`` from one event loop. Decoding a 3 MiB YAML body or admitting a
1.5 MiB object takes Python seconds; done on the loop, it froze every other
client for as long (issue 15: 21.8 s of ``/healthz`` silence for one body).
Such work runs here instead, on a small fixed pool, so a flood of big bodies
queues behind the pool rather than multiplying threads. The loop keeps
running meanwhile: pure-Python work gives up the GIL every switch interval.
Python's cyclic garbage collector does not: decoding a body of a million
nodes triggers full collections that walk the whole heap with the GIL held
(hundreds of milliseconds each), so collection is paused while any worker
runs and resumed after (reference counting still frees as usual).

Writes (:meth:`Offload.run_write`) run the registry's verbs in a worker, all
the way through defaulting, validation and managedFields, which only read
the store; the store itself is touched on the loop alone: the registry
passes its final step to :func:`on_loop`, which hands it to the loop and
waits. That step checks the object is still the one the worker read; if a
loop-side writer (a controller, a small request) changed it meanwhile, it
raises :class:`Stale` and the worker admits the write again from the new
state. After a few stale rounds the write runs on the loop, where it cannot
be overtaken.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

WORKERS = 2
STALE_RETRIES = 3
# A worker waits this long for the loop to run its commit (only a loop being torn down
# takes anywhere near it).
COMMIT_TIMEOUT = 60.0

_local = threading.local()
_GAVE_UP = object()
_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


def _without_gc(fn: Callable[[], T]) -> T:
    """Run ``fn`` with the cyclic collector paused (counted across concurrent workers)."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        return fn()
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


class Stale(Exception):
    """The object changed between a worker's read and its commit: admit the write again."""


def on_loop(fn: Callable[[], T]) -> T:
    """Run ``fn`` on the event loop: at once when called there, else hand it over and wait."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None:
        return fn()
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(fn())
        except BaseException as exc:  # delivered to the worker, which re-raises it
            done.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return done.result(timeout=COMMIT_TIMEOUT)


class Offload:
    """A fixed pool of worker threads, awaited from the event loop."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sluice-api-work")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, _without_gc, functools.partial(fn, *args, **kwargs))

    async def run_write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a registry write in a worker, its commit on this loop (see :func:`on_loop`)."""
        loop = asyncio.get_running_loop()

        def work() -> Any:
            _local.loop = loop
            try:
                for _ in range(STALE_RETRIES):
                    try:
                        return fn(*args)
                    except Stale:
                        continue
                return _GAVE_UP
            finally:
                _local.loop = None

        result = await self.run(work)
        if result is _GAVE_UP:
            return fn(*args)
        out: T = result
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
