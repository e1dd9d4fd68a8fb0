"""The seed's podinfo walkthrough: HelmRepository -> HelmChart -> HelmRelease, with real controllers."""

from __future__ import annotations

from pathlib import Path

from sluice.testing.helmrepo import build_podinfo_chart

from .conftest import HR_API, SOURCE_API, Seed, condition

SEED = """apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
spec:
  interval: 1m
  url: {url}
---
apiVersion: v1
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
      message: "Bienvenue dans la démo Flux !"
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  interval: 1m
  chart:
    spec:
      chart: podinfo
      version: "<6.0.0"
      sourceRef:
        kind: HelmRepository
        name: podinfo
      interval: 1m
  valuesFrom:
    - kind: ConfigMap
      name: podinfo-values
"""


async def test_seed_podinfo_install_then_upgrade(seed_env: Seed, tmp_path: Path) -> None:
    env, ns = seed_env, seed_env.namespace
    for version in ("5.2.1", "6.9.2"):
        env.repo.add_chart(build_podinfo_chart(tmp_path / "charts", version))
    await env.apply(SEED.format(url=env.repo.url))

    hr = await env.wait_hr("podinfo", "True", "InstallSucceeded")
    assert condition(hr, "Ready")["message"] == \
        f"Helm install succeeded for release {ns}/podinfo.v1 with chart podinfo@5.2.1"
    chart = await env.get(SOURCE_API, "HelmChart", f"{ns}-podinfo")
    assert chart is not None
    assert condition(chart, "Ready")["message"] == "pulled 'podinfo' chart with version '5.2.1'"
    dep = await env.get("apps/v1", "Deployment", "podinfo")
    assert dep is not None and dep["spec"]["replicas"] == 2
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"memory": "256Mi"},
                                      "requests": {"cpu": "100m", "memory": "64Mi"}}
    assert {"name": "PODINFO_UI_MESSAGE", "value": "Bienvenue dans la démo Flux !"} in \
        container["env"]
    pods = await env.objects.list(await env.mapping("v1", "Pod"), ns)
    first_pods = {p["metadata"]["name"] for p in pods[0]}

    # '*' opens the range: the HelmChart pulls 6.9.2 and the release upgrades.
    await env.patch(HR_API, "HelmRelease", "podinfo",
                    {"spec": {"chart": {"spec": {"version": "*"}}}})
    hr = await env.wait_hr("podinfo", "True", "UpgradeSucceeded", limit=90)
    assert condition(hr, "Ready")["message"] == \
        f"Helm upgrade succeeded for release {ns}/podinfo.v2 with chart podinfo@6.9.2"
    assert [(h["version"], h["chartVersion"]) for h in hr["status"]["history"]] == \
        [(2, "6.9.2"), (1, "5.2.1")]
    assert hr["status"]["lastAttemptedRevision"] == "6.9.2"

    # The Deployment rolled: new pods replaced the first ones.
    async def rolled() -> bool | None:
        items, _ = await env.objects.list(await env.mapping("v1", "Pod"), ns)
        names = {p["metadata"]["name"] for p in items
                 if p["metadata"].get("deletionTimestamp") is None}
        return (len(names) == 2 and not names & first_pods) or None

    await env.wait_for(rolled, lambda ok: ok, "pods rolled to 6.9.2")
    events = await env.messages("podinfo")
    assert f"Helm upgrade succeeded for release {ns}/podinfo.v2 with chart podinfo@6.9.2" in \
        events
