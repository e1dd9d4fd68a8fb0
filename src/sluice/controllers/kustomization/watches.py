"""What besides a Kustomization's own changes makes it reconcile now.

Flux users expect a push to reach the cluster as soon as the source
controller has the new commit, not at the Kustomization's next interval.
kustomize-controller watches the source kinds and, when a source publishes
an artifact with a new revision (or digest), enqueues every Kustomization
whose ``sourceRef`` names it, except those already Ready at that revision.
Kustomizations are indexed by source (`SOURCE_INDEX`, values from
`source_keys`) so this costs a dictionary lookup.

Sluice also enqueues the Kustomizations that ``dependsOn`` one that has just
become Ready (or applied a new revision), indexed by `DEPENDS_INDEX`, so an
ordered fleet converges without waiting out ``--requeue-dependency``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sluice.api.meta import READY
from sluice.controllers.kustomization.dependencies import source_key
from sluice.kube.objects import Obj
from sluice.runtime.informer import MODIFIED, Informer
from sluice.runtime.reconciler import Request

__all__ = [
    "DEPENDS_INDEX",
    "SOURCE_INDEX",
    "artifact_of",
    "is_ready",
    "requests_for_dependents",
    "requests_for_source",
    "source_keys",
]

SOURCE_INDEX = "sourceRef"
DEPENDS_INDEX = "dependsOn"

MapFunc = Callable[[str, Obj | None, Obj], list[Request]]


def source_keys(obj: Obj) -> Iterable[str]:
    """Index values: the source a Kustomization builds from."""
    meta = obj.get("metadata") or {}
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    if ref.get("kind") and ref.get("name"):
        yield source_key(str(ref["kind"]), str(ref.get("namespace") or meta.get("namespace")
                                                or ""), str(ref["name"]))


def artifact_of(obj: Obj | None) -> dict[str, Any] | None:
    """A source's ``status.artifact``, when it has a revision."""
    art = ((obj or {}).get("status") or {}).get("artifact")
    return art if isinstance(art, dict) and art.get("revision") else None


def is_ready(obj: Obj | None) -> bool:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == READY:
            return cond.get("status") == "True"
    return False


def _request(obj: Obj) -> Request:
    meta = obj.get("metadata") or {}
    return Request(str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def requests_for_source(kustomizations: Informer, kind: str) -> MapFunc:
    """Kustomizations to reconcile at once when a ``kind`` source publishes an artifact."""

    def map_fn(etype: str, old: Obj | None, new: Obj) -> list[Request]:
        if etype != MODIFIED:
            return []
        art, before = artifact_of(new), artifact_of(old)
        if art is None or (before is not None and before.get("revision") == art.get("revision")
                           and before.get("digest") == art.get("digest")):
            return []
        meta = new.get("metadata") or {}
        key = source_key(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        out = []
        for ks in kustomizations.by_index(SOURCE_INDEX, key):
            status = ks.get("status") or {}
            # Already applied at this revision: the next interval will do.
            if is_ready(ks) and status.get("lastAttemptedRevision") == art.get("revision"):
                continue
            out.append(_request(ks))
        return out

    return map_fn


def requests_for_dependents(kustomizations: Informer) -> MapFunc:
    """Kustomizations depending on one that has just become ready or applied a revision."""

    def map_fn(etype: str, old: Obj | None, new: Obj) -> list[Request]:
        if etype != MODIFIED or not is_ready(new):
            return []
        before = (old or {}).get("status") or {}
        after = new.get("status") or {}
        if is_ready(old) and before.get("lastAppliedRevision") == after.get(
                "lastAppliedRevision") and before.get("observedGeneration") == after.get(
                "observedGeneration"):
            return []
        meta = new.get("metadata") or {}
        key = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        return [_request(ks) for ks in kustomizations.by_index(DEPENDS_INDEX, key)]

    return map_fn
