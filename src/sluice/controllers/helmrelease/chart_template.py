"""``spec.chart``: the HelmChart the controller creates for a HelmRelease, kept in sync and GC'd.

As helm-controller's ``reconcileChartTemplate``:

* the HelmChart is ``<hr.namespace>-<hr.name>`` in the chart source's
  namespace (the HelmRelease's by default), applied server-side as
  ``helm-controller`` with the owner labels ``helm.toolkit.fluxcd.io/name``
  and ``namespace`` plus ``spec.chart.metadata`` labels and annotations;
* its spec copies ``chart``, ``version`` (``*``), ``sourceRef`` (kind and
  name), ``interval`` (the HelmRelease's when unset), ``reconcileStrategy``
  (``ChartVersion``), ``valuesFiles``, ``ignoreMissingValuesFiles`` and
  ``verify``;
* ``status.helmChart`` records ``<ns>/<name>``; when the computed name
  differs (renamed, moved), or the release switched to ``chartRef``, or on
  deletion, the old HelmChart is deleted (never while suspended);
* events are Trace (recorded, not forwarded): ``Created HelmChart/<ns>/<name>
  with SourceRef '<Kind>/<ns>/<name>'`` (or ``Configured ...``) and
  ``deleted HelmChart '<ns>/<name>'``.

A HelmChart already matching (read from the informer cache) is not
re-applied, so a no-change reconcile sends nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx2

from sluice.api.helm import HelmRelease
from sluice.api.meta import HELM_NAME_LABEL, HELM_NAMESPACE_LABEL
from sluice.api.source import API_VERSION as SOURCE_API_VERSION
from sluice.kube.apply import Action, ApplyError, ResourceManager
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.events import EventRecorder
from sluice.kube.inventory import Owner
from sluice.kube.objects import Obj, Objects
from sluice.runtime.informer import Informer

from .errors import HelmReleaseError

__all__ = ["delete_chart", "desired_chart", "reconcile_chart_template"]

log = logging.getLogger("sluice.controllers.helmrelease")
FIELD_MANAGER = "helm-controller"


def desired_chart(hr: HelmRelease) -> Obj:
    template = hr.spec.chart
    assert template is not None
    tspec = template.spec
    labels = dict((template.metadata.labels if template.metadata else None) or {})
    labels.update({HELM_NAME_LABEL: hr.name or "", HELM_NAMESPACE_LABEL: hr.namespace or ""})
    meta: dict[str, Any] = {"name": hr.helm_chart_name(), "namespace": hr.helm_chart_namespace(),
                            "labels": labels}
    if template.metadata and template.metadata.annotations:
        meta["annotations"] = dict(template.metadata.annotations)
    spec: dict[str, Any] = {
        "chart": tspec.chart, "version": tspec.version or "*",
        "sourceRef": {"kind": tspec.source_ref.kind, "name": tspec.source_ref.name},
        "interval": tspec.interval or hr.spec.interval,
        "reconcileStrategy": tspec.reconcile_strategy or "ChartVersion",
    }
    files = list(tspec.values_files or [])
    if tspec.values_file and tspec.values_file not in files:
        files.insert(0, tspec.values_file)
    if files:
        spec["valuesFiles"] = files
    if tspec.ignore_missing_values_files:
        spec["ignoreMissingValuesFiles"] = True
    if tspec.verify is not None:
        spec["verify"] = tspec.verify.to_dict()
    return {"apiVersion": SOURCE_API_VERSION, "kind": "HelmChart", "metadata": meta,
            "spec": spec}


def _in_sync(existing: Obj | None, desired: Obj) -> bool:
    if existing is None:
        return False
    spec = existing.get("spec") or {}
    if any(spec.get(k) != v for k, v in desired["spec"].items()):
        return False
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in desired["metadata"]["labels"].items()):
        return False
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    return all(annotations.get(k) == v
               for k, v in (desired["metadata"].get("annotations") or {}).items())


async def delete_chart(objects: Objects, recorder: EventRecorder, raw: Obj, ref: str) -> None:
    """Delete the HelmChart ``<ns>/<name>`` (gone already counts as done)."""
    namespace, _, name = ref.partition("/")
    try:
        mapping = await objects.mapping(SOURCE_API_VERSION, "HelmChart")
        await objects.delete(mapping, name, namespace)
    except KubeError as exc:
        if not is_not_found(exc):
            raise HelmReleaseError(f"failed to delete HelmChart '{ref}': {exc}") from None
        return
    await recorder.trace(raw, "HelmChartDeleted", f"deleted HelmChart '{ref}'")


async def reconcile_chart_template(hr: HelmRelease, raw: Obj, charts: Informer | None,
                                   objects: Objects, recorder: EventRecorder) -> None:
    """Create, update or garbage-collect the HelmChart of ``hr`` (see the module docs)."""
    status = hr.status
    if hr.spec.chart is None:
        if status.helm_chart:
            await delete_chart(objects, recorder, raw, status.helm_chart)
            status.helm_chart = None
        return
    desired = desired_chart(hr)
    ref = f"{desired['metadata']['namespace']}/{desired['metadata']['name']}"
    if status.helm_chart and status.helm_chart != ref:
        await delete_chart(objects, recorder, raw, status.helm_chart)
    existing = charts.get(desired["metadata"]["namespace"], desired["metadata"]["name"]) \
        if charts is not None else None
    if not _in_sync(existing, desired):
        owner = Owner(hr.name or "", hr.namespace or "", FIELD_MANAGER, HELM_NAME_LABEL,
                      HELM_NAMESPACE_LABEL, "HelmRelease")
        try:
            changes = await ResourceManager(objects, owner).apply_all([desired])
        except ApplyError as exc:
            await recorder.trace(raw, "HelmChartSyncErr", exc.message)
            raise HelmReleaseError(f"failed to reconcile HelmChart '{ref}': {exc.message}") \
                from None
        except (KubeError, httpx2.HTTPError) as exc:
            raise HelmReleaseError(f"failed to reconcile HelmChart '{ref}': {exc}") from None
        source = hr.spec.chart.spec.source_ref
        source_text = f"{source.kind}/{desired['metadata']['namespace']}/{source.name}"
        for entry in changes:
            if entry.action is Action.CREATED:
                await recorder.trace(raw, "HelmChartCreated",
                                     f"Created HelmChart/{ref} with SourceRef '{source_text}'")
            elif entry.action is Action.CONFIGURED:
                await recorder.trace(raw, "HelmChartConfigured",
                                     f"Configured HelmChart/{ref} with SourceRef "
                                     f"'{source_text}'")
    status.helm_chart = ref
