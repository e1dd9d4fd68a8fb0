"""Pods stamped from a controller's pod template, as every workload controller makes them.

The pod gets the template's labels, annotations and finalizers, the
controller's ownerReference, and a copy of the template's spec; the caller
adds what is specific to its kind (a hash label, an ordinal, a completion
index). The API server then defaults the spec like any other pod.
"""

from __future__ import annotations

from typing import Any

from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]


def pod_from_template(template: Obj, owner_ref: Obj, *, name: str = "",
                      generate_name: str = "", labels: dict[str, str] | None = None,
                      annotations: dict[str, str] | None = None) -> Obj:
    tmeta = template.get("metadata") or {}
    m: Obj = {"name": name} if name else {"generateName": generate_name}
    lbl = {**(tmeta.get("labels") or {}), **(labels or {})}
    if lbl:
        m["labels"] = lbl
    ann = {**(tmeta.get("annotations") or {}), **(annotations or {})}
    if ann:
        m["annotations"] = ann
    if tmeta.get("finalizers"):
        m["finalizers"] = list(tmeta["finalizers"])
    m["ownerReferences"] = [dict(owner_ref)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m,
            "spec": json_copy(template.get("spec") or {})}
