"""Runs Git operations with a deadline (interim: one daemon thread per operation).

`Op` names a function of `sluice.git.ops` and its arguments; `run` executes
it and fails with `GitTimeout` after `timeout` seconds.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from sluice.git import ops
from sluice.git.auth import safe_url
from sluice.git.errors import GitTimeout

__all__ = ["GitPool", "Op", "default_pool"]


@dataclass(frozen=True)
class Op:
    """One call of `sluice.git.ops.<name>(*args)`; `step`/`url` word its timeout error."""

    name: str
    args: tuple[Any, ...]
    step: str
    url: str


class GitPool:
    async def run(self, op: Op, *, timeout: float, key: str = "",  # noqa: ASYNC109
                  trust: str = "") -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def target() -> None:
            try:
                result, error = getattr(ops, op.name)(*op.args), None
            except BaseException as err:
                result, error = None, err
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:
                pass

        threading.Thread(target=target, name="sluice-git", daemon=True).start()
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise GitTimeout(
                f"{op.step} '{safe_url(op.url)}': timed out after {timeout:g}s"
            ) from None


_POOL: GitPool | None = None


def default_pool() -> GitPool:
    global _POOL
    if _POOL is None:
        _POOL = GitPool()
    return _POOL
