"""``dependsOn`` and ``suspend``, as helm-controller handles them.

A HelmRelease waits (``DependencyNotReady``, naming the dependency) until
the HelmReleases it depends on are Ready, then installs without anyone
asking again. A suspended HelmRelease is not reconciled (a values change
does not upgrade it) and, deleted while suspended, leaves its release and
its objects running, as Flux does.
"""

from __future__ import annotations

from pathlib import Path

from sluice.helmsdk import helm
from sluice.testing.background import BackgroundCluster

from .charts import podinfo_chart
from .conftest import HR_API, SOURCE_API, Helm, condition

HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
spec:
  interval: 1h
  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
"""


async def test_depends_on_then_suspend_keeps_the_release(helm_env: Helm, tmp_path: Path,
                                                         sluice_cluster: BackgroundCluster
                                                         ) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "1.0.0"))
    await env.apply(HR.format(name="frontend") + "  dependsOn:\n    - name: backend\n")
    hr = await env.wait_hr("frontend", "False", "DependencyNotReady")
    assert condition(hr, "Ready")["message"] == (
        f"could not get dependency '{ns}/backend': helmreleases.helm.toolkit.fluxcd.io "
        "\"backend\" not found")
    assert await env.get("apps/v1", "Deployment", "frontend") is None

    await env.apply(HR.format(name="backend"))
    await env.wait_hr("backend", "True", "InstallSucceeded")
    await env.wait_hr("frontend", "True", "InstallSucceeded")  # retried on its own

    # Suspended: a values change is not released.
    await env.patch(HR_API, "HelmRelease", "frontend", {"spec": {"suspend": True}})
    await env.patch(HR_API, "HelmRelease", "frontend", {"spec": {"values": {"replicaCount": 3}}})
    stamp = await env.annotate("frontend")
    backend_stamp = await env.annotate("backend")
    await env.wait_for(lambda: env.hr("backend"),
                       lambda o: o["status"].get("lastHandledReconcileAt") == backend_stamp,
                       "backend reconciled")
    hr = await env.hr("frontend")
    assert hr is not None and hr["status"].get("lastHandledReconcileAt") != stamp
    assert len(hr["status"]["history"]) == 1
    dep = await env.get("apps/v1", "Deployment", "frontend")
    assert dep is not None and dep["spec"]["replicas"] == 1

    # Deleted while suspended: the release, its objects and its HelmChart stay.
    await env.delete(HR_API, "HelmRelease", "frontend")

    async def deleted() -> bool | None:
        return await env.hr("frontend") is None or None

    await env.wait_for(deleted, lambda gone: gone, "HelmRelease deleted")
    assert await env.get("apps/v1", "Deployment", "frontend") is not None
    assert await env.get(SOURCE_API, "HelmChart", f"{ns}-frontend") is not None
    with helm().Config(kubeconfig_path=str(sluice_cluster.kubeconfig), namespace=ns) as cfg:
        assert sorted(r["name"] for r in cfg.list()) == ["backend", "frontend"]

