"""``chartRef`` to an OCIRepository (a chart pushed to Debian's docker-registry) or a HelmChart.

Flux's OCI digest tracking is what a user sees: the release's chart version
is ``<version>+<first 12 hex of the OCI digest>`` (in the Ready message,
``status.history``, Helm's own ``list``), so pushing new content under the
same tag upgrades the release; a tag that names another version than the
chart inside is refused with ``ChartMutateError`` and the running release is
left alone. A ``chartRef`` to a HelmChart releases its artifact; the
HelmChart is the user's (no template is generated, deletion leaves it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from pathlib import Path

from tests.cli.conftest import run_sluice

from sluice.helmsdk import helm
from sluice.testing.background import BackgroundCluster
from sluice.testing.polling import async_wait_for
from sluice.testing.registry import OCI_MANIFEST, DockerRegistry, push_image

from .charts import podinfo_chart
from .conftest import HR_API, Helm, condition

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

OCI_REPO = """apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: podinfo
spec:
  interval: 1h
  url: oci://{host}/charts/podinfo
  insecure: true
  ref:
    tag: "{tag}"
  layerSelector:
    mediaType: "{layer}"
    operation: copy
"""

HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  interval: 1h
  chartRef:
    kind: OCIRepository
    name: podinfo
  values:
    replicaCount: 2
"""


def _push(registry: DockerRegistry, archive: Path, tag: str) -> str:
    """Push a chart as Helm does (config + chart layer) under ``tag``; its manifest digest."""
    meta = {"name": "podinfo", "version": archive.name[len("podinfo-"):-len(".tgz")]}
    config, layer = json.dumps(meta).encode(), archive.read_bytes()

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": HELM_CONFIG, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": HELM_LAYER, "digest": digest(layer), "size": len(layer)}],
    }).encode()
    return push_image(registry.url, "charts/podinfo", tag, manifest=manifest,
                      blobs=[config, layer])


async def test_chart_from_an_oci_repository_with_digest_tracking(
        oci_env: Helm, tmp_path: Path, sluice_cluster: BackgroundCluster) -> None:
    env, ns = oci_env, oci_env.namespace
    first = podinfo_chart(tmp_path / "a", "6.9.2")
    second = podinfo_chart(tmp_path / "b", "6.9.2", hooks=True)  # same version, new content
    async with DockerRegistry(tmp_path / "reg") as registry:
        # Helm's own push (what `helm push` / `flux push` users do).
        with tempfile.TemporaryDirectory() as tmp, helm().RegistryClient(
                plain_http=True, credentials_file=f"{tmp}/creds.json") as client:
            await asyncio.to_thread(client.push, str(first), f"oci://{registry.host}/charts",
                                    plain_http=True)
        await env.apply(OCI_REPO.format(host=registry.host, tag="6.9.2", layer=HELM_LAYER))
        await env.apply(HR)
        hr = await env.wait_hr("podinfo", "True", "InstallSucceeded", limit=90)
        oci = await env.get("source.toolkit.fluxcd.io/v1", "OCIRepository", "podinfo")
        assert oci is not None
        digest = oci["status"]["artifact"]["revision"].split("@", 1)[1]
        version = f"6.9.2+{digest[7:19]}"
        assert condition(hr, "Ready")["message"] == \
            f"Helm install succeeded for release {ns}/podinfo.v1 with chart podinfo@{version}"
        status = hr["status"]
        assert status["lastAttemptedRevision"] == version
        assert status["lastAttemptedRevisionDigest"] == digest
        assert status["history"][0]["chartVersion"] == version
        assert status["history"][0]["ociDigest"] == digest
        assert "helmChart" not in status
        dep = await env.get("apps/v1", "Deployment", "podinfo")
        assert dep is not None and dep["spec"]["replicas"] == 2
        with helm().Config(kubeconfig_path=str(sluice_cluster.kubeconfig), namespace=ns) as cfg:
            assert [r["chart_version"] for r in cfg.list()] == [version]
        # `sluice diff` renders the OCIRepository's artifact as the controller released it.
        same = await asyncio.to_thread(run_sluice, sluice_cluster.kubeconfig, "diff", "hr",
                                       "podinfo", "-n", ns)
        assert same.code == 0 and "✔ no changes detected" in same.stderr, same

        # New content under the same tag: a new chart version, so an upgrade.
        new_digest = await asyncio.to_thread(_push, registry, second, "6.9.2")
        await env.patch("source.toolkit.fluxcd.io/v1", "OCIRepository", "podinfo",
                        {"metadata": {"annotations": {
                            "reconcile.fluxcd.io/requestedAt": "push-2"}}})
        new_version = f"6.9.2+{new_digest[7:19]}"
        hr = await env.wait_hr("podinfo", "True", "UpgradeSucceeded", message=new_version,
                               limit=90)
        assert condition(hr, "Ready")["message"] == (
            f"Helm upgrade succeeded for release {ns}/podinfo.v2 with chart "
            f"podinfo@{new_version}")
        assert await env.get("v1", "ConfigMap", "podinfo-pre-upgrade-1") is not None

        # A tag that names another version than the chart it holds is refused.
        await asyncio.to_thread(_push, registry, second, "7.0.0")
        await env.patch("source.toolkit.fluxcd.io/v1", "OCIRepository", "podinfo",
                        {"spec": {"ref": {"tag": "7.0.0"}}})
        hr = await env.wait_hr("podinfo", "False", "ChartMutateError", limit=90)
        assert condition(hr, "Ready")["message"] == \
            "artifact revision 7.0.0 does not match chart version 6.9.2"
        assert hr["status"]["history"][0]["chartVersion"] == new_version
        assert hr["status"]["history"][0]["status"] == "deployed"
        # The Warning event is recorded after the status write: poll for it.
        async def warned() -> bool:
            return "artifact revision 7.0.0 does not match chart version 6.9.2" in \
                await env.messages("podinfo")

        await async_wait_for(warned, timeout=20, what="the ChartMutateError event")
        await env.delete(HR_API, "HelmRelease", "podinfo")


CHART_REF_HELMCHART = """apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata:
  name: shared
spec:
  interval: 1h
  chart: podinfo
  version: "1.x"
  sourceRef:
    kind: HelmRepository
    name: podinfo
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
spec:
  interval: 1h
  chartRef:
    kind: HelmChart
    name: shared
"""


async def test_chart_ref_to_a_helm_chart_is_used_not_owned(helm_env: Helm,
                                                            tmp_path: Path) -> None:
    env, ns = helm_env, helm_env.namespace
    for version in ("1.0.0", "1.1.0"):
        env.source.add(podinfo_chart(tmp_path / "charts", version))
    await env.apply(CHART_REF_HELMCHART)
    hr = await env.wait_hr("app", "True", "InstallSucceeded")
    assert condition(hr, "Ready")["message"] == \
        f"Helm install succeeded for release {ns}/app.v1 with chart podinfo@1.1.0"
    assert await env.get("source.toolkit.fluxcd.io/v1", "HelmChart", f"{ns}-app") is None

    # Deleting the HelmRelease uninstalls it and leaves the HelmChart it referenced.
    await env.delete(HR_API, "HelmRelease", "app")

    async def uninstalled() -> bool | None:
        return await env.get("apps/v1", "Deployment", "app") is None or None

    await env.wait_for(uninstalled, lambda done: done, "uninstalled")
    assert await env.get("source.toolkit.fluxcd.io/v1", "HelmChart", "shared") is not None
