"""A HelmRelease installs, upgrades and uninstalls with Helm's own actions, as Flux reports it."""

from __future__ import annotations

from pathlib import Path

from sluice.helmsdk import helm
from sluice.testing.background import BackgroundCluster

from .charts import podinfo_chart
from .conftest import HR_API, SOURCE_API, Helm, condition

VALUES_CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: podinfo-values
data:
  values.yaml: |
    replicaCount: 2
    resources:
      limits:
        memory: 256Mi
      requests:
        cpu: 100m
        memory: 64Mi
    ui:
      message: "Bonjour depuis Sluice"
"""

HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  interval: 1m
  chart:
    spec:
      chart: podinfo
      version: "{version}"
      sourceRef:
        kind: HelmRepository
        name: podinfo
  valuesFrom:
    - kind: ConfigMap
      name: podinfo-values
"""


async def test_install_upgrade_history_and_uninstall(helm_env: Helm, tmp_path: Path,
                                                     sluice_cluster: BackgroundCluster) -> None:
    env = helm_env
    ns = env.namespace
    for version in ("5.2.1", "6.0.0", "6.9.2"):
        env.source.add(podinfo_chart(tmp_path / "charts", version, hooks=True))
    await env.apply(VALUES_CM)
    await env.apply(HR.format(version="<6.0.0"))

    hr = await env.wait_hr("podinfo", "True", "InstallSucceeded")
    expected = (f"Helm install succeeded for release {ns}/podinfo.v1 with chart podinfo@5.2.1")
    assert condition(hr, "Ready")["message"] == expected
    assert condition(hr, "Released")["message"] == expected
    status = hr["status"]
    assert status["helmChart"] == f"{ns}/{ns}-podinfo"
    assert status["lastAttemptedRevision"] == "5.2.1"
    assert status["lastAttemptedConfigDigest"].startswith("sha256:")
    assert status["storageNamespace"] == ns
    assert status["observedGeneration"] == hr["metadata"]["generation"]
    assert [(h["version"], h["status"], h["chartVersion"]) for h in status["history"]] == \
        [(1, "deployed", "5.2.1")]

    # The HelmChart template, owned by the release.
    chart = await env.get(SOURCE_API, "HelmChart", f"{ns}-podinfo")
    assert chart is not None
    assert chart["spec"]["version"] == "<6.0.0"
    assert chart["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "podinfo"}
    assert chart["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "podinfo"

    # The values from the ConfigMap reached the Deployment.
    dep = await env.get("apps/v1", "Deployment", "podinfo")
    assert dep is not None
    assert dep["spec"]["replicas"] == 2
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert {"name": "PODINFO_UI_MESSAGE", "value": "Bonjour depuis Sluice"} in container["env"]
    # Flux's origin labels, added by the post-renderer Helm ran.
    assert dep["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "podinfo"
    assert dep["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"] == ns

    # Hooks ran in weight order and are not part of the release.
    pre1 = await env.get("v1", "ConfigMap", "podinfo-pre-install-1")
    pre2 = await env.get("v1", "ConfigMap", "podinfo-pre-install-2")
    post = await env.get("v1", "ConfigMap", "podinfo-post-install-1")
    assert pre1 and pre2 and post
    rvs = [int(o["metadata"]["resourceVersion"]) for o in (pre1, pre2, post)]
    assert rvs == sorted(rvs)
    assert int(post["metadata"]["resourceVersion"]) > int(dep["metadata"]["resourceVersion"])

    # It is a Helm release: Helm's own list and history see it.
    sdk = helm()
    with sdk.Config(kubeconfig_path=str(sluice_cluster.kubeconfig), namespace=ns) as cfg:
        listed = {r["name"]: r for r in cfg.list()}
        assert listed["podinfo"]["chart_version"] == "5.2.1"
        assert listed["podinfo"]["status"] == "deployed"

    messages = await env.messages("podinfo")
    assert expected in messages

    # The range opens: the release upgrades to the newest chart.
    old_rs = await env.get("apps/v1", "Deployment", "podinfo")
    await env.patch(HR_API, "HelmRelease", "podinfo",
                    {"spec": {"chart": {"spec": {"version": "*"}}}})
    hr = await env.wait_hr("podinfo", "True", "UpgradeSucceeded", message="6.9.2")
    assert condition(hr, "Ready")["message"] == \
        f"Helm upgrade succeeded for release {ns}/podinfo.v2 with chart podinfo@6.9.2"
    assert [(h["version"], h["status"], h["chartVersion"]) for h in hr["status"]["history"]] \
        == [(2, "deployed", "6.9.2"), (1, "superseded", "5.2.1")]
    dep = await env.get("apps/v1", "Deployment", "podinfo")
    assert dep is not None and old_rs is not None
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.9.2")
    assert dep["metadata"]["generation"] > old_rs["metadata"]["generation"]
    with sdk.Config(kubeconfig_path=str(sluice_cluster.kubeconfig), namespace=ns) as cfg:
        assert [r["revision"] for r in cfg.history("podinfo")] == [1, 2]

    # A values change upgrades too.
    await env.patch("v1", "ConfigMap", "podinfo-values", {"data": {"values.yaml":
                                                                   "replicaCount: 3\n"}})
    await env.annotate("podinfo")
    hr = await env.wait_hr("podinfo", "True", "UpgradeSucceeded", message="podinfo.v3")
    dep = await env.get("apps/v1", "Deployment", "podinfo")
    assert dep is not None and dep["spec"]["replicas"] == 3

    # Labelled reconcile.fluxcd.io/watch=Enabled, the ConfigMap upgrades the release as soon
    # as its data changes: no annotation, and well before the 1m interval.
    await env.patch("v1", "ConfigMap", "podinfo-values", {"metadata": {"labels": {
        "reconcile.fluxcd.io/watch": "Enabled"}}})
    await env.patch("v1", "ConfigMap", "podinfo-values", {"data": {"values.yaml":
                                                                   "replicaCount: 4\n"}})
    hr = await env.wait_hr("podinfo", "True", "UpgradeSucceeded", message="podinfo.v4",
                           limit=20)
    dep = await env.get("apps/v1", "Deployment", "podinfo")
    assert dep is not None and dep["spec"]["replicas"] == 4

    # Deletion uninstalls the release and removes the HelmChart.
    await env.delete(HR_API, "HelmRelease", "podinfo")
    await env.wait_for(lambda: _gone(env), lambda done: done, "release uninstalled")
    assert await env.get(SOURCE_API, "HelmChart", f"{ns}-podinfo") is None
    with sdk.Config(kubeconfig_path=str(sluice_cluster.kubeconfig), namespace=ns) as cfg:
        assert cfg.list() == []


async def _gone(env: Helm) -> bool | None:
    if await env.hr("podinfo") is not None:
        return None
    return await env.get("apps/v1", "Deployment", "podinfo") is None or None
