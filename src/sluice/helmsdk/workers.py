"""Helm SDK calls on bounded threads, with deadlines that free the caller even if Go never returns.

`helm_python` calls block in Go and cannot be interrupted from Python: only
install and upgrade take a cancellable context, and even those can sit in a
hook or a client-go request that ignores it (a silent API server: no
response-header timeout in client-go). A thread stuck there used to hold one
of the few Helm slots for good, so four stuck calls stopped every Helm call of
the process (issue 15).

`call(fn, ..., timeout=)` (`sluice.helmsdk.run` once Helm is loaded) runs ``fn`` on this module's own executor, at most
``SLUICE_HELM_WORKERS`` (4) calls at once per event loop. When `timeout`
passes (or the caller is cancelled) and ``fn`` is still running, the caller
gets `HelmCallAbandoned` at once and the call is *abandoned*: its thread runs
on, counted in `stuck_threads`. While fewer than ``SLUICE_HELM_STUCK_THREADS``
(4) threads are abandoned, the slot is freed at once (the executor has that
many spare threads, so the next call still gets a thread); past that budget
the slot stays taken until the thread returns, so threads stay bounded
(workers + budget) at the price of concurrency. An abandoned call that
finally returns gives its thread back; what it did is not reported.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sluice.helmsdk.errors import HelmCallAbandoned

__all__ = ["call", "stuck_budget", "stuck_threads"]

T = TypeVar("T")

_WORKERS = max(1, int(os.environ.get("SLUICE_HELM_WORKERS", "4")))
_BUDGET = max(0, int(os.environ.get("SLUICE_HELM_STUCK_THREADS", "4")))
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=_WORKERS + _BUDGET,
                                                  thread_name_prefix="sluice-helm")
_LOCK = threading.Lock()
_abandoned = 0
_SEMAPHORE: asyncio.Semaphore | None = None
_SEMAPHORE_LOOP: asyncio.AbstractEventLoop | None = None


def stuck_threads() -> int:
    """Abandoned Helm calls whose threads have not returned yet."""
    return _abandoned


def stuck_budget() -> int:
    return _BUDGET


def _semaphore() -> asyncio.Semaphore:
    global _SEMAPHORE, _SEMAPHORE_LOOP
    loop = asyncio.get_running_loop()
    if _SEMAPHORE is None or _SEMAPHORE_LOOP is not loop:
        _SEMAPHORE = asyncio.Semaphore(_WORKERS)
        _SEMAPHORE_LOOP = loop
    return _SEMAPHORE


async def call(fn: Callable[..., T], *args: Any, timeout: float | None = None,  # noqa: ASYNC109
               what: str = "Helm call", **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on a Helm thread; `HelmCallAbandoned` past `timeout`."""
    semaphore = _semaphore()
    await semaphore.acquire()
    loop = asyncio.get_running_loop()
    try:
        call = _EXECUTOR.submit(functools.partial(fn, *args, **kwargs))
    except BaseException:
        semaphore.release()
        raise
    waited = asyncio.wrap_future(call, loop=loop)
    try:
        done, _ = await asyncio.wait({waited}, timeout=timeout)
    except asyncio.CancelledError:
        _abandon(call, waited, semaphore, loop)
        raise
    if not done:
        stuck = _abandon(call, waited, semaphore, loop)
        raise HelmCallAbandoned(
            f"{what} did not return within {timeout:g}s; its Helm thread is left running "
            f"({stuck} stuck of a budget of {_BUDGET})")
    semaphore.release()
    return waited.result()


def _abandon(call: concurrent.futures.Future[Any], waited: asyncio.Future[Any],
             semaphore: asyncio.Semaphore, loop: asyncio.AbstractEventLoop) -> int:
    """Leave `call` running; free its slot now if the budget allows, else when it returns."""
    global _abandoned
    # Nobody reads its outcome any more (an error is expected: the remote went away).
    waited.add_done_callback(lambda f: f.cancelled() or f.exception())
    with _LOCK:
        spare = _abandoned < _BUDGET
        if spare:
            _abandoned += 1
        count = _abandoned

    def returned(_: concurrent.futures.Future[Any]) -> None:
        global _abandoned
        if spare:
            with _LOCK:
                _abandoned -= 1
            return
        with contextlib.suppress(RuntimeError):  # its event loop is gone
            loop.call_soon_threadsafe(semaphore.release)

    if spare:
        semaphore.release()
    call.add_done_callback(returned)
    return count
