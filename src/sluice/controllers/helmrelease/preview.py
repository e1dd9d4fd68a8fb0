"""The next release of a HelmRelease, rendered and dry-run: what an upgrade would change.

Two readers outside the controller ask "what would this values change or
chart bump do to my cluster?": ``sluice diff helmrelease`` and the UI's
HelmRelease plan. Both must see what the controller would release, so the
steps live here, below both (the CLI and the UI may not import each other):

1. the chart is a local one (a chart directory or a packaged ``.tgz``) or,
   by default, the artifact of the HelmRelease's source (the generated
   HelmChart, or the ``chartRef`` HelmChart/OCIRepository), downloaded and
   checked against the artifact digest; a source that is not ready fails with
   the controller's ``<Kind> '<ns>/<name>' is not ready: ...``; a chart from an
   OCIRepository gets the controller's ``<version>+<digest>`` (its templates
   see it);
2. Helm renders it with the given values against the cluster, as an install
   or upgrade would: ``lookup`` reads live objects (with the caller's
   credentials), ``.Capabilities`` carry the server's version and every
   served ``group/version`` and ``group/version/Kind`` (`cluster_of`, one
   ``/version`` and discovery); with the release name, namespace and next
   revision the controller uses; hooks and ``NOTES.txt`` are dropped (Helm
   does not keep hooks as release objects), and the controller's
   post-renderer runs in-process (``postRenderers``, ``commonMetadata``,
   Flux's origin labels, and the release namespace when Helm's storage lives
   elsewhere);
3. every object is dry-run with server-side apply as field manager ``helm``
   (`sluice.kube.diff`) and compared with the live object; objects of the
   current release the new render no longer has are reported ``deleted``
   (Helm removes them on upgrade).

The values are the caller's: the CLI composes them with its connection, the
UI with its own (`values.compose_values` either way). Secret objects' values
are masked by the diff. Chart CRDs (``crds/``) are not diffed: Helm applies
them by ``install.crds``/``upgrade.crds`` policy, outside the release manifest.
Every failure a user can fix is a `PreviewError` with a one-line message.
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
from sluice.api.source import HelmChart, OCIRepository
from sluice.helmsdk import helm
from sluice.helmsdk import run as helm_run
from sluice.kube.diff import DiffReport, diff_objects
from sluice.kube.errors import KubeError
from sluice.kube.inventory import Inventory
from sluice.kube.objects import Objects
from sluice.kube.ordering import ObjectRef

from .chart_version import oci_chart_version, with_version
from .drift import manifest_objects, resource_manager
from .errors import ChartLoadError, StorageError
from .names import release_name, storage_namespace
from .postrender import render as post_render
from .postrender import spec_for
from .runner import kubeconfig_for
from .source import SourceNotReady, source_ready, verify_digest
from .storage import ReleaseStorage, StoredRelease

__all__ = ["Cluster", "PreviewError", "cluster_of", "current_release", "diff_next_release", "release_location",
           "release_refs", "render_next_release"]

Obj = dict[str, Any]
HOOK_ANNOTATION = "helm.sh/hook"
# The kinds a chart comes from, with the API version the source controller serves.
CHART_SOURCES: dict[str, str] = {
    "HelmChart": HelmChart.info.api_version,
    "OCIRepository": OCIRepository.info.api_version,
}


class PreviewError(Exception):
    """Why no next release could be rendered or compared (one line, no secret in it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def chart_source(hr: HelmRelease, obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object whose artifact is the chart."""
    if hr.spec.chart_ref is not None:
        ref = hr.spec.chart_ref
        kind = next((k for k in CHART_SOURCES if k.casefold() == ref.kind.casefold()), "")
        if not kind:
            raise PreviewError(f"HelmRelease '{hr.namespace}/{hr.name}': chartRef kind "
                               f"'{ref.kind}' is not supported")
        return kind, ref.namespace or hr.namespace or "", ref.name
    helm_chart = str((obj.get("status") or {}).get("helmChart") or "")
    if "/" in helm_chart:
        ns, _, name = helm_chart.partition("/")
        return "HelmChart", ns, name
    return "HelmChart", hr.helm_chart_namespace(), hr.helm_chart_name()


async def artifact_chart(objects: Objects, hr: HelmRelease, obj: Mapping[str, Any],
                         download_timeout: float) -> tuple[bytes, str]:
    """The chart archive, and the OCI revision when the chart's version tracks it."""
    kind, ns, name = chart_source(hr, obj)
    try:
        mapping = await objects.mapping(CHART_SOURCES[kind], kind)
        source = await objects.get_or_none(mapping, name, ns)
    except KubeError as exc:
        raise PreviewError(f"cannot read {kind} '{ns}/{name}': {exc}") from None
    try:
        artifact = source_ready(kind, source, ns, name)
    except SourceNotReady as exc:
        raise PreviewError(exc.message) from None
    url = str(artifact["url"])
    try:
        async with httpx.AsyncClient(timeout=download_timeout, follow_redirects=True) as http:
            resp = await http.get(url)
    except httpx.HTTPError as exc:
        raise PreviewError(f"failed to download artifact from {url}: "
                           f"{type(exc).__name__}") from None
    if resp.status_code >= 400:
        raise PreviewError(f"failed to download artifact from {url}: status "
                           f"{resp.status_code}")
    try:
        verify_digest(resp.content, str(artifact.get("digest") or ""))
    except ChartLoadError as exc:
        raise PreviewError(exc.message) from None
    revision = str(artifact.get("revision") or "") if kind == "OCIRepository" else ""
    return resp.content, revision


@dataclass(frozen=True)
class Cluster:
    """What a cluster-aware render needs: a kubeconfig for ``lookup``, the capabilities."""

    kubeconfig: str
    kube_version: str
    api_versions: list[str]
    cluster_scoped: frozenset[str]


async def cluster_of(objects: Objects) -> Cluster:
    """The cluster ``objects`` talks to, as Helm's render sees it (``/version``, discovery)."""
    try:
        resp = await objects.connection.http.get("/version",
                                                 headers={"Accept": "application/json"})
        version = str(resp.json().get("gitVersion") or "") if resp.status_code < 400 else ""
        served = await objects.mapper.served()
    except (httpx2.HTTPError, ValueError, AttributeError, KubeError) as exc:
        raise PreviewError(f"failed to read the cluster's API versions: {exc}") from None
    api_versions = sorted({m.api_version for m in served}
                          | {f"{m.api_version}/{m.kind}" for m in served})
    cluster_scoped = frozenset(f"{m.group}/{m.kind}" for m in served if not m.namespaced)
    return Cluster(kubeconfig_for(objects.connection), version, api_versions, cluster_scoped)


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


async def render_next_release(objects: Objects, obj: Mapping[str, Any],
                              values: dict[str, Any], chart: Path | None = None, *,
                              download_timeout: float = 30.0) -> list[Obj]:
    """The objects the next release of ``obj`` would hold (hooks left out).

    ``chart``: a local chart directory or archive instead of the source's artifact.
    """
    hr = HelmRelease.from_dict(dict(obj))
    source: bytes | Path
    if chart is not None:
        source, oci_revision = chart, ""
    else:
        source, oci_revision = await artifact_chart(objects, hr, obj, download_timeout)
    history = hr.status.history or []
    revision = (history[0].version + 1) if history else 1
    cluster = await cluster_of(objects)
    try:
        templates = await helm_run(_render, source, values, release_name(hr),
                                   hr.release_namespace(), revision, oci_revision, cluster)
    except Exception as exc:  # Helm's load/render errors, one line each
        detail = getattr(exc, "detail", None) or str(exc)
        raise PreviewError(f"HelmRelease '{hr.namespace}/{hr.name}': chart could not be "
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


def release_location(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(storage namespace, release namespace, release name) of the latest release."""
    hr = HelmRelease.from_dict(dict(obj))
    status = hr.status
    snap = status.history[0] if status.history else None
    storage = status.storage_namespace or storage_namespace(hr)
    if snap is not None:
        return storage, snap.namespace or hr.release_namespace(), snap.name or release_name(hr)
    return storage, hr.release_namespace(), release_name(hr)


async def current_release(objects: Objects, obj: Mapping[str, Any]) -> StoredRelease | None:
    """The latest stored revision of ``obj``'s release, None before the first install.

    Raises `StorageError` (Helm's storage unreadable) for the caller to word.
    """
    storage_ns, _, name = release_location(obj)
    return await ReleaseStorage(objects).latest(storage_ns, name)


async def release_refs(objects: Objects, obj: Mapping[str, Any]) -> list[ObjectRef]:
    """The objects the latest release of ``obj`` holds, in manifest order.

    The release namespace is filled in only for namespaced kinds, as flux's
    ``tree`` lists a HelmRelease's objects (a HelmRelease has no
    ``status.inventory``: the release is its inventory).
    """
    rel = await current_release(objects, obj)
    if rel is None:
        return []
    refs: list[ObjectRef] = []
    for doc in manifest_objects(rel.manifest, rel.namespace):
        ref = ObjectRef.of(doc)
        try:
            mapping = await objects.mapping(str(doc.get("apiVersion") or ""),
                                            str(doc.get("kind") or ""))
            namespaced = mapping.namespaced
        except KubeError:
            namespaced = True  # a kind the cluster no longer serves: keep what Helm wrote
        if not namespaced:
            ref = ObjectRef(ref.group, ref.kind, "", ref.name, ref.version)
        refs.append(ref)
    return refs


async def diff_next_release(objects: Objects, obj: Mapping[str, Any], values: dict[str, Any],
                            chart: Path | None = None, *,
                            download_timeout: float = 30.0) -> DiffReport:
    """The diff report of ``obj``'s next release against the live objects."""
    rendered = await render_next_release(objects, obj, values, chart,
                                         download_timeout=download_timeout)
    hr = HelmRelease.from_dict(dict(obj))
    try:
        current = Inventory.from_refs(await release_refs(objects, obj))
    except StorageError as exc:
        raise PreviewError(exc.message) from None
    try:
        return await diff_objects(resource_manager(objects, hr), rendered,
                                  inventory=current, prune=True)
    except KubeError as exc:
        raise PreviewError(str(exc)) from None
