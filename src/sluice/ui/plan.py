"""A Kustomization's plan: what its next reconcile would change, before it runs.

The plan is the same dry-run `sluice diff kustomization` runs, on the same
input the controller would use: the source's current artifact (downloaded and
digest-checked like the controller does), built with the controller's own
pipeline (`rendering.render_manifests`), then `kube.diff.diff_objects` against
the live objects with the Kustomization's inventory for what prune would
delete. Nothing is written; Secret values are masked by the diff itself, and
the webhook addresses of Providers in the source are handed to the page's
scrubber (`Plan.secrets`).

On a real cluster the artifact URL is the source-controller Service's address,
which the machine running the UI may not reach: that is reported as such, not
as a failure of the Kustomization.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.api.kustomize import Kustomization
from sluice.controllers.kustomization.building import BuildFailure, PathNotFound, resolve_path
from sluice.controllers.kustomization.fetch import ArtifactFetchError, fetch_artifact
from sluice.controllers.kustomization.rendering import render_manifests, set_owner_labels
from sluice.controllers.kustomization.substitution import load_variables
from sluice.kube.apply import ResourceManager
from sluice.kube.diff import DiffReport, diff_objects
from sluice.kube.errors import KubeError
from sluice.kube.inventory import Inventory, Owner
from sluice.kube.objects import Objects
from sluice.ui.redact import sensitive_values

__all__ = ["Plan", "plan_kustomization"]


@dataclass
class Plan:
    revision: str = ""
    report: DiffReport | None = None
    problem: str = ""  # why no plan could be made
    lines: list[str] = field(default_factory=list)
    # Webhook addresses of the Providers/Receivers the source holds (to scrub from the diff).
    secrets: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.report and self.report.has_changes)

    @property
    def sections(self) -> list[tuple[str, list[str]]]:
        """The diff's lines by object (``► Kind/ns/name verb`` heads each; errors last),
        so the page can fold each object (a plan of 300 objects is long)."""
        out: list[tuple[str, list[str]]] = []
        for line in self.lines:
            if line.startswith("►"):
                out.append((line, []))
            elif line.startswith("✗"):
                if not out or out[-1][0] != "errors":
                    out.append(("errors", []))
                out[-1][1].append(line)
            elif out:
                out[-1][1].append(line)
            else:
                out.append(("", [line]))
        for _, body in out:
            while body and not body[0].strip():
                body.pop(0)
        return out


async def plan_kustomization(objects: Objects, ks_obj: Mapping[str, Any],
                             source: Mapping[str, Any] | None) -> Plan:
    try:
        ks = Kustomization.from_dict(dict(ks_obj))
    except (KeyError, TypeError, ValueError) as exc:
        return Plan(problem=f"invalid Kustomization: {exc}")
    if source is None:
        return Plan(problem="source not found")
    artifact = (source.get("status") or {}).get("artifact") or {}
    if not artifact.get("url"):
        return Plan(problem="the source has no artifact yet")
    name, namespace = str(ks.metadata.name or ""), str(ks.metadata.namespace or "")
    with tempfile.TemporaryDirectory(prefix="sluice-plan-") as tmp:
        root = Path(tmp)
        try:
            await fetch_artifact(str(artifact["url"]), str(artifact.get("digest") or ""), root,
                                 retries=1, timeout=20)
        except ArtifactFetchError as exc:
            return Plan(revision=str(artifact.get("revision") or ""),
                        problem=f"cannot download the artifact from here: {exc}")
        try:
            variables = await load_variables(objects, namespace, ks.spec.post_build)
            folder = resolve_path(root, ks.spec.path)
            built = await asyncio.to_thread(render_manifests, root, folder, ks.spec, variables)
        except PathNotFound as exc:
            return Plan(problem=str(exc))
        except BuildFailure as exc:
            return Plan(problem=exc.message)
        except KubeError as exc:
            return Plan(problem=f"cannot read the substitution sources: {exc}")
    set_owner_labels(built, name, namespace)
    manager = ResourceManager(objects, Owner(name, namespace))
    inventory = Inventory.from_status((ks_obj.get("status") or {}).get("inventory"))
    report = await diff_objects(manager, built, inventory=inventory, prune=bool(ks.spec.prune))
    secrets = [v for obj in built
               for v in sensitive_values(str(obj.get("kind") or ""), obj)]
    return Plan(revision=str(artifact.get("revision") or ""), report=report,
                lines=report.render().splitlines(), secrets=secrets)
