"""``spec.postRenderers`` and ``commonMetadata``: what Helm applies is what the user asked for.

helm-controller runs each kustomize post-renderer (``patches`` with targets,
the deprecated ``patchesStrategicMerge``/``patchesJson6902``, ``images``) over
Helm's rendered manifest, then ``commonMetadata`` and its own origin labels;
Sluice does the same through its Helm post-renderer plugin. The objects in
the cluster and Helm's stored manifest both carry the result, and a change
of the post-renderers upgrades the release.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sluice.helmsdk import helm
from sluice.testing.background import BackgroundCluster

from .charts import podinfo_chart
from .conftest import HR_API, Helm

HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
spec:
  interval: 1h
  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
  commonMetadata:
    labels:
      team: blue
    annotations:
      owner: platform
  postRenderers:
    - kustomize:
        images:
          - name: ghcr.io/stefanprodan/podinfo
            newName: registry.example.com/podinfo
            newTag: 6.9.9
        patches:
          - target:
              kind: Deployment
            patch: |
              apiVersion: apps/v1
              kind: Deployment
              metadata:
                name: not-used
                labels:
                  patched: strategic
          - target:
              kind: Service
              name: app
            patch: |
              - op: replace
                path: /spec/ports/0/port
                value: 8080
    - kustomize:
        patchesStrategicMerge:
          - apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: app
            spec:
              replicas: 3
"""


async def test_post_renderers_and_common_metadata(helm_env: Helm, tmp_path: Path,
                                                  sluice_cluster: BackgroundCluster) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "6.9.2"))
    await env.apply(HR)
    await env.wait_hr("app", "True", "InstallSucceeded")

    dep = await env.get("apps/v1", "Deployment", "app")
    assert dep is not None
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/podinfo:6.9.9"
    assert dep["spec"]["replicas"] == 3  # the second post-renderer, on the first's output
    labels = dep["metadata"]["labels"]
    assert labels["patched"] == "strategic"
    assert labels["team"] == "blue"
    assert labels["helm.toolkit.fluxcd.io/name"] == "app"
    assert labels["helm.toolkit.fluxcd.io/namespace"] == ns
    assert dep["metadata"]["annotations"]["owner"] == "platform"
    svc = await env.get("v1", "Service", "app")
    assert svc is not None and svc["spec"]["ports"][0]["port"] == 8080
    assert "patched" not in (svc["metadata"].get("labels") or {})  # target: Deployment only
    assert svc["metadata"]["labels"]["team"] == "blue"

    # Helm recorded the post-rendered manifest: its own status shows the new image.
    with helm().Config(kubeconfig_path=str(sluice_cluster.kubeconfig), namespace=ns) as cfg:
        manifest = cfg.status("app")["manifest"]
    images = [c["image"] for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]]
    assert images == ["registry.example.com/podinfo:6.9.9"]

    # Another image tag in the post-renderer: a Helm upgrade rolls it out.
    await env.patch(HR_API, "HelmRelease", "app", {"spec": {"postRenderers": [
        {"kustomize": {"images": [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "7.0.0"}]}}
    ]}})
    await env.wait_hr("app", "True", "UpgradeSucceeded")
    dep = await env.get("apps/v1", "Deployment", "app")
    assert dep is not None
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "ghcr.io/stefanprodan/podinfo:7.0.0"
    assert dep["spec"]["replicas"] == 1
