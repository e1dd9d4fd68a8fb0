"""What the UI shows about one Flux object at a glance.

Flux objects report through conditions; users think in a handful of states.
`summarize` maps an object to one of them, Flux's way: Stalled wins over
everything, a suspended object is shown as suspended whatever its last
condition said, `Reconciling=True` or an unobserved generation is progressing,
then `Ready` decides. "Stale" is Flux-shaped too: an object whose last
generation was never observed a minute after it was created is not being served
(no controller of its kind runs, or it is stuck), which the overview flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["ATTENTION", "STATES", "Summary", "condition", "summarize"]

STATES = ("ready", "failed", "stalled", "progressing", "suspended", "unknown")
ATTENTION = frozenset({"failed", "stalled", "unknown"})

# Seconds after creation without any observed generation before an object is "stale".
STALE_AFTER = 60.0


def condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _revision(obj: Mapping[str, Any]) -> str:
    status = obj.get("status") or {}
    artifact = status.get("artifact") or {}
    for value in (status.get("lastAppliedRevision"), artifact.get("revision"),
                  (status.get("history") or [{}])[0].get("chartVersion")
                  if status.get("history") else None,
                  (status.get("latestRef") or {}).get("tag"), status.get("latestImage"),
                  status.get("lastPushCommit")):
        if value:
            return str(value)
    return ""


@dataclass(frozen=True)
class Summary:
    state: str
    reason: str
    message: str
    revision: str
    suspended: bool
    stale: bool
    last_transition: str

    @property
    def needs_attention(self) -> bool:
        return self.state in ATTENTION or self.stale


def summarize(obj: Mapping[str, Any], now: datetime | None = None) -> Summary:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    suspended = spec.get("suspend") is True
    ready = condition(obj, "Ready")
    stalled = condition(obj, "Stalled")
    reconciling = condition(obj, "Reconciling")
    reason = str((ready or {}).get("reason") or "")
    message = str((ready or {}).get("message") or "")
    observed = status.get("observedGeneration")
    if stalled is not None and stalled.get("status") == "True":
        state, reason, message = ("stalled", str(stalled.get("reason") or reason),
                                  str(stalled.get("message") or message))
    elif suspended:
        state = "suspended"
    elif (reconciling is not None and reconciling.get("status") == "True") or (
            ready is not None and isinstance(observed, int)
            and observed < int(meta.get("generation") or 0)):
        state = "progressing"
    elif ready is None:
        # Alerts and Providers (v1beta3) have no status at all: nothing to wait for.
        state = "ready" if not status and obj.get("kind") in ("Alert", "Provider") else "unknown"
    elif ready.get("status") == "True":
        state = "ready"
    elif ready.get("status") == "False":
        state = "failed"
    else:
        state = "progressing"
    stale = False
    created = _parse_time(meta.get("creationTimestamp"))
    never_observed = not isinstance(observed, int) or observed < 0
    if state == "unknown" and not suspended and never_observed and created is not None:
        now = now or datetime.now(UTC)
        stale = (now - created).total_seconds() > STALE_AFTER
    return Summary(state, reason, message, _revision(obj), suspended, stale,
                   str((ready or {}).get("lastTransitionTime") or ""))
