"""The ReplicaSet controller: keep ``spec.replicas`` pods, report how many are ready.

Pods are named ``<replicaset>-<5 random characters>`` and carry the
ReplicaSet's controller ownerReference. Scaling down deletes the least
established pods first (unscheduled, pending, not ready, newest), as
Kubernetes does, so a rollout never removes a ready pod while an unready one
of the same ReplicaSet is left. The status is computed after this round's
creations and deletions, so the Deployment controller reading it next sees
the pods that exist, never ones already being deleted.
"""

from __future__ import annotations

import time
from typing import Any

from sluice.apiserver.simulation.context import KCM, PODS, REPLICASETS, Sim
from sluice.apiserver.simulation.podtemplate import pod_from_template
from sluice.apiserver.simulation.recorder import REPLICASET_CONTROLLER
from sluice.apiserver.simulation.shapes import (
    available_in,
    int_field,
    labels_of,
    meta,
    name_of,
    owner_reference,
    pod_active,
    pod_available,
    pod_ready,
    scale_down_order,
    terminating,
    uid_of,
)

Obj = dict[str, Any]

# Pods created per ReplicaSet per round; the rest come in the next rounds.
BURST = 500


class ReplicaSets:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def sync(self, ns: str, name: str) -> None:
        rs = self.sim.get(REPLICASETS, ns, name)
        if rs is None:
            return
        self.sim.adopt(rs, PODS, "apps/v1", "ReplicaSet")
        active = [p for p in self.sim.owned(rs, PODS) if pod_active(p)]
        want = int_field(rs, "spec", "replicas", default=1)
        # A ReplicaSet being deleted keeps its pods for the garbage collector to remove.
        if not terminating(rs):
            diff = len(active) - want
            if diff < 0:
                template = (rs.get("spec") or {}).get("template") or {}
                ref = owner_reference(rs, "apps/v1", "ReplicaSet")
                for _ in range(min(-diff, BURST)):
                    body = pod_from_template(template, ref, generate_name=f"{name}-")
                    created = self.sim.create(PODS, ns, body, KCM)
                    if created is None:
                        break
                    active.append(created)
                    self.sim.events.normal(rs, "SuccessfulCreate",
                                           f"Created pod: {name_of(created)}",
                                           REPLICASET_CONTROLLER,
                                           api_version="apps/v1", kind="ReplicaSet")
                if -diff > BURST:
                    self.sim.enqueue(("rs", ns, name))
            elif diff > 0:
                victims = sorted(active, key=scale_down_order)[:diff]
                for pod in victims:
                    if self.sim.terminate_pod(pod):
                        self.sim.events.normal(rs, "SuccessfulDelete",
                                               f"Deleted pod: {name_of(pod)}",
                                               REPLICASET_CONTROLLER,
                                               api_version="apps/v1", kind="ReplicaSet")
                gone = {uid_of(p) for p in victims}
                active = [p for p in active if uid_of(p) not in gone]
        self._write_status(rs, active)

    def _write_status(self, rs: Obj, active: list[Obj]) -> None:
        min_ready = int_field(rs, "spec", "minReadySeconds")
        at = time.time()
        tlabels = labels_of((rs.get("spec") or {}).get("template") or {})
        fully = sum(1 for p in active
                    if all(labels_of(p).get(k) == v for k, v in tlabels.items()))
        ready = sum(1 for p in active if pod_ready(p))
        available = sum(1 for p in active if pod_available(p, min_ready, at))
        status: Obj = {"replicas": len(active)}
        if fully:
            status["fullyLabeledReplicas"] = fully
        if ready:
            status["readyReplicas"] = ready
        if available:
            status["availableReplicas"] = available
        generation = meta(rs).get("generation")
        if generation is not None:
            status["observedGeneration"] = generation
        conditions = (rs.get("status") or {}).get("conditions")
        if conditions:
            status["conditions"] = conditions
        self.sim.write_status(REPLICASETS, rs, status, KCM)
        # Pods ready but not yet ready for minReadySeconds: look again when they will be.
        waits = [w for p in active if (w := available_in(p, min_ready, at)) is not None]
        if waits:
            self.sim.after(min(waits) + 0.01, ("rs", str(meta(rs).get("namespace") or ""),
                                               name_of(rs)))
