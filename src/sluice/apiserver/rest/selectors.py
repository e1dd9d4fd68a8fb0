"""Label and field selectors, parsed once and matched against objects.

Label selectors follow Kubernetes' grammar: equality (``a=b``, ``a==b``,
``a!=b``), set-based (``a in (x,y)``, ``a notin (x)``), existence (``a``,
``!a``), comma meaning AND. Field selectors support what kubectl and the
controllers use: ``metadata.name``, ``metadata.namespace`` and a few
kind-specific fields (``spec.nodeName``, ``status.phase``, ``type`` for
Secrets and Events' ``involvedObject.*``); any other field is refused with the
same BadRequest the API server gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluice.apiserver.errors import BadRequest
from sluice.core.splitting import split_selector

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<vals>[^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<val>[^=!,\s]*)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.values
        # != and notin also match objects without the label, as in Kubernetes.
        return not has or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls()
        reqs: list[Requirement] = []
        for part in split_selector(text):
            if m := _SET_RE.match(part):
                vals = tuple(v.strip() for v in m["vals"].split(",") if v.strip())
                if not vals:
                    raise BadRequest(f"unable to parse requirement: for 'in', 'notin' "
                                     f"operators, values set can't be empty: '{part.strip()}'")
                reqs.append(Requirement(m["key"], m["op"], vals))
            elif m := _EQ_RE.match(part):
                op = "!=" if m["op"] == "!=" else "="
                reqs.append(Requirement(m["key"], op, (m["val"],)))
            elif m := _EXISTS_RE.match(part):
                reqs.append(Requirement(m["key"], "!" if m["neg"] else "exists"))
            else:
                raise BadRequest(f"unable to parse requirement: found '{part.strip()}', "
                                 "expected: in, notin, =, ==, !=, gt, lt")
        return cls(tuple(reqs))

    @classmethod
    def from_dict(cls, selector: dict[str, Any] | None) -> LabelSelector:
        """A ``metav1.LabelSelector`` (matchLabels / matchExpressions)."""
        if not selector:
            return cls()
        reqs = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        for expr in selector.get("matchExpressions") or []:
            reqs.append(Requirement(expr["key"], ops[expr["operator"]],
                                    tuple(expr.get("values") or ())))
        return cls(tuple(reqs))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in self.requirements)


def _get_path(obj: dict[str, Any], dotted: str) -> str:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


# Fields every kind supports, plus the extra ones Kubernetes registers per kind.
_COMMON = {"metadata.name", "metadata.namespace"}
_EXTRA: dict[str, set[str]] = {
    "Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "status.phase", "status.podIP", "status.nominatedNodeName"},
    "Secret": {"type"},
    "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
              "regarding.kind", "regarding.name", "regarding.namespace"},
    "Namespace": {"status.phase"},
    "ReplicaSet": {"status.replicas"},
    "Job": {"status.successful"},
    "Node": {"spec.unschedulable"},
}


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, str, str], ...] = ()  # (field, op, value)

    @classmethod
    def parse(cls, text: str | None, kind: str = "", custom: bool = False) -> FieldSelector:
        if not text or not text.strip():
            return cls()
        allowed = _COMMON | _EXTRA.get(kind, set())
        terms: list[tuple[str, str, str]] = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            m = re.match(r"^([^=!]+?)\s*(==|=|!=)\s*(.*)$", part)
            if not m:
                raise BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
            field, op, value = m[1], "!=" if m[2] == "!=" else "=", m[3]
            if field not in allowed:
                if custom:
                    raise BadRequest(f'"{field}" is not a known field selector: only '
                                     '"metadata.name", "metadata.namespace"')
                raise BadRequest(f"field label not supported: {field}")
            terms.append((field, op, value))
        return cls(tuple(terms))

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: dict[str, Any]) -> bool:
        for field, op, value in self.terms:
            got = _get_path(obj, field)
            if (got == value) != (op == "="):
                return False
        return True

    def exact_name(self) -> str | None:
        """The name an equality term pins, so a list can become a single lookup."""
        for field, op, value in self.terms:
            if field == "metadata.name" and op == "=":
                return value
        return None


Matcher = Callable[[dict[str, Any]], bool]


def matcher(labels: LabelSelector, fields: FieldSelector) -> Matcher:
    def match(obj: dict[str, Any]) -> bool:
        return labels.matches(obj) and fields.matches(obj)

    return match
