"""One deadline for a whole network call made with httpx.

httpx's timeouts bound each connect and each read, not the call: a server that
trickles a byte now and then holds a download forever. Flux bounds the whole
request by ``spec.timeout`` (its context deadline), so Sluice's sources and the
image reflector wrap each call in `call_deadline`.

The deadline ends `DEADLINE_GRACE` after ``timeout``, so that a connect that hangs
is ended by httpx's own connect timeout first: a call cancelled inside a TLS
handshake leaves its socket open in httpcore until garbage collection, while
httpx's timeout closes it.
"""

from __future__ import annotations

import asyncio

__all__ = ["DEADLINE_GRACE", "call_deadline"]

# Seconds past the call's timeout (and past httpx's connect timeout of the same length).
DEADLINE_GRACE = 0.5


def call_deadline(timeout: float) -> asyncio.Timeout:
    """``async with call_deadline(t):`` bounds everything inside by ``t`` (plus the grace)."""
    return asyncio.timeout(timeout + DEADLINE_GRACE)
