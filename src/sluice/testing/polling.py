"""Waiting for a condition in tests without sleeping as synchronisation.

Tests poll what a user would look at (an object's status, a command's output)
until it holds or a deadline passes, then fail with the last value seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Call ``predicate`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last value: {last!r})")
        time.sleep(interval)


async def async_wait_for(predicate: Callable[[], Awaitable[T]], timeout: float = 20.0,  # noqa: ASYNC109
                         interval: float = 0.05, what: str = "condition") -> T:
    """The async form of :func:`wait_for`."""
    deadline = time.monotonic() + timeout
    while True:
        last = await predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last value: {last!r})")
        await asyncio.sleep(interval)
