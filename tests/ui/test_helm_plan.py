"""A HelmRelease's plan on its page: the next upgrade rendered by Helm and dry-run, Secrets masked.

The HelmRelease controller runs in-process and installs for real. The
release is then suspended while its values change (an inline value and the
password-like message held in a ``valuesFrom`` Secret): the plan must name
the Deployment's changed fields, never show the Secret's value (old or new)
where the chart put it, and say nothing changes while nothing does.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from sluice.testing.polling import async_wait_for
from sluice.ui.redact import MASK

from ..helmrelease.charts import podinfo_chart
from ..helmrelease.conftest import HR_API, Helm, helm_env  # noqa: F401 (the fixture)
from .conftest import UI
from .test_release import HR, VALUES

FIRST = "first-secret-message-4242"
SECOND = "rotated-secret-message-9191"


def _values(message: str) -> str:
    """test_release's values: a ConfigMap, then a Secret whose message wins (merged last)."""
    return VALUES.format(secret=base64.b64encode(f"ui:\n  message: {message}\n".encode())
                         .decode())


async def test_helmrelease_plan_shows_the_next_upgrade_with_secret_values_masked(
        ui: UI, helm_env: Helm, tmp_path: Path) -> None:  # noqa: F811
    env = helm_env
    ns = env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "6.0.0"))
    await env.apply(_values(FIRST))
    await env.apply(HR.format(version="6.0.0"))
    await env.wait_hr("podinfo", "True", "InstallSucceeded")
    page_path = f"/object/HelmRelease/{ns}/podinfo"

    async def plan(wanted: str) -> str | None:
        resp = await ui.client.get(f"{page_path}/plan")  # 404 until the informers see it
        return resp.text if resp.status_code == 200 and wanted in resp.text else None

    clean = await async_wait_for(lambda: plan("no changes"), timeout=15,
                                 what="a clean plan after the install")
    assert "the cluster matches the chart and its values" in clean
    assert "Against chart revision <span class=\"revision\">6.0.0</span>" in clean
    page = await ui.page(page_path)
    assert f'hx-get="{page_path}/plan"' in page
    assert "Show what the next upgrade would change" in page

    # Suspended, so the controller leaves the change for the plan to show.
    await env.patch(HR_API, "HelmRelease", "podinfo",
                    {"spec": {"suspend": True, "values": {"replicaCount": 3}}})
    await env.apply(_values(SECOND))
    changed = await async_wait_for(lambda: plan("would change the cluster"), timeout=15,
                                   what="the plan of the changed values")
    assert "the next upgrade would change the cluster" in changed
    # Suspended: the page works the plan out at once, as a preview of Resume.
    page = await ui.page(page_path)
    assert "suspended: what Resume would change" in page
    assert f'<div id="plan" hx-get="{page_path}/plan" hx-trigger="load">' in page
    assert f"Deployment/{ns}/podinfo drifted" in changed
    lines = [re.sub(r"<[^>]+>", "", line).strip() for line in changed.splitlines()]
    replicas = lines.index("spec.replicas")
    assert lines[replicas + 2:replicas + 4] == ["- 2", "+ 3"], lines
    assert f"Service/{ns}/podinfo" not in changed  # unchanged objects are not listed
    # The message came from the Secret: masked on both sides, where the chart put it.
    assert FIRST not in changed and SECOND not in changed
    assert f"- {MASK}" in lines and f"+ {MASK}" in lines, lines
    missing = await ui.client.get(f"/object/HelmChart/{ns}/{ns}-podinfo/plan")
    assert missing.status_code == 404
