"""The status the embedded cluster writes on a CustomResourceDefinition it serves.

kube-apiserver's apiextensions controllers accept a CRD's names and mark it
``Established`` a moment after it is stored; clients (``kubectl wait
--for=condition=established``, Flux's health checks of CRDs) wait for those
conditions. The embedded cluster serves a CRD's types as soon as
:class:`sluice.apiserver.rest.registry.Cluster` registers it, so it writes the
same status in the same turn of the event loop: `established` gives it.
"""

from __future__ import annotations

import copy
from typing import Any

from sluice.apiserver.rest.objectmeta import now_rfc3339

__all__ = ["established"]

Obj = dict[str, Any]


def established(crd: Obj) -> Obj | None:
    """A copy of ``crd`` with its names accepted and ``Established``; None if it already is."""
    status = crd.get("status") or {}
    conds = {c.get("type") for c in status.get("conditions") or []
             if c.get("status") == "True"}
    if {"Established", "NamesAccepted"} <= conds:
        return None
    now = now_rfc3339()
    new = copy.deepcopy(crd)
    names = new["spec"]["names"]
    new["status"] = {
        "acceptedNames": {k: names[k] for k in
                          ("kind", "listKind", "plural", "singular", "shortNames",
                           "categories") if k in names},
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now,
             "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now,
             "reason": "InitialNamesAccepted", "message": "the initial names have been "
             "accepted"},
        ],
        "storedVersions": [v["name"] for v in new["spec"].get("versions", [])
                           if v.get("storage")],
    }
    return new
