"""Waiting for Flux objects the way the flux CLI does: polled, bounded by ``--timeout``.

Three questions, asked by ``create``, ``reconcile``, ``resume`` and
``bootstrap``:

* `ready_verdict`: is a freshly applied object ready? Its Ready condition
  must describe the current generation (``observedGeneration``) and be True.
  A ``Stalled`` object, or a Ready=False for the current generation whose
  reason is not one of the "waiting for something else" reasons
  (``ArtifactFailed``, ``DependencyNotReady``, ``Progressing``), fails at
  once with the condition's message instead of running into the timeout:
  a wrong URL shows its Git error, not ``context deadline exceeded``;
* `reconcile_verdict`: has the controller handled our
  ``reconcile.fluxcd.io/requestedAt`` (``status.lastHandledReconcileAt``
  equals it) and finished that run (Ready True or False, not Unknown)?
* `poll`: call a probe until it answers or the deadline passes; the timeout
  is reported in flux's words, ``context deadline exceeded``, with what was
  last seen.

Polls start fast (the embedded cluster answers in milliseconds) and slow
down to flux's 2 s interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sluice.cli.failing import CommandError
from sluice.cli.kinds import condition

__all__ = ["Verdict", "poll", "ready_verdict", "reconcile_verdict"]

T = TypeVar("T")

# Reasons that mean "not yet" rather than "failed": the object waits on
# another one (its source, a dependency) that is itself on its way. A new
# HelmRelease reports SourceNotReady until its generated HelmChart is pulled.
_WAITING_REASONS = frozenset({"ArtifactFailed", "DependencyNotReady", "Progressing",
                              "ProgressingWithRetry", "Reconciling", "SourceNotReady"})
_MAX_POLL = 2.0


@dataclass(frozen=True)
class Verdict:
    """``done`` when the wait is over; ``error`` when it ended in failure."""

    done: bool
    error: str | None = None
    # What to say if the deadline passes while waiting.
    last: str = ""


def _generation_current(obj: Mapping[str, Any], cond: Mapping[str, Any] | None) -> bool:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    if cond is not None and cond.get("observedGeneration"):
        return generation is None or cond.get("observedGeneration") == generation
    if observed is None or int(observed) < 1:
        return False
    return generation is None or observed == generation


def ready_verdict(obj: Mapping[str, Any]) -> Verdict:
    """Is a just-applied (or just-resumed) object ready for its current generation?"""
    ready = condition(obj, "Ready")
    message = str((ready or {}).get("message") or "")
    if not _generation_current(obj, ready) or ready is None:
        return Verdict(False, last=message or "waiting to be reconciled")
    stalled = condition(obj, "Stalled")
    if stalled is not None and stalled.get("status") == "True":
        return Verdict(True, str(stalled.get("message") or message or "stalled"))
    status = ready.get("status")
    if status == "True":
        return Verdict(True)
    if status == "False" and str(ready.get("reason") or "") not in _WAITING_REASONS:
        return Verdict(True, message or "not ready")
    return Verdict(False, last=message)


def reconcile_verdict(obj: Mapping[str, Any], requested: str) -> Verdict:
    """Has the reconcile we requested at ``requested`` run to its end?"""
    handled = (obj.get("status") or {}).get("lastHandledReconcileAt")
    ready = condition(obj, "Ready")
    message = str((ready or {}).get("message") or "")
    if handled != requested or ready is None or ready.get("status") == "Unknown":
        return Verdict(False, last=message or "reconciliation not handled yet")
    reconciling = condition(obj, "Reconciling")
    if ready.get("status") == "True":
        if reconciling is not None and reconciling.get("status") == "True":
            return Verdict(False, last=message)
        return Verdict(True)
    return Verdict(True, message or "not ready")


async def poll(probe: Callable[[], Awaitable[tuple[bool, T]]], timeout: float,  # noqa: ASYNC109
               what: str, last: Callable[[], str] | None = None) -> T:
    """Await ``probe`` until it says done (its first item), and return its second item.

    Raises `CommandError` with flux's ``context deadline exceeded`` once
    ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    interval = 0.1
    while True:
        done, value = await probe()
        if done:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            seen = last() if last is not None else ""
            detail = f" (last status: {seen})" if seen else ""
            raise CommandError(f"timeout waiting for {what}: context deadline exceeded{detail}")
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 1.5, _MAX_POLL)
