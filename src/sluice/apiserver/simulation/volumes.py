"""Volume binding: every PersistentVolumeClaim gets a volume at once.

A pending claim naming an existing PersistentVolume (``spec.volumeName``) is
bound to it; any other is "provisioned": a PersistentVolume ``pvc-<claim uid>``
with the requested size, access modes and class is created, bound back to
the claim (``claimRef``), and the claim reads ``Bound`` with its capacity, so
health checks waiting on claims succeed. Binding does not wait for a
consumer pod even when the StorageClass says ``WaitForFirstConsumer``: no
scheduling decision depends on it here.

When a claim goes, its volume follows the reclaim policy: ``Delete`` (the
default for provisioned volumes) deletes it, ``Retain`` leaves it
``Released``.
"""

from __future__ import annotations

from typing import Any

from sluice.apiserver.simulation.context import KCM, PVCS, PVS, STORAGE_CLASSES, Sim
from sluice.apiserver.simulation.shapes import meta, name_of, terminating, uid_of
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]

PROVISIONER = "sluice.dev/hostpath"


class Volumes:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def sync_claim(self, ns: str, name: str) -> None:
        pvc = self.sim.get(PVCS, ns, name)
        if pvc is None or terminating(pvc):
            return
        spec = pvc.get("spec") or {}
        status = pvc.get("status") or {}
        wanted_pv = str(spec.get("volumeName") or "")
        pv = self.sim.get(PVS, "", wanted_pv) if wanted_pv else None
        if status.get("phase") == "Bound" and pv is not None:
            return
        if pv is None:
            if wanted_pv:
                return  # waiting for a volume the user named; Kubernetes waits too
            pv = self._provision(pvc)
            if pv is None:
                return
        elif ((pv.get("spec") or {}).get("claimRef") or {}).get("uid") not in (None,
                                                                                  uid_of(pvc)):
            return  # that volume is bound to another claim
        pv = self._bind_volume(pv, pvc)
        pv_name = name_of(pv)

        def claim_spec(o: Obj) -> None:
            o["spec"]["volumeName"] = pv_name
            ann = o["metadata"].setdefault("annotations", {})
            ann["pv.kubernetes.io/bind-completed"] = "yes"
            ann["pv.kubernetes.io/bound-by-controller"] = "yes"
            if (pv.get("metadata") or {}).get("annotations", {}).get(
                    "pv.kubernetes.io/provisioned-by"):
                ann["volume.beta.kubernetes.io/storage-provisioner"] = PROVISIONER
                ann["volume.kubernetes.io/storage-provisioner"] = PROVISIONER

        pvc = self.sim.write_spec(PVCS, pvc, KCM, claim_spec)
        pv_spec = pv.get("spec") or {}
        new_status = json_copy(pvc.get("status") or {})
        new_status.update({"phase": "Bound",
                           "accessModes": list(pv_spec.get("accessModes") or []),
                           "capacity": dict(pv_spec.get("capacity") or {})})
        self.sim.write_status(PVCS, pvc, new_status, KCM)

    def sync_volume(self, name: str) -> None:
        """A volume whose claim is gone is deleted or released, by its reclaim policy."""
        pv = self.sim.get(PVS, "", name)
        if pv is None or terminating(pv):
            return
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if not ref:
            return
        claim = self.sim.get(PVCS, str(ref.get("namespace") or ""), str(ref.get("name") or ""))
        if claim is not None and (not ref.get("uid") or uid_of(claim) == ref.get("uid")):
            return
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy", "Retain")
        if policy == "Delete":
            self.sim.delete(PVS, "", name, uid=uid_of(pv))
            return
        status = json_copy(pv.get("status") or {})
        status["phase"] = "Released"
        self.sim.write_status(PVS, pv, status, KCM)

    def _provision(self, pvc: Obj) -> Obj | None:
        spec = pvc.get("spec") or {}
        pv_name = f"pvc-{uid_of(pvc)}"
        existing = self.sim.get(PVS, "", pv_name)
        if existing is not None:
            return existing
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        class_name = spec.get("storageClassName")
        reclaim = "Delete"
        if class_name:
            sc = self.sim.get(STORAGE_CLASSES, "", str(class_name))
            if sc is not None and sc.get("reclaimPolicy"):
                reclaim = str(sc["reclaimPolicy"])
        pv_spec: Obj = {
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": size},
            "hostPath": {"path": f"/var/lib/sluice/volumes/{pv_name}",
                         "type": "DirectoryOrCreate"},
            "persistentVolumeReclaimPolicy": reclaim,
            "volumeMode": spec.get("volumeMode", "Filesystem"),
        }
        if class_name:
            pv_spec["storageClassName"] = class_name
        body: Obj = {"apiVersion": "v1", "kind": "PersistentVolume",
                     "metadata": {"name": pv_name,
                                  "annotations": {"pv.kubernetes.io/provisioned-by":
                                                  PROVISIONER}},
                     "spec": pv_spec}
        return self.sim.create(PVS, "", body, KCM)

    def _bind_volume(self, pv: Obj, pvc: Obj) -> Obj:
        m = meta(pvc)
        ref = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
               "resourceVersion": m.get("resourceVersion")}
        current = (pv.get("spec") or {}).get("claimRef") or {}
        if current.get("uid") != ref["uid"]:
            def change(o: Obj) -> None:
                o["spec"]["claimRef"] = ref
                o["metadata"].setdefault("annotations", {})[
                    "pv.kubernetes.io/bound-by-controller"] = "yes"

            pv = self.sim.write_spec(PVS, pv, KCM, change)
        status = json_copy(pv.get("status") or {})
        status["phase"] = "Bound"
        return self.sim.write_status(PVS, pv, status, KCM)
