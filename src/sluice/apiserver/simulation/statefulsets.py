"""The StatefulSet controller: pods ``<name>-0`` to ``<name>-(n-1)``, in order.

With the default ``OrderedReady`` policy pod *i* is created only once pods
0..i-1 are Running and Ready, scaling down removes the highest ordinal first
and one at a time, and a RollingUpdate replaces pods from the highest ordinal
down to ``partition``, one at a time, each only after every pod is ready
again. ``Parallel`` creates and deletes without waiting. ``OnDelete`` leaves
replacement to the user. Each pod gets ``hostname``/``subdomain``, the
``statefulset.kubernetes.io/pod-name`` and ``apps.kubernetes.io/pod-index``
labels and its revision label, and a PersistentVolumeClaim
``<template>-<pod>`` per volumeClaimTemplate (kept when the StatefulSet goes,
unless ``persistentVolumeClaimRetentionPolicy.whenDeleted`` is Delete).

The status reports ``replicas``, ``readyReplicas``, ``availableReplicas``,
``currentReplicas``, ``updatedReplicas`` and the current and update
revisions; the current revision moves to the update revision once every pod
runs it and is ready, which is what kstatus waits for.
"""

from __future__ import annotations

import time
from typing import Any

from sluice.apiserver.simulation.context import KCM, PODS, PVCS, STATEFULSETS, Sim
from sluice.apiserver.simulation.podtemplate import pod_from_template
from sluice.apiserver.simulation.revisions import ensure_revision, revision_template
from sluice.apiserver.simulation.shapes import (
    REVISION_HASH,
    int_field,
    labels_of,
    meta,
    name_of,
    owner_reference,
    pod_available,
    pod_phase,
    pod_ready,
    terminating,
)
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]


def _ready(pod: Obj) -> bool:
    return not terminating(pod) and pod_phase(pod) == "Running" and pod_ready(pod)


class StatefulSets:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def sync(self, ns: str, name: str) -> None:
        sts = self.sim.get(STATEFULSETS, ns, name)
        if sts is None or terminating(sts):
            return
        spec = sts.get("spec") or {}
        replicas = int_field(sts, "spec", "replicas", default=1)
        update_rev, _ = ensure_revision(self.sim, sts, "StatefulSet")
        current_rev = str((sts.get("status") or {}).get("currentRevision") or update_rev)
        self.sim.adopt(sts, PODS, "apps/v1", "StatefulSet",
                       lambda p: _ordinal(name, name_of(p)) is not None)
        pods: dict[int, Obj] = {}
        for owned in self.sim.owned(sts, PODS):
            ordinal = _ordinal(name, name_of(owned))
            if ordinal is not None:
                pods[ordinal] = owned
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = int_field(strategy, "rollingUpdate", "partition") if rolling else 0

        all_ready = True
        for i in range(replicas):
            pod: Obj | None = pods.get(i)
            if pod is not None and not terminating(pod) and \
                    pod_phase(pod) in ("Succeeded", "Failed"):
                # A finished pod of a StatefulSet is replaced, as its identity must keep running.
                self.sim.terminate_pod(pod)
                pod = None
                pods.pop(i, None)
            if pod is None:
                if ordered and not all_ready:
                    break
                rev = current_rev if rolling and i < partition else update_rev
                created = self._create_pod(sts, i, rev, update_rev)
                all_ready = False
                if created is not None:
                    pods[i] = created
                if ordered:
                    break
                continue
            if not _ready(pod):
                all_ready = False
                if ordered:
                    break

        condemned = sorted((i for i in pods if i >= replicas), reverse=True)
        if condemned and (all_ready or not ordered):
            targets = condemned[:1] if ordered else condemned
            for i in targets:
                self.sim.terminate_pod(pods[i])
        elif not condemned and rolling and all_ready and \
                all(i in pods and _ready(pods[i]) for i in range(replicas)):
            for i in range(replicas - 1, partition - 1, -1):
                if labels_of(pods[i]).get(REVISION_HASH) != update_rev:
                    self.sim.terminate_pod(pods[i])
                    break
        self._write_status(sts, pods, current_rev, update_rev, rolling)

    def _create_pod(self, sts: Obj, ordinal: int, rev: str, update_rev: str) -> Obj | None:
        spec = sts.get("spec") or {}
        m = meta(sts)
        ns, sname = str(m.get("namespace") or ""), name_of(sts)
        template = spec.get("template") or {}
        if rev != update_rev:
            template = revision_template(self.sim, ns, rev) or template
        pod_name = f"{sname}-{ordinal}"
        labels = {REVISION_HASH: rev, "statefulset.kubernetes.io/pod-name": pod_name,
                  "apps.kubernetes.io/pod-index": str(ordinal)}
        body = pod_from_template(template, owner_reference(sts, "apps/v1", "StatefulSet"),
                                 name=pod_name, labels=labels)
        pspec = body["spec"]
        pspec["hostname"] = pod_name
        if spec.get("serviceName"):
            pspec["subdomain"] = spec["serviceName"]
        claims = [c for c in spec.get("volumeClaimTemplates") or [] if isinstance(c, dict)]
        if claims:
            volumes = [v for v in pspec.get("volumes") or []
                       if v.get("name") not in {name_of(c) for c in claims}]
            for c in claims:
                claim = f"{name_of(c)}-{pod_name}"
                self._ensure_claim(sts, c, claim)
                volumes.append({"name": name_of(c),
                                "persistentVolumeClaim": {"claimName": claim}})
            pspec["volumes"] = volumes
        return self.sim.create(PODS, ns, body, KCM)

    def _ensure_claim(self, sts: Obj, template: Obj, claim: str) -> None:
        ns = str(meta(sts).get("namespace") or "")
        if self.sim.get(PVCS, ns, claim) is not None:
            return
        spec = sts.get("spec") or {}
        labels = {**labels_of(template),
                  **((spec.get("selector") or {}).get("matchLabels") or {})}
        cmeta: Obj = {"name": claim}
        if labels:
            cmeta["labels"] = labels
        annotations = (template.get("metadata") or {}).get("annotations")
        if annotations:
            cmeta["annotations"] = dict(annotations)
        policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenDeleted") == "Delete":
            cmeta["ownerReferences"] = [owner_reference(sts, "apps/v1", "StatefulSet")]
        body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": cmeta,
                "spec": json_copy(template.get("spec") or {})}
        self.sim.create(PVCS, ns, body, KCM)

    def _write_status(self, sts: Obj, pods: dict[int, Obj], current_rev: str,
                      update_rev: str, rolling: bool) -> None:
        replicas = int_field(sts, "spec", "replicas", default=1)
        min_ready = int_field(sts, "spec", "minReadySeconds")
        at = time.time()
        live = [p for p in pods.values() if not terminating(p)]
        ready = sum(1 for p in live if _ready(p))
        available = sum(1 for p in live if _ready(p) and pod_available(p, min_ready, at))
        current = sum(1 for p in live if labels_of(p).get(REVISION_HASH) == current_rev)
        updated = sum(1 for p in live if labels_of(p).get(REVISION_HASH) == update_rev)
        if updated == len(live) == replicas and ready == replicas:
            # Every pod runs the update revision and is ready: the rollout is complete.
            current_rev, current = update_rev, updated
        status: Obj = {}
        generation = meta(sts).get("generation")
        if generation is not None:
            status["observedGeneration"] = generation
        status["replicas"] = len(live)
        if ready:
            status["readyReplicas"] = ready
        if current:
            status["currentReplicas"] = current
        if updated:
            status["updatedReplicas"] = updated
        status["currentRevision"] = current_rev
        status["updateRevision"] = update_rev
        status["collisionCount"] = int_field(sts, "status", "collisionCount")
        status["availableReplicas"] = available
        self.sim.write_status(STATEFULSETS, sts, status, KCM)


def _ordinal(set_name: str, pod_name: str) -> int | None:
    prefix, _, tail = pod_name.rpartition("-")
    if prefix != set_name or not tail.isdigit():
        return None
    return int(tail)
