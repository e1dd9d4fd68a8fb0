"""ControllerRevisions: the template history of StatefulSets and DaemonSets.

Where a Deployment keeps one ReplicaSet per template, StatefulSets and
DaemonSets keep a ControllerRevision ``<owner>-<hash>`` holding the template
and an increasing ``revision`` number; their pods are labelled with the
revision they were made from (``controller-revision-hash``), which is how
``kubectl rollout status`` and ``kubectl rollout history`` follow them.
Going back to an older template makes its revision the newest again.
"""

from __future__ import annotations

from typing import Any

from sluice.apiserver.simulation.context import CONTROLLER_REVISIONS, KCM, Sim
from sluice.apiserver.simulation.shapes import (
    int_field,
    meta,
    name_of,
    owner_reference,
    template_hash,
    uid_of,
)
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]

HASH_LABEL = "controller.kubernetes.io/hash"


def ensure_revision(sim: Sim, owner: Obj, kind: str) -> tuple[str, str]:
    """The (name, hash) of the revision for ``owner``'s current template, made if missing."""
    spec = owner.get("spec") or {}
    template = spec.get("template") or {}
    h = template_hash(template)
    rname = f"{name_of(owner)}-{h}"
    ns = str(meta(owner).get("namespace") or "")
    revisions = sim.owned(owner, CONTROLLER_REVISIONS)
    latest = max((int_field(r, "revision") for r in revisions), default=0)
    existing = next((r for r in revisions if name_of(r) == rname), None)
    if existing is not None:
        if int_field(existing, "revision") < latest:
            def renumber(o: Obj) -> None:
                o["revision"] = latest + 1

            sim.write_spec(CONTROLLER_REVISIONS, existing, KCM, renumber)
        return rname, h
    if sim.get(CONTROLLER_REVISIONS, ns, rname) is not None:
        return rname, h  # same name owned by something else: use it as a label only
    labels = dict((spec.get("selector") or {}).get("matchLabels") or {})
    labels[HASH_LABEL] = h
    data_template = json_copy(template)
    data_template["$patch"] = "replace"
    body: Obj = {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": rname, "labels": labels,
                     "ownerReferences": [owner_reference(owner, "apps/v1", kind)]},
        "data": {"spec": {"template": data_template}},
        "revision": latest + 1,
    }
    sim.create(CONTROLLER_REVISIONS, ns, body, KCM)
    limit = int_field(owner, "spec", "revisionHistoryLimit", default=10)
    status = owner.get("status") or {}
    keep = {status.get("currentRevision"), status.get("updateRevision")}
    _trim(sim, [r for r in revisions if name_of(r) not in keep], limit)
    return rname, h


def revision_template(sim: Sim, namespace: str, name: str) -> Obj | None:
    """The pod template a revision recorded."""
    rev = sim.get(CONTROLLER_REVISIONS, namespace, name)
    if rev is None:
        return None
    tpl = ((rev.get("data") or {}).get("spec") or {}).get("template")
    if not isinstance(tpl, dict):
        return None
    out = json_copy(tpl)
    out.pop("$patch", None)
    return out


def _trim(sim: Sim, revisions: list[Obj], limit: int) -> None:
    """Drop the oldest revisions beyond the history limit (the new one and those in use are
    not in the list)."""
    extra = len(revisions) - max(limit, 0)
    for rev in sorted(revisions, key=lambda r: int_field(r, "revision"))[:max(0, extra)]:
        sim.delete(CONTROLLER_REVISIONS, str(meta(rev).get("namespace") or ""), name_of(rev),
                   uid=uid_of(rev))
