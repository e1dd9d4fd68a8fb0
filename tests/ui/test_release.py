"""A HelmRelease's page after a real install and upgrade: merged values, Helm's history, result.

The HelmRelease controller runs in-process (the helm tests' `helm_env`), Helm
installs and upgrades for real on the embedded cluster, and the UI reads what
a user would: the values the next release gets (a Secret's password masked,
a ConfigMap's message shown), each revision with its chart and app versions,
and how the last action ended.
"""

from __future__ import annotations

import base64
from pathlib import Path

from sluice.testing.polling import async_wait_for

from ..helmrelease.charts import podinfo_chart
from ..helmrelease.conftest import HR_API, Helm, helm_env  # noqa: F401 (the fixture)
from .conftest import UI

PASSWORD = "hunter2-in-a-secret"
VALUES = """apiVersion: v1
kind: ConfigMap
metadata:
  name: podinfo-values
data:
  values.yaml: |
    ui:
      message: "Bonjour depuis Sluice"
---
apiVersion: v1
kind: Secret
metadata:
  name: podinfo-secret-values
data:
  values.yaml: {secret}
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
    - kind: Secret
      name: podinfo-secret-values
  values:
    replicaCount: 2
"""


async def test_helmrelease_page_shows_values_history_and_last_result(
        ui: UI, helm_env: Helm, tmp_path: Path) -> None:  # noqa: F811
    env = helm_env
    ns = env.namespace
    for version in ("5.2.1", "6.0.0"):
        env.source.add(podinfo_chart(tmp_path / "charts", version))
    secret = base64.b64encode(f"auth:\n  password: {PASSWORD}\n".encode()).decode()
    await env.apply(VALUES.format(secret=secret))
    await env.apply(HR.format(version="5.2.1"))
    await env.wait_hr("podinfo", "True", "InstallSucceeded")
    await env.patch(HR_API, "HelmRelease", "podinfo",
                    {"spec": {"chart": {"spec": {"version": "6.0.0"}}}})
    await env.wait_hr("podinfo", "True", "UpgradeSucceeded", message="podinfo.v2")

    page_path = f"/object/HelmRelease/{ns}/podinfo"

    async def upgraded() -> str | None:
        page = await ui.page(page_path)
        return page if "UpgradeSucceeded" in page else None
    page = await async_wait_for(upgraded, timeout=10, what="the upgrade on the page")
    # The last action and its result, from the live object.
    assert "Last action</dt><dd>upgrade of 6.0.0" in page
    assert "Released</dt><dd>True UpgradeSucceeded" in page
    assert f"Helm upgrade succeeded for release {ns}/podinfo.v2 with chart podinfo@6.0.0" in page
    assert f'hx-get="{page_path}/release"' in page

    fragment = await ui.page(f"{page_path}/release")
    values = fragment.split('<pre class="yaml values">', 1)[1].split("</pre>", 1)[0]
    assert "message: Bonjour depuis Sluice" in values  # ConfigMap values shown
    assert "replicaCount: 2" in values  # inline values merged last
    assert "password: ••••••" in values  # the Secret's value masked where it lands
    assert PASSWORD not in fragment and PASSWORD not in page
    assert "values from Secret/podinfo-secret-values are masked" in fragment
    history = fragment.split('class="helm-history"', 1)[1].split("</table>", 1)[0]
    rows = [r for r in history.split("<tr")[2:]]
    assert len(rows) == 2, history
    assert "<td>2</td><td>deployed</td><td>podinfo@6.0.0</td><td>6.0.0</td>" in rows[0]
    assert "Upgrade complete" in rows[0]
    assert "<td>1</td><td>superseded</td><td>podinfo@5.2.1</td><td>5.2.1</td>" in rows[1]
    assert "Install complete" in rows[1]
    missing = await ui.client.get(f"/object/Kustomization/{ns}/podinfo/release")
    assert missing.status_code == 404
