"""What ``sluice diff helmrelease NAME [--path CHART]`` compares: the next Helm release.

Flux has no such command; this one answers "what will this values change or
chart bump do to my cluster?" before it happens, with the same output and
exit code as ``sluice diff kustomization``:

1. the HelmRelease's values are composed as the controller composes them
   (`sluice.cli.helm_release.merged_values`);
2. the chart is ``--path`` (a chart directory or a packaged ``.tgz``) or,
   by default, the artifact of its source (the generated HelmChart, or the
   ``chartRef`` HelmChart/OCIRepository), downloaded and checked against the
   artifact digest; a source that is not ready fails with the controller's
   ``<Kind> '<ns>/<name>' is not ready: ...``; a chart from an OCIRepository
   gets the controller's ``<version>+<digest>`` (its templates see it);
3. Helm renders it against the cluster, as an install or upgrade would:
   ``lookup`` reads live objects (with the CLI's credentials), and
   ``.Capabilities`` carry the server's version and every served
   ``group/version`` and ``group/version/Kind`` (from discovery); with the
   release name, namespace and next revision the controller uses; hooks and
   ``NOTES.txt`` are dropped (Helm does not keep hooks as release objects),
   and the controller's post-renderer runs in-process (``postRenderers``,
   ``commonMetadata``, Flux's origin labels, and the release namespace when
   Helm's storage lives elsewhere);
4. every object is dry-run with server-side apply as field manager ``helm``
   (`sluice.kube.diff`, the code drift detection and ``diff kustomization``
   use) and compared with the live object; objects of the current release
   the new render no longer has are reported ``deleted`` (Helm removes them on
   upgrade).

Secret values are masked (``*** (before)`` / ``*** (after)``). Exit code 1
when anything would change or an object cannot be applied. Chart CRDs
(``crds/``) are not diffed: Helm applies them by ``install.crds`` /
``upgrade.crds`` policy, outside the release manifest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import yaml

from sluice.api.helm import HelmRelease
from sluice.cli import kinds as k
from sluice.cli.clientctx import Client
from sluice.cli.failing import CommandError
from sluice.cli.helm_release import merged_values, release_refs
from sluice.controllers.helmrelease.chart_version import oci_chart_version, with_version
from sluice.controllers.helmrelease.drift import manifest_objects, resource_manager
from sluice.controllers.helmrelease.errors import ChartLoadError
from sluice.controllers.helmrelease.names import release_name
from sluice.controllers.helmrelease.postrender import render as post_render
from sluice.controllers.helmrelease.postrender import spec_for
from sluice.controllers.helmrelease.runner import kubeconfig_for
from sluice.controllers.helmrelease.source import SourceNotReady, source_ready, verify_digest
from sluice.helmsdk import helm
from sluice.helmsdk import run as helm_run
from sluice.kube.diff import DiffReport, diff_objects
from sluice.kube.errors import KubeError
from sluice.kube.inventory import Inventory

__all__ = ["diff_release", "render_release"]

Obj = dict[str, Any]
HOOK_ANNOTATION = "helm.sh/hook"


def _source_of(hr: HelmRelease, obj: Mapping[str, Any]) -> tuple[k.FluxKind, str, str]:
    if hr.spec.chart_ref is not None:
        ref = hr.spec.chart_ref
        fk = k.kind_by_name(ref.kind)
        if fk is None:
            raise CommandError(f"HelmRelease '{hr.namespace}/{hr.name}': chartRef kind "
                               f"'{ref.kind}' is not supported")
        return fk, ref.namespace or hr.namespace or "", ref.name
    helm_chart = str((obj.get("status") or {}).get("helmChart") or "")
    if "/" in helm_chart:
        ns, _, name = helm_chart.partition("/")
        return k.HELM_CHART, ns, name
    return k.HELM_CHART, hr.helm_chart_namespace(), hr.helm_chart_name()


async def _artifact_chart(client: Client, hr: HelmRelease,
                          obj: Mapping[str, Any]) -> tuple[bytes, str]:
    """The chart archive, and the OCI revision when the chart's version tracks it."""
    fk, ns, name = _source_of(hr, obj)
    source = await client.get_or_none(fk, name, ns)
    try:
        artifact = source_ready(fk.kind, source, ns, name)
    except SourceNotReady as exc:
        raise CommandError(exc.message) from None
    url = str(artifact["url"])
    try:
        async with httpx.AsyncClient(timeout=client.timeout, follow_redirects=True) as http:
            resp = await http.get(url)
    except httpx.HTTPError as exc:
        raise CommandError(f"failed to download artifact from {url}: "
                           f"{type(exc).__name__}") from None
    if resp.status_code >= 400:
        raise CommandError(f"failed to download artifact from {url}: status "
                           f"{resp.status_code}")
    try:
        verify_digest(resp.content, str(artifact.get("digest") or ""))
    except ChartLoadError as exc:
        raise CommandError(exc.message) from None
    revision = str(artifact.get("revision") or "") if fk is k.OCI_REPOSITORY else ""
    return resp.content, revision


@dataclass(frozen=True)
class Cluster:
    """What a cluster-aware render needs: a kubeconfig for ``lookup``, the capabilities."""

    kubeconfig: str
    kube_version: str
    api_versions: list[str]
    cluster_scoped: frozenset[str]


async def cluster_of(client: Client) -> Cluster:
    """The CLI's cluster as Helm's render sees it (one ``/version`` and discovery)."""
    try:
        resp = await client.connection.http.get("/version",
                                                headers={"Accept": "application/json"})
        version = str(resp.json().get("gitVersion") or "") if resp.status_code < 400 else ""
        served = await client.objects.mapper.served()
    except (httpx2.HTTPError, ValueError, AttributeError, KubeError) as exc:
        raise CommandError(f"failed to read the cluster's API versions: {exc}") from None
    api_versions = sorted({m.api_version for m in served}
                          | {f"{m.api_version}/{m.kind}" for m in served})
    cluster_scoped = frozenset(f"{m.group}/{m.kind}" for m in served if not m.namespaced)
    return Cluster(kubeconfig_for(client.connection), version, api_versions, cluster_scoped)


def _render(source: bytes | Path, values: dict[str, Any], name: str, namespace: str,
            revision: int, oci_revision: str, cluster: Cluster) -> dict[str, str]:
    sdk = helm()
    chart = sdk.Chart.load(str(source)) if isinstance(source, Path) \
        else sdk.Chart.load_archive(source)
    if oci_revision and isinstance(source, bytes):
        # The controller releases it as <version>+<digest>: templates see that version.
        meta = chart.metadata
        version, _ = oci_chart_version(str(meta.get("version") or ""), oci_revision)
        chart.close()
        chart = sdk.Chart.load_archive(with_version(source, str(meta.get("name")), version))
    try:
        opts = {"name": name, "namespace": namespace, "revision": revision,
                "is_install": revision == 1, "is_upgrade": revision > 1,
                "api_versions": cluster.api_versions}
        if cluster.kube_version:
            opts["kube_version"] = cluster.kube_version
        with sdk.Config(kubeconfig_content=cluster.kubeconfig, namespace=namespace) as cfg:
            # Config.render takes no capabilities; the C call behind it does.
            out = sdk._native.call_string("helm_render_with_config", cfg._raw(), chart._raw(),
                                          json.dumps(values), json.dumps(opts))
        rendered: dict[str, str] = json.loads(out)
        return rendered
    finally:
        chart.close()


async def render_release(client: Client, obj: Mapping[str, Any],
                         path: Path | None) -> list[Obj]:
    """The objects the next release of ``obj`` would hold (hooks left out)."""
    hr = HelmRelease.from_dict(dict(obj))
    values = await merged_values(client, obj)
    source: bytes | Path
    if path is not None:
        source, oci_revision = path, ""
    else:
        source, oci_revision = await _artifact_chart(client, hr, obj)
    history = hr.status.history or []
    revision = (history[0].version + 1) if history else 1
    cluster = await cluster_of(client)
    try:
        templates = await helm_run(_render, source, values, release_name(hr),
                                   hr.release_namespace(), revision, oci_revision, cluster)
    except Exception as exc:  # Helm's load/render errors, one line each
        detail = getattr(exc, "detail", None) or str(exc)
        raise CommandError(f"HelmRelease '{hr.namespace}/{hr.name}': chart could not be "
                           f"rendered: {detail}") from None
    docs: list[str] = []
    for template, text in sorted(templates.items()):
        if template.endswith("NOTES.txt") or "/templates/" not in f"/{template}":
            continue
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") and \
                    HOOK_ANNOTATION not in ((doc.get("metadata") or {}).get("annotations")
                                            or {}):
                docs.append(yaml.safe_dump(doc, sort_keys=False))
    apart = hr.storage_namespace() != hr.release_namespace()
    manifest = post_render("---\n".join(docs), spec_for(
        hr, namespace=hr.release_namespace() if apart else None,
        cluster_scoped=cluster.cluster_scoped))
    return manifest_objects(manifest, hr.release_namespace())


async def diff_release(client: Client, name: str, path: Path | None) -> DiffReport:
    """The diff report of HelmRelease ``name``'s next release (``path``: a local chart)."""
    obj = await client.get(k.HELM_RELEASE, name)
    objects = await render_release(client, obj, path)
    hr = HelmRelease.from_dict(dict(obj))
    current = Inventory.from_refs(await release_refs(client, obj))
    try:
        return await diff_objects(resource_manager(client.objects, hr), objects,
                                  inventory=current, prune=True)
    except KubeError as exc:
        raise CommandError(str(exc)) from None
