"""``sluice diff helmrelease`` renders as Helm does against the cluster: ``lookup`` and capabilities.

A chart may read live objects (``lookup``) and branch on the cluster's
capabilities (``.Capabilities.APIVersions.Has``, ``.KubeVersion``); rendered
offline it would see nothing and Helm's defaults, and the preview would not
be the release the controller makes. Here the chart's ConfigMap carries
what the template saw; the live copy was written with what a real install
sees, so a correct render shows no change in those fields.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.testing.helmrepo import build_chart

from .conftest import load_objects, run_sluice

TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-seen
data:
  color: {{ (lookup "v1" "ConfigMap" .Release.Namespace "settings").data.color | default "none" | quote }}
  flux: {{ .Capabilities.APIVersions.Has "helm.toolkit.fluxcd.io/v2/HelmRelease" | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  revision: {{ .Release.Revision | quote }}
"""
HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
  namespace: {ns}
spec:
  interval: 1h
  chart:
    spec:
      chart: app
      sourceRef:
        kind: HelmRepository
        name: nowhere
"""


def _server_version(kubeconfig: Path) -> str:
    async def main() -> str:
        conn = connect(kubeconfig)
        try:
            resp = await conn.http.get("/version")
            return str(resp.json()["gitVersion"])
        finally:
            await conn.aclose()

    return asyncio.run(main())


def _live(kubeconfig: Path, namespace: str, data: dict[str, str]) -> None:
    async def main() -> None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            m = await objects.mapping("v1", "ConfigMap")
            for name, values in (("settings", {"color": "teal"}), ("app-seen", data)):
                await objects.create(m, {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": name, "namespace": namespace},
                                         "data": values})
        finally:
            await conn.aclose()

    asyncio.run(main())


def test_diff_renders_with_lookup_and_the_clusters_capabilities(
        kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    chart = build_chart(tmp_path / "chart", "app", "1.0.0", {"templates/cm.yaml": TEMPLATE})
    version = _server_version(kubeconfig)
    _live(kubeconfig, namespace, {"color": "teal", "flux": "true", "kube": version,
                                  "revision": "1"})
    load_objects(kubeconfig, HR.format(ns=namespace), namespace)
    out = run_sluice(kubeconfig, "diff", "hr", "app", f"--path={chart}", "-n", namespace)
    # Only the controller's labels would change (offline, lookup finds nothing and the
    # template fails; Helm's default capabilities would change every data field).
    assert out.code == 1 and "could not be rendered" not in out.stderr, out
    assert f"► ConfigMap/{namespace}/app-seen drifted" in out.stdout, out
    assert "helm.toolkit.fluxcd.io/name: app" in out.stdout, out
    assert "data.color" not in out.stdout and "data.kube" not in out.stdout, out
    assert "data.flux" not in out.stdout and "data.revision" not in out.stdout, out
