"""The DaemonSet controller, for a cluster of one node.

A DaemonSet whose ``nodeSelector`` matches ``sluice-node`` gets one pod
there (``<name>-<5 random characters>``, pinned with node affinity and the
tolerations Kubernetes adds to daemon pods); one that does not match gets
none. A RollingUpdate replaces the pod when the template changes: with
``maxSurge`` the new pod starts first and the old one goes once the new one
is ready, otherwise the old one is deleted first. ``OnDelete`` waits for the
user. Status counts nodes, as Kubernetes does: desired, current, ready,
updated, available, each 0 or 1 here.
"""

from __future__ import annotations

import time
from typing import Any

from sluice.apiserver.simulation.context import DAEMONSETS, KCM, NODE_NAME, NODES, PODS, Sim
from sluice.apiserver.simulation.podtemplate import pod_from_template
from sluice.apiserver.simulation.revisions import ensure_revision
from sluice.apiserver.simulation.shapes import (
    REVISION_HASH,
    int_field,
    labels_of,
    meta,
    name_of,
    owner_reference,
    pod_active,
    pod_available,
    pod_phase,
    pod_ready,
    scaled_value,
    terminating,
)

Obj = dict[str, Any]

_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def _fits(template: Obj, node: Obj | None) -> bool:
    if node is None:
        return False
    selector = (template.get("spec") or {}).get("nodeSelector") or {}
    labels = labels_of(node)
    return all(labels.get(k) == v for k, v in selector.items())


class DaemonSets:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def sync(self, ns: str, name: str) -> None:
        ds = self.sim.get(DAEMONSETS, ns, name)
        if ds is None or terminating(ds):
            return
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        _, h = ensure_revision(self.sim, ds, "DaemonSet")
        self.sim.adopt(ds, PODS, "apps/v1", "DaemonSet")
        eligible = _fits(template, self.sim.get(NODES, "", NODE_NAME))
        pods = self.sim.owned(ds, PODS)
        for pod in pods:
            if not terminating(pod) and pod_phase(pod) in ("Succeeded", "Failed"):
                self.sim.terminate_pod(pod)  # a daemon that exits is replaced
        active = [p for p in pods if pod_active(p)]
        updated = [p for p in active if labels_of(p).get(REVISION_HASH) == h]
        old = [p for p in active if labels_of(p).get(REVISION_HASH) != h]
        strategy = spec.get("updateStrategy") or {}
        if not eligible:
            for pod in active:
                self.sim.terminate_pod(pod)
            active = []
        else:
            for extra in updated[1:]:
                self.sim.terminate_pod(extra)
            updated = updated[:1]
            if old and strategy.get("type", "RollingUpdate") == "RollingUpdate":
                surge = scaled_value(((strategy.get("rollingUpdate") or {}).get("maxSurge", 0)),
                                     1, round_up=True)
                if surge and not updated:
                    made = self._create_pod(ds, h)
                    updated = [made] if made is not None else []
                elif not surge or pod_ready(updated[0]):
                    for pod in old:
                        self.sim.terminate_pod(pod)
                    old = []
            active = updated + old
            if not active:
                made = self._create_pod(ds, h)
                active = [made] if made is not None else []
        self._write_status(ds, active, h, eligible)

    def _create_pod(self, ds: Obj, h: str) -> Obj | None:
        spec = ds.get("spec") or {}
        labels = {REVISION_HASH: h,
                  "pod-template-generation": str(meta(ds).get("generation", 1))}
        body = pod_from_template(spec.get("template") or {},
                                 owner_reference(ds, "apps/v1", "DaemonSet"),
                                 generate_name=f"{name_of(ds)}-", labels=labels)
        pspec = body["spec"]
        pspec["affinity"] = {**(pspec.get("affinity") or {}), "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In",
                                  "values": [NODE_NAME]}]}]}}}
        have = {(t.get("key"), t.get("effect")) for t in pspec.get("tolerations") or []}
        pspec["tolerations"] = list(pspec.get("tolerations") or []) + [
            dict(t) for t in _TOLERATIONS if (t["key"], t["effect"]) not in have]
        return self.sim.create(PODS, str(meta(ds).get("namespace") or ""), body, KCM)

    def _write_status(self, ds: Obj, active: list[Obj], h: str, eligible: bool) -> None:
        min_ready = int_field(ds, "spec", "minReadySeconds")
        at = time.time()
        scheduled = 1 if active and eligible else 0
        ready = 1 if eligible and any(pod_ready(p) for p in active) else 0
        available = 1 if eligible and any(pod_available(p, min_ready, at) for p in active) else 0
        updated = 1 if eligible and any(labels_of(p).get(REVISION_HASH) == h
                                        for p in active) else 0
        desired = 1 if eligible else 0
        status: Obj = {"currentNumberScheduled": scheduled,
                       "desiredNumberScheduled": desired,
                       "numberMisscheduled": 1 if active and not eligible else 0,
                       "numberReady": ready}
        generation = meta(ds).get("generation")
        if generation is not None:
            status["observedGeneration"] = generation
        if updated:
            status["updatedNumberScheduled"] = updated
        if available:
            status["numberAvailable"] = available
        if desired - available > 0:
            status["numberUnavailable"] = desired - available
        self.sim.write_status(DAEMONSETS, ds, status, KCM)
