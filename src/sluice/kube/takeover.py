"""Field-ownership take-over: the fields kubectl (and others) set become the controller's.

Before writing an object, kustomize-controller transfers the field ownership
of ``kubectl`` (client-side and server-side apply, edits, scales),
``before-first-apply`` and its own old Update entries to its Apply entry, and
drops ``kubectl.kubernetes.io/last-applied-configuration`` (and Flux v1's
leftovers). Fields someone set by hand are then owned by the controller, so
the next apply resets them or, when Git no longer has them, removes them.
`cleanup_body` computes the live object so rewritten, or None when there is
nothing to take over; `sluice.kube.apply` writes it.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from sluice.api.meta import KUSTOMIZE_SSA_ANNOTATION, SSA_MERGE
from sluice.kube.apply_types import ApplyOptions
from sluice.kube.inventory import any_in_metadata

Obj = dict[str, Any]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Left behind by kubectl and by Flux v1; removed on apply as Flux does.
CLEANUP_ANNOTATIONS: tuple[str, ...] = (LAST_APPLIED, "kustomize.toolkit.fluxcd.io/checksum",
                                        "fluxcd.io/sync-checksum")
CLEANUP_LABELS: tuple[str, ...] = ("fluxcd.io/sync-gc-mark",)
# managedFields entries whose fields the controller takes over: edits made
# with kubectl (client-side apply records "kubectl-client-side-apply" in
# recent releases, "kubectl" before; scale/edit/patch record "kubectl"),
# server-side applies with --force-conflicts, fields that predate field
# tracking, and the controller's own Update entries from before it used SSA.
_CLEANUP_MANAGERS: tuple[tuple[str, str], ...] = (
    ("kubectl", "Apply"),
    ("kubectl", "Update"),
    ("kubectl-client-side-apply", "Update"),
    ("before-first-apply", "Update"),
)

def _union(a: Any, b: Any) -> Any:
    """Union of two fieldsV1 trees."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return copy.deepcopy(b if isinstance(b, dict) else a)
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = _union(out[k], v) if k in out else copy.deepcopy(v)
    return out



def cleanup_body(existing: Obj, desired: Obj, opts: ApplyOptions,
                 field_manager: str) -> Obj | None:
    """The live object with kubectl's ownership transferred, or None if already clean."""
    if not opts.cleanup or any_in_metadata(desired, KUSTOMIZE_SSA_ANNOTATION, SSA_MERGE) \
            or any_in_metadata(existing, KUSTOMIZE_SSA_ANNOTATION, SSA_MERGE):
        return None
    meta = existing.get("metadata") or {}
    managers = set(_CLEANUP_MANAGERS)
    managers.add((field_manager, "Update"))
    managers.update((m, op) for m in opts.override_managers for op in ("Apply", "Update"))
    entries = meta.get("managedFields") or []
    taken: Any = {}
    kept: list[Obj] = []
    found = False
    for entry in entries:
        ident = (entry.get("manager"), entry.get("operation"))
        if ident in managers and entry.get("subresource", "") != "status":
            taken = _union(taken, entry.get("fieldsV1") or {})
            found = True
        else:
            kept.append(entry)
    annotations = dict(meta.get("annotations") or {})
    labels = dict(meta.get("labels") or {})
    stale_ann = [k for k in CLEANUP_ANNOTATIONS if k in annotations]
    stale_lab = [k for k in CLEANUP_LABELS if k in labels]
    if not found and not stale_ann and not stale_lab:
        return None
    body = copy.deepcopy(existing)
    bmeta = body["metadata"]
    if found:
        own = next((e for e in kept if e.get("manager") == field_manager
                    and e.get("operation") == "Apply" and not e.get("subresource")), None)
        if own is None:
            own = {"manager": field_manager, "operation": "Apply",
                   "apiVersion": existing.get("apiVersion", ""),
                   "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "fieldsType": "FieldsV1", "fieldsV1": {}}
            kept.append(own)
        own["fieldsV1"] = _union(own.get("fieldsV1") or {}, taken)
        bmeta["managedFields"] = kept
    # Only maps that lose a key are rewritten, and an emptied one goes: sending
    # ``annotations: {}`` for an object that had none would be a change of its
    # own, recorded as a kustomize-controller Update entry that the next
    # reconcile would take over again, reporting the object configured each time.
    for key, stale, values in (("annotations", stale_ann, annotations),
                               ("labels", stale_lab, labels)):
        if not stale:
            continue
        for k in stale:
            values.pop(k)
        if values:
            bmeta[key] = values
        else:
            bmeta.pop(key, None)
    return body

