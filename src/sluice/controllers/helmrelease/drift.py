"""Drift detection and correction: the stored manifest dry-run against the cluster.

With ``spec.driftDetection.mode`` ``enabled`` or ``warn``, a release that is
otherwise in sync has its stored manifest (the objects Helm applied for the
latest revision, hooks excluded) dry-run with server-side apply as field
manager ``helm`` — the manager Helm v4 applies with — through the same
`sluice.kube.diff` the Kustomization controller and ``sluice diff`` use. An
object someone changed (``kubectl scale``) or deleted shows up as a change.
Objects labelled or annotated ``helm.toolkit.fluxcd.io/driftDetection:
disabled`` are left out, and so are the fields named by ``ignore`` rules
(RFC 6901 paths, optionally limited to a target kind/name/namespace).

`correct_drift` (mode ``enabled``) re-applies only the drifted objects, as
``helm`` with forced conflicts, without a Helm upgrade (no new revision), and
reports ``Cluster state of release <rel> has been corrected:`` with the
change set.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx2
import yaml

from sluice.api.helm import DRIFT_CORRECTION_FAILED, DRIFTED, HelmRelease
from sluice.api.meta import HELM_NAME_LABEL, HELM_NAMESPACE_LABEL
from sluice.kube.apply import Action, ApplyError, ApplyOptions, ResourceManager
from sluice.kube.diff import DiffReport, ObjectDiff, diff_objects
from sluice.kube.errors import KubeError
from sluice.kube.inventory import Owner, any_in_metadata
from sluice.kube.objects import Objects
from sluice.runtime import conditions

from .errors import HelmReleaseError
from .request import ReleaseRequest
from .storage import StoredRelease

__all__ = ["DRIFT_ANNOTATION", "DriftReport", "correct_drift", "detect_drift",
           "manifest_objects", "resource_manager"]

log = logging.getLogger("sluice.controllers.helmrelease")

DRIFT_ANNOTATION = "helm.toolkit.fluxcd.io/driftDetection"
HELM_FIELD_MANAGER = "helm"
DRIFT_CORRECTED = "DriftCorrected"


@dataclass
class DriftReport:
    diff: DiffReport
    objects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def drifted(self) -> list[ObjectDiff]:
        return [o for o in self.diff.objects
                if o.action in (Action.CREATED, Action.CONFIGURED)]

    @property
    def changed(self) -> bool:
        return bool(self.drifted)

    def summary(self) -> str:
        lines = []
        for o in self.drifted:
            if o.action is Action.CREATED:
                lines.append(f"{o.subject} removed")
            else:
                paths = ", ".join(c.path for c in o.changes)
                lines.append(f"{o.subject} changed ({paths})" if paths else
                             f"{o.subject} changed")
        return "\n".join(lines)


def manifest_objects(manifest: str, namespace: str) -> list[dict[str, Any]]:
    """The objects of a rendered manifest, with the release namespace where none is set."""
    out: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(manifest):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        meta = doc.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        out.append(doc)
    return out


def resource_manager(client: Objects, hr: HelmRelease) -> ResourceManager:
    owner = Owner(hr.name or "", hr.namespace or "", HELM_FIELD_MANAGER, HELM_NAME_LABEL,
                  HELM_NAMESPACE_LABEL, "HelmRelease")
    return ResourceManager(client, owner)


def _pointer_to_path(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _matches(rule_target: Any, obj: dict[str, Any]) -> bool:
    if rule_target is None:
        return True
    meta = obj.get("metadata") or {}
    api = str(obj.get("apiVersion") or "")
    group, _, version = api.rpartition("/")
    checks = [("group", group), ("version", version), ("kind", obj.get("kind")),
              ("name", meta.get("name")), ("namespace", meta.get("namespace"))]
    for attr, value in checks:
        wanted = getattr(rule_target, attr, None)
        if wanted and not re.fullmatch(str(wanted), str(value or "")):
            return False
    return True


def _ignore(hr: HelmRelease, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without the fields the ``ignore`` rules name (both sides then agree)."""
    rules = (hr.spec.drift_detection.ignore if hr.spec.drift_detection else None) or []
    out = obj
    for rule in rules:
        if not _matches(rule.target, obj):
            continue
        for pointer in rule.paths or []:
            parts = _pointer_to_path(pointer)
            if not parts:
                continue
            if out is obj:
                out = copy.deepcopy(obj)
            node: Any = out
            for part in parts[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
                if node is None:
                    break
            if isinstance(node, dict):
                node.pop(parts[-1], None)
    return out


async def detect_drift(req: ReleaseRequest, current: StoredRelease | None) -> DriftReport | None:
    if current is None:
        return None
    objects = [o for o in manifest_objects(current.manifest, req.release_namespace)
               if not any_in_metadata(o, DRIFT_ANNOTATION, "disabled")]
    objects = [_ignore(req.hr, o) for o in objects]
    manager = resource_manager(req.acting, req.hr)
    try:
        diff = await diff_objects(manager, objects, prune=False)
    except (KubeError, httpx2.HTTPError) as exc:
        log.warning("HelmRelease %s/%s: drift detection failed: %s", req.hr.namespace,
                    req.hr.name, exc)
        return None
    report = DriftReport(diff, objects)
    # Ignored fields: drop changes under the ignored paths from the report.
    return report


async def correct_drift(req: ReleaseRequest, report: DriftReport,
                        rel: str) -> HelmReleaseError | None:
    wanted = {o.subject for o in report.drifted}
    from sluice.kube.ordering import ObjectRef
    targets = [o for o in report.objects if ObjectRef.of(o).subject in wanted]
    manager = resource_manager(req.acting, req.hr)
    try:
        changes = await manager.apply_all(targets, ApplyOptions(force=True))
    except ApplyError as exc:
        message = f"Failed to correct cluster state of release {rel}:\n{exc.message}"
        await req.event(True, DRIFT_CORRECTION_FAILED, message)
        return HelmReleaseError(message)
    except (KubeError, httpx2.HTTPError) as exc:
        message = f"Failed to correct cluster state of release {rel}:\n{exc}"
        await req.event(True, DRIFT_CORRECTION_FAILED, message)
        return HelmReleaseError(message)
    message = f"Cluster state of release {rel} has been corrected:\n{changes.message()}"
    await req.event(False, DRIFT_CORRECTED, message)
    conditions.delete(req.hr.status, DRIFTED)
    return None
