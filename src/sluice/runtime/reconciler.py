"""The contract between the runtime and a controller's business logic.

A controller implements `Reconciler`: given a `Request` (namespace/name of
one object), bring the world in line with that object's spec and report
how it went. The runtime (`sluice.runtime.controller`) calls it from its
workers, one call per object at a time, and turns the outcome into the
next queue action:

* a `Result` with ``requeue_after`` -> reconcile again after that delay
  (with jitter), the normal "every ``spec.interval``" case;
* ``Result(requeue=True)`` -> retry with exponential backoff, without
  treating it as an error;
* ``Result()`` -> nothing scheduled (waits for the next watch event);
* an exception -> counted as an error and retried with exponential backoff,
  except `TerminalError`, which is not retried until the object changes
  (Flux's "stalled" objects).

Reconcilers read the object themselves (from an informer cache or the API),
so a request carries no state and duplicates are harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Reconciler", "Request", "Result", "TerminalError"]


@dataclass(frozen=True, order=True)
class Request:
    """Which object to reconcile."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Result:
    """What to do after a reconcile that did not raise."""

    requeue_after: float | None = None
    requeue: bool = False
    # Metrics label; set by reconcilers that want a finer one ("suspended").
    outcome: str = ""
    # For the one log line per reconcile: what the object's Ready condition now says,
    # and the revision it is at (both optional).
    message: str = ""
    revision: str = ""


class TerminalError(Exception):
    """A failure retrying cannot fix (invalid spec); wait for the object to change."""


@runtime_checkable
class Reconciler(Protocol):
    """Business logic for one kind."""

    async def reconcile(self, request: Request) -> Result: ...
