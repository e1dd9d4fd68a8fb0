"""Reading the shapes controllers agree on: owners, pod states, template hashes, times.

Kubernetes controllers coordinate only through object fields: the controller
ownerReference says who manages an object, a pod's ``Ready`` condition says
whether it serves, a template's hash names the ReplicaSet or revision built
from it. The simulated controllers all read these the same way, from here.
Objects passed in are stored objects: these functions never modify them.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION_HASH = "controller-revision-hash"

# The characters Kubernetes uses for generated names and hashes: no vowels, no
# look-alikes, so no accidental words.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def meta(obj: Obj) -> Obj:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def uid_of(obj: Obj) -> str:
    return str(meta(obj).get("uid", ""))


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def terminating(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_ref(obj: Obj) -> Obj | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def owner_reference(owner: Obj, api_version: str, kind: str) -> Obj:
    """The reference a controller puts on what it creates (it blocks foreground deletion)."""
    return {"apiVersion": api_version, "kind": kind, "name": name_of(owner),
            "uid": uid_of(owner), "controller": True, "blockOwnerDeletion": True}


def int_field(obj: Obj, *path: str, default: int = 0) -> int:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, dict):
            return default
        cur = cur.get(p)
    if isinstance(cur, bool) or not isinstance(cur, int):
        return default
    return cur


def labels_of(obj: Obj) -> dict[str, str]:
    labels = meta(obj).get("labels")
    return labels if isinstance(labels, dict) else {}


# ------------------------------------------------------------------- time
def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(ts: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp, or None."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# ------------------------------------------------------------------- pods
def pod_phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def pod_condition(pod: Obj, ctype: str) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def pod_ready(pod: Obj) -> bool:
    c = pod_condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def pod_active(pod: Obj) -> bool:
    """Counted by its controller: not being deleted and not finished (Kubernetes' "active")."""
    return not terminating(pod) and pod_phase(pod) not in ("Succeeded", "Failed")


def pod_available(pod: Obj, min_ready_seconds: int, at: float) -> bool:
    """Ready for at least ``minReadySeconds`` (with 0, ready is available)."""
    if not pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = epoch((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds <= at


def available_in(pod: Obj, min_ready_seconds: int, at: float) -> float | None:
    """Seconds until a ready pod becomes available, when it is not yet."""
    if not pod_ready(pod) or min_ready_seconds <= 0:
        return None
    since = epoch((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
    if since is None:
        return None
    left = since + min_ready_seconds - at
    return left if left > 0 else None


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def scale_down_order(pod: Obj) -> tuple[Any, ...]:
    """Sort key putting first the pods a controller should delete when scaling down.

    As in Kubernetes: unscheduled before scheduled, pending before running, not
    ready before ready, recently ready before long ready, more restarts first,
    newer before older.
    """
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ready = pod_ready(pod)
    ready_since = epoch((pod_condition(pod, "Ready") or {}).get("lastTransitionTime")) or 0.0
    restarts = sum(int_field(cs, "restartCount") for cs in status.get("containerStatuses") or [])
    created = epoch(meta(pod).get("creationTimestamp")) or 0.0
    return (bool(spec.get("nodeName")), _PHASE_RANK.get(pod_phase(pod), 3), ready,
            -ready_since if ready else 0.0, -restarts, -created, name_of(pod))


# ------------------------------------------------------------ templates
def template_hash(template: Any, collision_count: int = 0) -> str:
    """A short, stable name for a pod template, shaped like Kubernetes' hashes.

    A 32-bit FNV-1a hash of the template's canonical JSON (and the collision
    count, which changes the name when two templates collide), printed in
    decimal and spelt in the no-vowel alphabet, so names look like
    ``web-5d8f9c7b6``.
    """
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHABET[ord(ch) % len(_ALPHABET)] for ch in str(h))


def without_label(template: Any, key: str) -> Any:
    """A copy of a pod template without one label (to compare templates ignoring a hash)."""
    out = json_copy(template) if isinstance(template, dict) else {}
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(key, None)
        if not labels:
            out["metadata"].pop("labels", None)
    return out


def same_template(a: Any, b: Any, hash_label: str = POD_TEMPLATE_HASH) -> bool:
    return bool(without_label(a, hash_label) == without_label(b, hash_label))


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percent field resolved against ``total`` (``25%`` of 10 is 3 up, 2 down)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                return 0
            exact = pct * total / 100
            # Rounding guards against 0.1 * 30 = 3.0000000000000004 rounding up to 4.
            exact = round(exact, 9)
            return max(0, math.ceil(exact) if round_up else math.floor(exact))
        try:
            return max(0, int(text))
        except ValueError:
            return 0
    return 0
