"""What every ``kubectl get`` column of the built-in kinds is made of.

:mod:`sluice.apiserver.rest.table_printers` lists, per built-in kind, the columns
Kubernetes' own table printers define; this module holds their building
blocks: `Column` and `Printer`, ages as Kubernetes rounds them
(:func:`human_duration`, ``duration.HumanDuration``), timestamps, and the
small readers the row functions share (``<none>`` for what is absent, label
and selector text, container names and images, load-balancer addresses),
each following the wording of the Go printers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "NONE",
    "Column",
    "Printer",
    "age",
    "as_dict",
    "as_int",
    "as_list",
    "containers_and_images",
    "dig",
    "has_condition",
    "human_duration",
    "labels_text",
    "load_balancer_text",
    "name_of",
    "parse_timestamp",
    "selector_text",
    "since",
]

Obj = dict[str, Any]


def human_duration(seconds: float) -> str:
    """A duration as Kubernetes prints ages: ``45s``, ``3m10s``, ``5h``, ``2d3h``, ``3y``.

    The precision falls as the duration grows, as with ``kubectl get``. Up to
    a second of clock skew into the future reads ``0s``; more reads
    ``<invalid>``.
    """
    whole = int(seconds)  # truncated toward zero, like Go's int(d.Seconds())
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{hours // 24 // 365}y"


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        # Python accepts at most six fractional digits; Kubernetes writes up to nine.
        head, _, tail = text.partition(".")
        digits = ""
        while tail and tail[0].isdigit():
            digits, tail = digits + tail[0], tail[1:]
        text = f"{head}.{(digits + '000000')[:6]}{tail}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Column:
    """One ``columnDefinitions`` entry of a Table."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class Printer:
    """The columns of one kind and the function computing a row's cells."""

    columns: list[Column]
    cells: Callable[[Obj, datetime], list[Any]]

    def bind(self, now: datetime) -> Callable[[Obj], list[Any]]:
        return lambda obj: self.cells(obj, now)


# ------------------------------------------------------------------ cell helpers

NONE = "<none>"


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def name_of(obj: Obj) -> str:
    return str(dig(obj, "metadata", "name") or "")


def since(value: Any, now: datetime) -> str:
    stamp = parse_timestamp(value)
    if stamp is None:
        return "<unknown>"
    return human_duration((now - stamp).total_seconds())


def age(obj: Obj, now: datetime) -> str:
    return since(dig(obj, "metadata", "creationTimestamp"), now)


def labels_text(labels: Any) -> str:
    """A label map as ``a=b,c=d`` (sorted), or ``<none>``."""
    pairs = as_dict(labels)
    if not pairs:
        return NONE
    return ",".join(f"{k}={pairs[k]}" for k in sorted(pairs))


def selector_text(selector: Any) -> str:
    """A LabelSelector as kubectl writes it: ``app=web,tier in (a,b),!legacy``."""
    sel = as_dict(selector)
    parts: list[tuple[str, str]] = []
    for key, value in as_dict(sel.get("matchLabels")).items():
        parts.append((key, f"{key}={value}"))
    for expr in as_list(sel.get("matchExpressions")):
        key = str(dig(expr, "key") or "")
        values = ",".join(sorted(str(v) for v in as_list(dig(expr, "values"))))
        op = dig(expr, "operator")
        if op == "In":
            parts.append((key, f"{key} in ({values})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({values})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    if not parts:
        return NONE
    return ",".join(text for _, text in sorted(parts, key=lambda p: p[0]))


def containers_and_images(pod_spec: Any) -> tuple[str, str]:
    """Container names and images of a pod spec, comma-joined (the wide columns)."""
    containers = [c for c in as_list(dig(pod_spec, "containers")) if isinstance(c, dict)]
    return (",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers))


def has_condition(obj: Obj, ctype: str) -> bool:
    return any(dig(c, "type") == ctype and dig(c, "status") == "True"
               for c in as_list(dig(obj, "status", "conditions")))


def load_balancer_text(status: Any) -> str:
    ingress = as_list(dig(status, "loadBalancer", "ingress"))
    addresses = [str(i.get("ip") or i.get("hostname") or "") for i in ingress if isinstance(i, dict)]
    return ",".join(a for a in addresses if a)
