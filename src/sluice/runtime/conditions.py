"""Flux's condition rules, on the typed status models of `sluice.api`.

Users (and ``flux get``, ``kubectl wait``, kstatus) read an object's health
from ``status.conditions``; Flux keeps them with a few conventions that this
module reproduces:

* setting a condition keeps its ``lastTransitionTime`` unless its *status*
  changes (a new reason or message alone is not a transition);
* every condition carries the ``observedGeneration`` it was computed for;
* ``Reconciling`` and ``Stalled`` are "abnormal-true" (negative polarity)
  conditions, present only while true; so are kind-specific failure
  conditions like ``FetchFailed`` or ``ArtifactOutdated``;
* ``Ready`` is a *summary* of the owned conditions (`summarize`): any
  failing one (negative-polarity True, or positive False) makes Ready False
  with that condition's reason and message, taken in the kind's priority
  order with ``Stalled`` first; otherwise an Unknown one makes it Unknown;
  otherwise Ready is True and copies the first healthy condition (for a
  GitRepository, ``ArtifactInStorage``: ``stored artifact for revision
  'main@sha1:...'``);
* conditions are listed Ready first, then by type name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from sluice.api.meta import (
    FALSE,
    PROGRESSING_WITH_RETRY,
    READY,
    RECONCILING,
    STALLED,
    TRUE,
    UNKNOWN,
    Condition,
    ObjectStatus,
)

__all__ = [
    "NEGATIVE_POLARITY",
    "delete",
    "find",
    "is_false",
    "is_ready",
    "is_true",
    "is_unknown",
    "mark_false",
    "mark_progressing",
    "mark_reconciling",
    "mark_retrying",
    "mark_stalled",
    "mark_true",
    "mark_unknown",
    "now",
    "set_condition",
    "summarize",
]

# The generic abnormal-true conditions; kinds add their own failure types.
NEGATIVE_POLARITY: frozenset[str] = frozenset({RECONCILING, STALLED})


def now() -> str:
    """The current time as Kubernetes writes it (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(status: ObjectStatus, type_: str) -> Condition | None:
    return status.condition(type_)


def is_true(status: ObjectStatus, type_: str) -> bool:
    cond = status.condition(type_)
    return cond is not None and cond.status == TRUE


def is_false(status: ObjectStatus, type_: str) -> bool:
    cond = status.condition(type_)
    return cond is not None and cond.status == FALSE


def is_unknown(status: ObjectStatus, type_: str) -> bool:
    cond = status.condition(type_)
    return cond is None or cond.status == UNKNOWN


def is_ready(status: ObjectStatus) -> bool:
    return is_true(status, READY)


def _order(cond: Condition) -> tuple[int, str]:
    return (0 if cond.type == READY else 1, cond.type)


def set_condition(status: ObjectStatus, type_: str, value: str, reason: str, message: str,
                  generation: int | None = None) -> Condition:
    """Add or update a condition, moving ``lastTransitionTime`` only on a status change."""
    existing = status.condition(type_)
    transition = now()
    if existing is not None and existing.status == value:
        transition = existing.last_transition_time
    cond = Condition(type=type_, status=value, reason=reason, message=message,
                     observed_generation=generation, last_transition_time=transition)
    status.set_condition(cond)
    status.conditions = sorted(status.conditions or [], key=_order)
    return cond


def mark_true(status: ObjectStatus, type_: str, reason: str, message: str,
              generation: int | None = None) -> Condition:
    return set_condition(status, type_, TRUE, reason, message, generation)


def mark_false(status: ObjectStatus, type_: str, reason: str, message: str,
               generation: int | None = None) -> Condition:
    return set_condition(status, type_, FALSE, reason, message, generation)


def mark_unknown(status: ObjectStatus, type_: str, reason: str, message: str,
                 generation: int | None = None) -> Condition:
    return set_condition(status, type_, UNKNOWN, reason, message, generation)


def mark_reconciling(status: ObjectStatus, reason: str, message: str,
                     generation: int | None = None) -> Condition:
    """Reconciling=True; a reconcile in progress is not stalled."""
    delete(status, STALLED)
    return mark_true(status, RECONCILING, reason, message, generation)


def mark_progressing(status: ObjectStatus, reason: str, message: str,
                     generation: int | None = None, *, overwrite_ready: bool = False) -> None:
    """Reconciling=True and Ready=Unknown with the same message, while work is under way.

    Like Flux's ``ProgressiveStatus``: a Ready=False left by an earlier
    failure is kept (so users still see why the last attempt failed) unless
    ``overwrite_ready`` is set.
    """
    mark_reconciling(status, reason, message, generation)
    if overwrite_ready or not is_false(status, READY):
        mark_unknown(status, READY, reason, message, generation)


def mark_stalled(status: ObjectStatus, reason: str, message: str,
                 generation: int | None = None) -> Condition:
    """Stalled=True; a stalled object is no longer reconciling."""
    delete(status, RECONCILING)
    return mark_true(status, STALLED, reason, message, generation)


def mark_retrying(status: ObjectStatus) -> None:
    """A failed reconcile leaves Reconciling with reason ProgressingWithRetry, as Flux does."""
    cond = status.condition(RECONCILING)
    if cond is not None and cond.status == TRUE and cond.reason != PROGRESSING_WITH_RETRY:
        set_condition(status, RECONCILING, TRUE, PROGRESSING_WITH_RETRY, cond.message,
                      cond.observed_generation)


def delete(status: ObjectStatus, type_: str) -> None:
    status.remove_condition(type_)
    if status.conditions == []:
        status.conditions = None


def _failing(cond: Condition, negative: Collection[str]) -> bool:
    if cond.type in negative or cond.type in NEGATIVE_POLARITY:
        return cond.status == TRUE
    return cond.status == FALSE


def _healthy(cond: Condition, negative: Collection[str]) -> bool:
    if cond.type in negative or cond.type in NEGATIVE_POLARITY:
        return cond.status == FALSE
    return cond.status == TRUE


def summarize(status: ObjectStatus, conditions: Sequence[str], negative_polarity: Collection[str],
              generation: int | None = None, target: str = READY) -> Condition | None:
    """Set ``target`` (Ready) from ``conditions`` in priority order; see the module docs.

    Returns the new target condition, or None (and leaves it alone) when no
    listed condition is present.
    """
    ordered = [STALLED, *[c for c in conditions if c != STALLED]]
    present = [c for t in ordered if (c := status.condition(t)) is not None]
    if not present:
        return None
    failing = [c for c in present if _failing(c, negative_polarity)]
    if failing:
        top = failing[0]
        return set_condition(status, target, FALSE, top.reason, top.message, generation)
    unknown = [c for c in present if c.status == UNKNOWN]
    if unknown:
        top = unknown[0]
        return set_condition(status, target, UNKNOWN, top.reason, top.message, generation)
    healthy = [c for c in present if _healthy(c, negative_polarity)]
    if not healthy:
        return None
    top = healthy[0]
    return set_condition(status, target, TRUE, top.reason, top.message, generation)
