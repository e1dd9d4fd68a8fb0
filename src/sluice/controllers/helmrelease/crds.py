"""A chart's ``crds/``: applied by the controller before Helm's install or upgrade, by policy.

helm-controller always tells Helm to skip CRDs (``SkipCRDs``) and applies
them itself, according to ``spec.install.crds`` / ``spec.upgrade.crds``:

* ``Skip``: left alone (also the deprecated ``install.skipCRDs: true``);
* ``Create`` (the default for both actions in Flux's code, though its docs
  say ``Skip`` for upgrades): CRDs that do not exist yet are created,
  existing ones are never changed;
* ``CreateReplace``: every CRD is created or updated (server-side apply,
  conflicts forced); none is ever deleted.

They are applied as ``spec.serviceAccountName`` (impersonated, as Helm's
own actions and Flux's CRD install are), as field manager ``helm`` with
Flux's origin labels
(``helm.toolkit.fluxcd.io/name|namespace``), and waited for until
``Established``, so the release's own custom resources find their kind.
Documents of ``crds/`` that are not CustomResourceDefinitions are ignored
with a log line, as Flux 1.5.5 does. A failure fails the Helm action that
needed them (``Helm install failed ...: failed to apply CustomResourceDefinitions: ...``)
before Helm writes any release.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx2
import yaml

from sluice.api.helm import HelmRelease
from sluice.kube.apply import ApplyError, ApplyOptions
from sluice.kube.errors import KubeError
from sluice.kube.objects import Objects

from .drift import resource_manager
from .errors import HelmActionError
from .request import LoadedChart

__all__ = ["CREATE", "CREATE_REPLACE", "SKIP", "apply_crds", "crd_policy"]

log = logging.getLogger("sluice.controllers.helmrelease")

SKIP, CREATE, CREATE_REPLACE = "Skip", "Create", "CreateReplace"
CRD_KIND = "CustomResourceDefinition"


def crd_policy(hr: HelmRelease, action: str) -> str:
    """The CRD policy of ``action`` (``install`` or ``upgrade``)."""
    if action == "install":
        spec = hr.spec.install
        if spec is not None and spec.crds:
            return spec.crds
        return SKIP if spec is not None and spec.skip_crds else CREATE
    upgrade = hr.spec.upgrade
    return upgrade.crds if upgrade is not None and upgrade.crds else CREATE


def chart_crds(chart: LoadedChart, release: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in chart.crds:
        try:
            docs = list(yaml.safe_load_all(str(entry.get("data") or "")))
        except yaml.YAMLError as exc:
            raise HelmActionError(f"failed to read {entry.get('name')}: "
                                  f"{str(exc).splitlines()[0]}", released=False) from None
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") != CRD_KIND:
                log.info("release %s: ignoring %s/%s in %s: not a CustomResourceDefinition",
                         release, doc.get("kind"), (doc.get("metadata") or {}).get("name"),
                         entry.get("name"))
                continue
            out.append(doc)
    return out


async def apply_crds(objects: Objects, hr: HelmRelease, chart: LoadedChart, action: str,
                     release: str) -> int:
    """Apply the chart's CRDs by policy; how many were written. `HelmActionError` on failure."""
    policy = crd_policy(hr, action)
    crds = chart_crds(chart, release) if policy != SKIP else []
    if not crds:
        return 0
    manager = resource_manager(objects, hr)
    try:
        if policy == CREATE:
            mapping = await objects.mapping("apiextensions.k8s.io/v1", CRD_KIND)
            missing = []
            for crd in crds:
                name = str((crd.get("metadata") or {}).get("name") or "")
                if await objects.get_or_none(mapping, name) is None:
                    missing.append(crd)
            crds = missing
        if not crds:
            return 0
        # Never force (it would recreate a CRD, and delete every custom resource).
        changes = await manager.apply_all_staged(crds, ApplyOptions(wait_poll=0.2))
    except ApplyError as exc:
        raise HelmActionError(f"failed to apply CustomResourceDefinitions: {exc.message}",
                              released=False) from None
    except (KubeError, httpx2.HTTPError) as exc:
        raise HelmActionError(f"failed to apply CustomResourceDefinitions: {exc}",
                              released=False) from None
    log.info("release %s: CustomResourceDefinitions (%s): %s", release, policy,
             changes.message())
    return len(changes.changed())
