"""Bounded worker threads for request work too heavy for the event loop.

The embedded cluster serves every client, the controllers of ``sluice up`` and
``/healthz`` from one event loop. Decoding a 3 MiB YAML body or admitting a
1.5 MiB object takes Python seconds; done on the loop, it froze every other
client for as long (issue 15: 21.8 s of ``/healthz`` silence for one body).
Such work runs here instead, on a small fixed pool, so a flood of big bodies
queues behind the pool rather than multiplying threads. The loop keeps
running meanwhile: pure-Python work gives up the GIL every switch interval.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

WORKERS = 2


class Offload:
    """A fixed pool of worker threads, awaited from the event loop."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sluice-api-work")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
