"""The kind-specific facts at the top of an object's page, as (label, value) rows.

The generic page (conditions, spec, events, YAML) is the same for every kind;
what a user asks first is not. For an Alert, where its events go and what it
sent last. For a Provider, its type, channel and whether it has an address
(never the address: see `redact`). For a Receiver, what it reconciles and
whether its webhook is ready. For a HelmRelease, the last Helm action and how
it ended (the values and Helm's history are in `release`). For sources, the
revision, its commit subject or OCI annotations (author and message are read
on demand by `source_commit`). For image automation, the "why": the tag an
ImagePolicy chose, by which rule, from which ImageRepository scan, and what
the automation last pushed. Each function reads only the object and the
Events and objects the live state already holds, so the panel is re-rendered with the
object's SSE fragment at no cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sluice.ui.redact import MASK
from sluice.ui.source_commit import artifact_subject, oci_facts
from sluice.ui.summary import condition

__all__ = ["Fact", "Lookup", "facts"]

SENT_SHOWN = 5
TAGS_SHOWN = 5


class Lookup(Protocol):
    """What panels read besides the object: the live state (`live.LiveState`)."""

    def get(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def of_kind(self, kind: str) -> Iterable[Mapping[str, Any]]: ...


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


def _git_repository(obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[Fact]:
    artifact = (obj.get("status") or {}).get("artifact") or {}
    if not artifact.get("revision"):
        return []
    out = [Fact("Revision", str(artifact["revision"]), str(artifact.get("lastUpdateTime") or ""))]
    subject = artifact_subject(events)
    if subject:
        out.append(Fact("Commit", subject, "subject from the NewArtifact event"))
    return out


def _oci_repository(obj: Mapping[str, Any]) -> list[Fact]:
    artifact = (obj.get("status") or {}).get("artifact") or {}
    if not artifact.get("revision"):
        return []
    out = [Fact("Revision", str(artifact["revision"]), str(artifact.get("lastUpdateTime") or ""))]
    out.extend(Fact(label, value, "artifact annotation") for label, value in oci_facts(obj))
    return out


def _image_ref(ref: Any) -> str:
    if not isinstance(ref, Mapping) or not ref.get("tag"):
        return ""
    digest = f"@{ref['digest']}" if ref.get("digest") else ""
    return f"{ref.get('name') or ''}:{ref['tag']}{digest}"


def _rule(spec: Mapping[str, Any]) -> str:
    """The policy's rule as a sentence: how it orders the tags it keeps."""
    policy = spec.get("policy") or {}
    if (policy.get("semver") or {}).get("range"):
        return f"highest version in semver range '{policy['semver']['range']}'"
    for kind in ("alphabetical", "numerical"):
        if kind in policy:
            order = str((policy.get(kind) or {}).get("order") or "asc")
            word = "last" if order == "asc" else "first"
            return f"{word} tag in {kind} order ({order})"
    return "no rule"


def _scan(repo: Mapping[str, Any] | None) -> str:
    scan = ((repo or {}).get("status") or {}).get("lastScanResult") or {}
    if not scan:
        return ""
    latest = ", ".join(str(t) for t in (scan.get("latestTags") or [])[:TAGS_SHOWN])
    return f"{scan.get('tagCount', 0)} tags at {scan.get('scanTime') or '?'}" + (
        f"; latest: {latest}" if latest else "")


def _image_policy(obj: Mapping[str, Any], namespace: str, live: Lookup) -> list[Fact]:
    """Which tag the policy picked, by which rule, from which scan."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    repo_ref = spec.get("imageRepositoryRef") or {}
    repo_ns = str(repo_ref.get("namespace") or namespace)
    repo_name = str(repo_ref.get("name") or "")
    repo = live.get("ImageRepository", repo_ns, repo_name)
    chosen = _image_ref(status.get("latestRef")) or str(status.get("latestImage") or "")
    previous = _image_ref(status.get("observedPreviousRef"))
    out = [Fact("Chose", chosen or "nothing yet", f"was {previous}" if previous else "")]
    filters = spec.get("filterTags") or {}
    why = _rule(spec)
    if filters.get("pattern"):
        why += f", among tags matching '{filters['pattern']}'"
        if filters.get("extract"):
            why += f" (ordered by '{filters['extract']}')"
    out.append(Fact("Rule", why))
    out.append(Fact("From scan", f"ImageRepository {repo_ns}/{repo_name}",
                    (_scan(repo) or "no scan yet") if repo is not None else "not found"))
    return out


def _image_repository(obj: Mapping[str, Any], namespace: str, live: Lookup) -> list[Fact]:
    spec = obj.get("spec") or {}
    out = [Fact("Image", str(spec.get("image") or "")),
           Fact("Last scan", _scan(obj) or "no scan yet")]
    name = str((obj.get("metadata") or {}).get("name") or "")
    for policy in live.of_kind("ImagePolicy"):
        ref = (policy.get("spec") or {}).get("imageRepositoryRef") or {}
        pmeta = policy.get("metadata") or {}
        pns = str(pmeta.get("namespace") or "")
        if ref.get("name") == name and str(ref.get("namespace") or pns) == namespace:
            chosen = _image_ref((policy.get("status") or {}).get("latestRef"))
            out.append(Fact("Policy", f"{pns}/{pmeta.get('name')}: {chosen or 'nothing yet'}",
                            _rule(policy.get("spec") or {})))
    return out


def _image_update_automation(obj: Mapping[str, Any], namespace: str,
                             events: Sequence[Mapping[str, Any]]) -> list[Fact]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    git = spec.get("git") or {}
    push = (git.get("push") or {}).get("branch") or \
        ((git.get("checkout") or {}).get("ref") or {}).get("branch") or ""
    out = [Fact("Source", _ref(spec.get("sourceRef"), namespace),
                f"push to branch {push}" if push else "")]
    if status.get("lastPushCommit"):
        out.append(Fact("Last push", str(status["lastPushCommit"]),
                        str(status.get("lastPushTime") or "")))
    else:
        out.append(Fact("Last push", "nothing pushed yet"))
    observed = status.get("observedPolicies") or {}
    for name in sorted(observed):
        out.append(Fact("Applied", f"{name}: {_image_ref(observed[name])}",
                        "policy choice written to the source"))
    runs = [e for e in events if e.get("reason") == "Succeeded"][:1]
    if runs:
        out.append(Fact("Last run", str(runs[0].get("message") or ""), _when(runs[0])))
    return out


def facts(kind: str, obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]],
          live: Lookup) -> list[Fact]:
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
    if kind == "GitRepository":
        return _git_repository(obj, events)
    if kind == "OCIRepository":
        return _oci_repository(obj)
    if kind == "ImagePolicy":
        return _image_policy(obj, namespace, live)
    if kind == "ImageRepository":
        return _image_repository(obj, namespace, live)
    if kind == "ImageUpdateAutomation":
        return _image_update_automation(obj, namespace, events)
    return []
