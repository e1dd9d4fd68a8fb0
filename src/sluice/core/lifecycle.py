"""`AsyncService`: ``async with`` for anything with ``start()`` and ``close()``.

Servers that bind a loopback port (the artifact file server, the test Git
forges) are started and stopped the same way: ``async with`` starts them and
closes them on the way out, error or not. Each subclass supplies only its own
``start`` and ``close``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncService"]


class AsyncService:
    """Base class: ``async with service:`` awaits ``start()``, then ``close()``."""

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
