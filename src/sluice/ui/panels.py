"""The kind-specific facts at the top of an object's page, as (label, value) rows.

The generic page (conditions, spec, events, YAML) is the same for every kind;
what a user asks first is not. For an Alert, where its events go and what it
sent last. For a Provider, its type, channel and whether it has an address
(never the address: see `redact`). For a Receiver, what it reconciles and
whether its webhook is ready. For a HelmRelease, the last Helm action and how
it ended (the values and Helm's history are in `release`). Each function reads only the object and the
Events the live state already holds, so the panel is re-rendered with the
object's SSE fragment at no cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sluice.ui.redact import MASK
from sluice.ui.summary import condition

__all__ = ["Fact", "facts"]

SENT_SHOWN = 5


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    hint: str = ""  # a second line, smaller (e.g. where a value comes from)


def _ref(ref: Any, namespace: str) -> str:
    if not isinstance(ref, Mapping):
        return ""
    ns = str(ref.get("namespace") or namespace)
    name = str(ref.get("name") or "")
    kind = str(ref.get("kind") or "")
    matching = ref.get("matchLabels")
    if name == "*" and isinstance(matching, Mapping) and matching:
        name = "* (" + ",".join(f"{k}={v}" for k, v in sorted(matching.items())) + ")"
    return f"{kind}/{ns}/{name}" if kind else f"{ns}/{name}"


def _ready(obj: Mapping[str, Any]) -> Fact:
    ready = condition(obj, "Ready")
    if ready is None:
        # Flux's v1beta3 Alerts and Providers have no status: they are ready when valid.
        return Fact("Ready", "no status (this API version keeps none)")
    return Fact("Ready", f"{ready.get('status')} {ready.get('reason') or ''}".strip(),
                str(ready.get("message") or ""))


def _alert(obj: Mapping[str, Any], namespace: str,
           events: Sequence[Mapping[str, Any]]) -> list[Fact]:
    spec = obj.get("spec") or {}
    sources = [_ref(s, namespace) for s in spec.get("eventSources") or []]
    out = [Fact("Provider", str((spec.get("providerRef") or {}).get("name") or "")),
           Fact("Event sources", ", ".join(s for s in sources if s) or "none"),
           Fact("Severity", str(spec.get("eventSeverity") or "info"),
                "info sends every event; error sends only errors")]
    if spec.get("inclusionList") or spec.get("exclusionList"):
        out.append(Fact("Filters", f"include {spec.get('inclusionList') or []}, "
                                   f"exclude {spec.get('exclusionList') or []}"))
    sent = [e for e in events if e.get("reason") == "NotificationDispatched"][:SENT_SHOWN]
    failed = [e for e in events if e.get("type") == "Warning"][:SENT_SHOWN]
    for e in sent:
        out.append(Fact("Sent", str(e.get("message") or ""), _when(e)))
    if not sent:
        out.append(Fact("Sent", "nothing recorded yet"))
    for e in failed:
        out.append(Fact("Failed", str(e.get("message") or ""), _when(e)))
    return out


def _when(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


def _provider(obj: Mapping[str, Any]) -> list[Fact]:
    spec = obj.get("spec") or {}
    secret = str((spec.get("secretRef") or {}).get("name") or "")
    if spec.get("address"):
        address = Fact("Address", f"set ({MASK})",
                       f"overridden by Secret {secret}'s 'address' key if it has one"
                       if secret else "hidden: a webhook address is a credential")
    elif secret:
        address = Fact("Address", "from Secret", f"Secret {secret}, key 'address'")
    else:
        address = Fact("Address", "not set")
    out = [Fact("Type", str(spec.get("type") or "")), address]
    if spec.get("channel"):
        out.append(Fact("Channel", str(spec["channel"])))
    if spec.get("username"):
        out.append(Fact("Username", str(spec["username"])))
    proxy_secret = str((spec.get("proxySecretRef") or {}).get("name") or "")
    if spec.get("proxy") or proxy_secret:
        out.append(Fact("Proxy", f"set ({MASK})" if spec.get("proxy")
                        else f"from Secret {proxy_secret}"))
    if spec.get("suspend") is True:
        out.append(Fact("Suspended", "yes: no notification is sent"))
    out.append(_ready(obj))
    return out


def _receiver(obj: Mapping[str, Any], namespace: str) -> list[Fact]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    resources = [_ref(r, namespace) for r in spec.get("resources") or []]
    path = Fact("Webhook path", f"/hook/{MASK}" if status.get("webhookPath") else "not yet",
                "hidden: the path is the only secret a caller needs")
    out = [Fact("Type", str(spec.get("type") or "")),
           Fact("Resources", ", ".join(r for r in resources if r) or "none"), path]
    if spec.get("events"):
        out.append(Fact("Events", ", ".join(str(e) for e in spec["events"])))
    out.append(_ready(obj))
    return out


def _helmrelease(obj: Mapping[str, Any], namespace: str) -> list[Fact]:
    """The last Helm action and how it ended (Flux's Released/Remediated conditions)."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    chart = ((spec.get("chart") or {}).get("spec") or {})
    out: list[Fact] = []
    if chart:
        out.append(Fact("Chart", f"{chart.get('chart') or ''} {chart.get('version') or '*'}",
                        f"from {_ref(chart.get('sourceRef'), namespace)}"))
    elif spec.get("chartRef"):
        out.append(Fact("Chart", _ref(spec.get("chartRef"), namespace)))
    action = str(status.get("lastAttemptedReleaseAction") or "")
    if action:
        took = status.get("lastAttemptedReleaseActionDuration")
        out.append(Fact("Last action", f"{action} of {status.get('lastAttemptedRevision') or '?'}",
                        f"took {took}" if took else ""))
    for type_ in ("Released", "Remediated", "TestSuccess"):
        cond = condition(obj, type_)
        if cond is not None:
            out.append(Fact(type_, f"{cond.get('status')} {cond.get('reason') or ''}".strip(),
                            str(cond.get("message") or "")))
    failures = [f"{n} {status[k]}" for k, n in (("installFailures", "install"),
                                                ("upgradeFailures", "upgrade"),
                                                ("failures", "reconcile"))
                if status.get(k)]
    if failures:
        out.append(Fact("Failures", ", ".join(failures), "since the last success"))
    return out


def facts(kind: str, obj: Mapping[str, Any],
          events: Sequence[Mapping[str, Any]]) -> list[Fact]:
    """The panel's rows for `obj` (empty for kinds without a dedicated panel)."""
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    if kind == "Alert":
        return _alert(obj, namespace, events)
    if kind == "Provider":
        return _provider(obj)
    if kind == "Receiver":
        return _receiver(obj, namespace)
    if kind == "HelmRelease":
        return _helmrelease(obj, namespace)
    return []
