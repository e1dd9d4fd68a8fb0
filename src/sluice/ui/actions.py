"""What the UI's buttons do: reconcile (optionally with the source), suspend, resume.

They do exactly what `flux reconcile|suspend|resume` do: annotate
``reconcile.fluxcd.io/requestedAt`` (plus ``forceAt`` when asked), or set
``spec.suspend``. Each action is also written as a Kubernetes Event on the
object, naming the UI session that asked (``by sluice-ui session 3f2a``), so
`kubectl get events` and `sluice events` show who did what.

Progress is followed from the object itself: an action is done when
``status.lastHandledReconcileAt`` equals the value it wrote, and its outcome
is then the Ready condition (`Progress`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Obj, Objects
from sluice.ui.errors import ActionRefused
from sluice.ui.summary import summarize

__all__ = ["ACTIONS", "Progress", "follow", "run_action"]

ACTIONS = ("reconcile", "reconcile-with-source", "suspend", "resume")
FORCE_ANNOTATION = "reconcile.fluxcd.io/forceAt"
# Kinds without a status never record lastHandledReconcileAt: an annotation is all.
_STATUSLESS = ("Alert", "Provider")


@dataclass(frozen=True)
class Progress:
    kind: str
    namespace: str
    name: str
    action: str
    requested_at: str  # "" for suspend/resume
    phase: str  # "requested", "handled", "ready", "failed", "done"
    message: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _source_of(kind: str, obj: Mapping[str, Any]) -> tuple[str, str, str] | None:
    spec = obj.get("spec") or {}
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    ref = spec.get("sourceRef")
    if kind == "HelmRelease":
        ref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or spec.get("chartRef")
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    return str(ref.get("kind") or "GitRepository"), str(ref.get("namespace") or ns), str(ref["name"])


async def _annotate(objects: Objects, api_version: str, kind: str, namespace: str, name: str,
                    stamp: str) -> None:
    mapping = await objects.mapping(api_version, kind)
    await objects.merge_patch(mapping, name, {"metadata": {"annotations": {
        RECONCILE_REQUEST_ANNOTATION: stamp}}}, namespace)


async def run_action(objects: Objects, recorder: EventRecorder, obj: Obj, action: str,
                     session: str, api_versions: Mapping[str, str]) -> Progress:
    """Apply `action` to `obj`; returns the first progress step."""
    if action not in ACTIONS:
        raise ActionRefused(f"unknown action {action!r}")
    kind = str(obj.get("kind"))
    meta = obj.get("metadata") or {}
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    mapping = await objects.mapping(str(obj.get("apiVersion")), kind)
    who = f"by sluice-ui session {session[:4]}"
    if action in ("suspend", "resume"):
        await objects.merge_patch(mapping, name, {"spec": {"suspend": action == "suspend"}}, ns)
        await recorder.normal(obj, "Suspended" if action == "suspend" else "Resumed",
                              f"{action} {who}")
        return Progress(kind, ns, name, action, "", "done",
                        "suspended" if action == "suspend" else "resumed")
    if (obj.get("spec") or {}).get("suspend") is True:
        raise ActionRefused(f"{kind} {ns}/{name} is suspended: resume it first")
    stamp = _now()
    if action == "reconcile-with-source":
        source = _source_of(kind, obj)
        if source is not None and source[0] in api_versions:
            await _annotate(objects, api_versions[source[0]], *source, stamp)
    await objects.merge_patch(mapping, name, {"metadata": {"annotations": {
        RECONCILE_REQUEST_ANNOTATION: stamp}}}, ns)
    await recorder.normal(obj, "ReconcileRequested", f"reconcile requested {who}")
    phase = "done" if kind in _STATUSLESS else "requested"
    return Progress(kind, ns, name, action, stamp, phase, "reconcile requested")


def follow(progress: Progress, obj: Obj | None) -> Progress:
    """Where a reconcile stands now: requested -> handled -> ready/failed."""
    if progress.phase in ("done", "ready", "failed") or not progress.requested_at:
        return progress
    if obj is None:
        return Progress(**{**progress.__dict__, "phase": "failed", "message": "object deleted"})
    handled = (obj.get("status") or {}).get("lastHandledReconcileAt")
    if handled != progress.requested_at:
        return progress
    s = summarize(obj)
    if s.state == "ready":
        phase = "ready"
    elif s.state in ("failed", "stalled"):
        phase = "failed"
    else:
        phase = "handled"
    return Progress(**{**progress.__dict__, "phase": phase,
                       "message": s.message or s.state})
