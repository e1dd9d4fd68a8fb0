"""The end of every image reflector reconcile: Ready from the outcome, then the event.

Both kinds finish the way fluxcd/pkg's ``ResultFinalizer`` and the
reflector's ``notify`` do:

* success: ``Ready=True Succeeded`` with the kind's message, ``Reconciling``
  and ``Stalled`` gone, ``observedGeneration`` caught up;
* stalled (a spec error): ``Stalled=True`` and ``Ready=False`` with its
  reason and message, ``observedGeneration`` caught up, no retry;
* failure: ``Ready=False`` as the step left it, ``Reconciling`` kept with
  reason ``ProgressingWithRetry``, retried with backoff.

Events: Normal (Ready's reason and message) when Ready turns True or its
message changes while True (a new scan result, a new latest tag); Warning
on every failure; otherwise a Trace (``Succeeded``) with the progress note
(``tags did not change, next scan in 5m0s``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sluice.api.meta import READY, RECONCILING, STALLED, SUCCEEDED, ObjectStatus
from sluice.controllers.image_reflector.errors import ReflectorError
from sluice.kube.events import EventRecorder
from sluice.runtime import conditions

__all__ = ["finish", "notify"]


def finish(status: ObjectStatus, generation: int | None, failure: ReflectorError | None,
           ready_message: str) -> None:
    if failure is None:
        conditions.delete(status, RECONCILING)
        conditions.delete(status, STALLED)
        conditions.mark_true(status, READY, SUCCEEDED, ready_message, generation)
        status.observed_generation = generation
        return
    if failure.stalls:
        conditions.mark_stalled(status, failure.reason, failure.message, generation)
        conditions.mark_false(status, READY, failure.reason, failure.message, generation)
        status.observed_generation = generation
        return
    conditions.mark_false(status, READY, failure.reason, failure.message, generation)
    conditions.mark_retrying(status)


def _ready(status: Mapping[str, Any]) -> tuple[bool, str]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == READY:
            return cond.get("status") == "True", str(cond.get("message") or "")
    return False, ""


async def notify(recorder: EventRecorder, log: logging.Logger, obj: Mapping[str, Any],
                 before: Mapping[str, Any], status: ObjectStatus, trace_message: str) -> None:
    """Record the event Flux records for this outcome (``before`` is the old status dict)."""
    was_ready, old_message = _ready(before)
    ready = conditions.find(status, READY)
    if ready is None:
        return
    meta = obj.get("metadata") or {}
    where = f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"
    if ready.status == "True":
        if not was_ready or old_message != ready.message:
            log.info("%s: %s", where, ready.message)
            await recorder.normal(obj, ready.reason, ready.message)
        elif trace_message:
            await recorder.trace(obj, SUCCEEDED, trace_message)
        return
    log.error("%s: %s", where, ready.message)
    await recorder.warning(obj, ready.reason, ready.message)
