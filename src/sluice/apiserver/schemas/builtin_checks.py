"""Validation of built-in kinds beyond their schema: what users hit most on a real cluster.

The registry prunes and defaults built-in objects with their OpenAPI schemas;
this module adds the rules kube-apiserver's hand-written validators enforce
that a schema cannot say: selectors matching pod templates, container names
and images, Service ports, fields that may not change once set (what a
Kustomization's ``force`` recreates for), and the allocations (ClusterIP,
nodePorts) an update keeps when a client leaves them out.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from sluice.apiserver.errors import BadRequest, Cause
from sluice.apiserver.rest.selectors import LabelSelector
from sluice.apiserver.schemas.resources import ResourceType

Obj = dict[str, Any]


def keep_allocated(old: Obj, new: Obj) -> None:
    """A Service update that leaves out allocated values keeps them (kube-apiserver's
    patchAllocatedValues), so ``kubectl replace`` of the original manifest works."""
    ospec, nspec = old.get("spec"), new.get("spec")
    if not isinstance(ospec, dict) or not isinstance(nspec, dict):
        return
    if nspec.get("type", "ClusterIP") != "ExternalName" and not nspec.get("clusterIP"):
        for k in ("clusterIP", "clusterIPs"):
            if k in ospec:
                nspec[k] = copy.deepcopy(ospec[k])
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                 for p in ospec.get("ports") or [] if isinstance(p, dict)}
    for p in nspec.get("ports") or []:
        if isinstance(p, dict) and not p.get("nodePort"):
            node_port = old_ports.get((p.get("port"), p.get("protocol", "TCP")))
            if node_port and nspec.get("type") in ("NodePort", "LoadBalancer"):
                p["nodePort"] = node_port


def builtin_checks(rt: ResourceType, obj: Obj) -> list[Cause]:
    """The validation users hit most often on built-in kinds."""
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    if rt.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet") and rt.group == "apps":
        sel = LabelSelector.from_dict(spec.get("selector"))
        if not spec.get("selector"):
            causes.append(Cause("spec.selector", "Required value", "FieldValueRequired"))
        else:
            tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not sel.matches({"metadata": {"labels": tlabels}}):
                causes.append(Cause("spec.template.metadata.labels",
                                    f"Invalid value: {json.dumps(tlabels)}: `selector` does not "
                                    "match template `labels`"))
        causes += pod_spec_checks((spec.get("template") or {}).get("spec") or {},
                                   "spec.template.spec")
    elif rt.kind == "Pod" and rt.group == "":
        causes += pod_spec_checks(spec, "spec")
    elif rt.kind == "Service" and rt.group == "":
        for i, p in enumerate(spec.get("ports") or []):
            if not isinstance(p, dict) or "port" not in p:
                causes.append(Cause(f"spec.ports[{i}].port", "Required value",
                                    "FieldValueRequired"))
            elif not isinstance(p["port"], int) or not 0 < p["port"] < 65536:
                causes.append(Cause(f"spec.ports[{i}].port", f"Invalid value: {p['port']}: must "
                                    "be between 1 and 65535, inclusive"))
    elif rt.kind in ("ConfigMap", "Secret") and rt.group == "":
        for k in ("data", "binaryData"):
            v = obj.get(k)
            if v is not None and not isinstance(v, dict):
                causes.append(Cause(k, "Invalid value: must be a map", "FieldValueTypeInvalid"))
            elif v and not all(isinstance(x, str) for x in v.values()):
                # map[string]string (or []byte as base64): anything else fails to decode.
                raise BadRequest(f"{rt.kind} in version \"v1\" cannot be handled as a "
                                 f"{rt.kind}: {k}: values must be strings")
    return causes


def immutable_checks(rt: ResourceType, old: Obj, new: Obj) -> list[Cause]:
    """Fields the API server refuses to change once set (what ``force`` recreates for)."""
    causes: list[Cause] = []
    ospec, nspec = old.get("spec") or {}, new.get("spec") or {}

    def frozen(field: str, before: Any, after: Any) -> None:
        if before != after:
            causes.append(Cause(field, f"Invalid value: {json.dumps(after)}: field is immutable"))

    kind = (rt.group, rt.kind)
    if kind in {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "DaemonSet"),
                ("apps", "StatefulSet")}:
        frozen("spec.selector", ospec.get("selector"), nspec.get("selector"))
    elif kind == ("batch", "Job"):
        frozen("spec.selector", ospec.get("selector"), nspec.get("selector"))
        frozen("spec.template", ospec.get("template"), nspec.get("template"))
    elif kind == ("", "Service"):
        if ospec.get("clusterIP") and nspec.get("clusterIP") and \
                ospec["clusterIP"] != nspec["clusterIP"]:
            frozen("spec.clusterIP", ospec["clusterIP"], nspec["clusterIP"])
    elif kind == ("", "PersistentVolumeClaim"):
        def without_requests(spec: Obj) -> Obj:
            spec = copy.deepcopy(spec)
            (spec.get("resources") or {}).pop("requests", None)
            spec.pop("volumeName", None)
            return spec

        if without_requests(ospec) != without_requests(nspec):
            causes.append(Cause("spec", "Forbidden: spec is immutable after creation except "
                                "resources.requests and volumeAttributesClassName for bound "
                                "claims", "FieldValueForbidden"))
    elif kind in {("", "ConfigMap"), ("", "Secret")} and old.get("immutable"):
        for field in ("data", "binaryData", "stringData"):
            if old.get(field) != new.get(field) and field != "stringData":
                causes.append(Cause(field, "Forbidden: field is immutable when `immutable` is "
                                    "set", "FieldValueForbidden"))
    return causes


def pod_spec_checks(spec: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not containers:
        return [Cause(f"{path}.containers", "Required value", "FieldValueRequired")]
    seen: set[str] = set()
    for i, c in enumerate(containers):
        if not isinstance(c, dict):
            causes.append(Cause(f"{path}.containers[{i}]", "Invalid value: must be an object",
                                "FieldValueTypeInvalid"))
            continue
        if not c.get("name"):
            causes.append(Cause(f"{path}.containers[{i}].name", "Required value",
                                "FieldValueRequired"))
        elif c["name"] in seen:
            causes.append(Cause(f"{path}.containers[{i}].name",
                                f'Duplicate value: "{c["name"]}"', "FieldValueDuplicate"))
        else:
            seen.add(c["name"])
        if not c.get("image"):
            causes.append(Cause(f"{path}.containers[{i}].image", "Required value",
                                "FieldValueRequired"))
    return causes
