"""View models: the rows, counts and lists the templates show, from the live state.

Kept apart from the HTTP handlers so that a page and the SSE fragment that
later replaces part of it are built by the same function (one truth for what a
row looks like).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from sluice.kube.objects import Obj
from sluice.ui.summary import STATES, Summary, summarize

__all__ = ["Filters", "Row", "counts", "event_name", "object_yaml", "rows", "sort_events"]


def event_name(kind: str, namespace: str, name: str) -> str:
    """The SSE event (and DOM) name of an object's row: short, safe, stable."""
    digest = hashlib.sha1(f"{kind}/{namespace}/{name}".encode()).hexdigest()[:12]
    return f"o-{digest}"


@dataclass(frozen=True)
class Row:
    kind: str
    namespace: str
    name: str
    summary: Summary
    labels: Mapping[str, str]

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def event(self) -> str:
        return event_name(self.kind, self.namespace, self.name)

    @property
    def url(self) -> str:
        return f"/object/{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Filters:
    namespace: str = ""
    kind: str = ""
    state: str = ""
    query: str = ""  # name substring, or label selector `k=v[,k=v]`

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        state = query.get("state", "")
        return cls(query.get("namespace", ""), query.get("kind", ""),
                   state if state in (*STATES, "attention") else "", query.get("q", "").strip())

    def match(self, row: Row) -> bool:
        if self.namespace and row.namespace != self.namespace:
            return False
        if self.kind and row.kind != self.kind:
            return False
        if self.state == "attention":
            if not row.summary.needs_attention:
                return False
        elif self.state and row.summary.state != self.state:
            return False
        if self.query:
            if "=" in self.query:
                for term in self.query.split(","):
                    k, _, v = term.partition("=")
                    if row.labels.get(k.strip()) != v.strip():
                        return False
            elif self.query.lower() not in row.name.lower():
                return False
        return True


def make_row(kind: str, obj: Mapping[str, Any]) -> Row:
    meta = obj.get("metadata") or {}
    return Row(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""),
               summarize(obj), dict(meta.get("labels") or {}))


def rows(objects: Iterable[tuple[str, Obj]], filters: Filters) -> list[Row]:
    out = [r for r in (make_row(k, o) for k, o in objects) if filters.match(r)]
    out.sort(key=lambda r: (r.kind, r.namespace, r.name))
    return out


def counts(all_rows: Iterable[Row]) -> dict[str, int]:
    c = Counter(r.summary.state for r in all_rows)
    return {state: c.get(state, 0) for state in STATES}


def _event_time(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime")
               or (event.get("metadata") or {}).get("creationTimestamp") or "")


def sort_events(events: Iterable[Obj]) -> list[Obj]:
    return sorted(events, key=_event_time, reverse=True)


def object_yaml(obj: Mapping[str, Any]) -> str:
    """The object as YAML, without managedFields (noise) and never any Secret data.

    Callers pass `redact.mask_object`'s copy, which also masks webhook addresses.
    """
    shown = dict(obj)
    meta = dict(shown.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = dict(meta.get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    shown["metadata"] = meta
    if shown.get("kind") == "Secret":
        shown.pop("data", None)
        shown.pop("stringData", None)
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False, allow_unicode=True)
