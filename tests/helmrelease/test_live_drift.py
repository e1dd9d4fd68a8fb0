"""HelmRelease drift from the live-state watches: corrected at once, no dry run while none.

``interval: 1h``: only the watches (`controllers.helmrelease.livedrift`) can
bring a ``kubectl scale`` back in time. A reconcile with nothing changed in
the cluster skips the drift dry run (counted at the server) and still reports
``NoDriftDetected`` as Flux does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sluice.testing.background import BackgroundCluster
from sluice.testing.requests import RequestCounter

from .charts import podinfo_chart
from .conftest import Helm, condition
from .test_remediation import HR


async def test_drift_is_corrected_at_once_and_not_dry_run_while_none(
        helm_env: Helm, tmp_path: Path, kubectl: object,
        sluice_cluster: BackgroundCluster) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "1.0.0"))
    await env.apply(HR + "  driftDetection:\n    mode: enabled\n")
    await env.wait_hr("app", "True", "InstallSucceeded")
    await env.wait_for(lambda: env.hr("app"),
                       lambda o: (condition(o, "Drifted") or {}).get("reason") ==
                       "NoDriftDetected", "no drift")

    async def reconcile_without_dry_run() -> dict[str, object] | None:
        # (The first may come before the watches have listed: it dry-runs, correctly.)
        with RequestCounter(sluice_cluster, namespace=ns) as seen:
            stamp = await env.annotate("app")
            handled = await env.wait_for(
                lambda: env.hr("app"),
                lambda o: o["status"].get("lastHandledReconcileAt") == stamp,
                "the requested reconcile handled")
            return handled if not seen.dry_runs() else None

    hr = await env.wait_for(reconcile_without_dry_run, bool,
                            "a reconcile with no drift dry run", limit=20)
    assert condition(hr, "Drifted")["reason"] == "NoDriftDetected"

    out = await asyncio.to_thread(kubectl.ok,  # type: ignore[attr-defined]
                                  "scale", "deployment/app", "--replicas=4", "-n", ns)
    assert "scaled" in out

    async def corrected() -> bool | None:
        dep = await env.get("apps/v1", "Deployment", "app")
        done = any(m.startswith(f"Cluster state of release {ns}/app.v1 has been corrected")
                   for m in await env.messages("app"))
        return (done and dep is not None and dep["spec"]["replicas"] == 1) or None

    await env.wait_for(corrected, lambda ok: ok, "drift corrected without a request", limit=20)
    hr = await env.hr("app")
    assert hr is not None and len(hr["status"]["history"]) == 1  # no Helm upgrade
