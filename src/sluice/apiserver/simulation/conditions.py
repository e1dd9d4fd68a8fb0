"""Status conditions written the way Kubernetes controllers write them.

A condition keeps its ``lastTransitionTime`` while its status stays the same,
and a changed condition moves to the end of the list (Deployments read
``Available`` then ``Progressing`` because of that). Writing the same
condition again changes nothing, so a controller that recomputes its status on
every event does not produce a write, or a watch event, when nothing changed.
"""

from __future__ import annotations

from typing import Any

from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]


def set_condition(conditions: list[Obj], ctype: str, status: str, reason: str, message: str,
                  at: str, *, update_time: bool = False, touch: bool = False) -> list[Obj]:
    """A new list with condition ``ctype`` set; unchanged input when nothing differs.

    ``update_time`` adds ``lastUpdateTime`` (Deployments); ``touch`` refreshes it
    even when the condition is otherwise unchanged (a rollout that progressed).
    """
    current = next((c for c in conditions if c.get("type") == ctype), None)
    if current is not None and current.get("status") == status and \
            current.get("reason") == reason and current.get("message") == message and not touch:
        return conditions
    cond: Obj = {"type": ctype, "status": status}
    if update_time:
        cond["lastUpdateTime"] = at
    same_status = current is not None and current.get("status") == status
    cond["lastTransitionTime"] = current.get("lastTransitionTime", at) if (
        same_status and current is not None) else at
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    if current is not None and touch and current.get("status") == status and \
            current.get("reason") == reason and current.get("message") == message and \
            current.get("lastUpdateTime") == at:
        return conditions
    return [json_copy(c) for c in conditions if c.get("type") != ctype] + [cond]


def get_condition(conditions: list[Obj], ctype: str) -> Obj | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


def remove_condition(conditions: list[Obj], ctype: str) -> list[Obj]:
    if get_condition(conditions, ctype) is None:
        return conditions
    return [c for c in conditions if c.get("type") != ctype]
