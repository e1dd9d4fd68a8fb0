"""Failures and their remediation, tests and drift, as helm-controller handles them."""

from __future__ import annotations

from pathlib import Path

from sluice.helmsdk import helm
from sluice.testing.background import BackgroundCluster

from .charts import podinfo_chart
from .conftest import HR_API, Helm, condition

HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
spec:
  interval: 1h
  timeout: 3s
  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
"""


async def test_failing_upgrade_with_one_retry_rolls_back_then_stalls(helm_env: Helm,
                                                                      tmp_path: Path) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "1.0.0"))
    await env.apply(HR + "  upgrade:\n    remediation:\n      retries: 1\n")
    await env.wait_hr("app", "True", "InstallSucceeded")

    # Pods of this template are never scheduled: Helm's wait times out, the upgrade fails.
    await env.patch(HR_API, "HelmRelease", "app", {"spec": {"values": {"schedulerName":
                                                                        "nowhere"}}})
    hr = await env.wait_for(lambda: env.hr("app"),
                            lambda o: condition(o, "Stalled") is not None,
                            "stalled after the retries", limit=90)
    stalled = condition(hr, "Stalled")
    assert stalled["reason"] == "RetriesExceeded"
    assert stalled["message"] == "Failed to upgrade after 2 attempt(s)"
    ready = condition(hr, "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "RollbackSucceeded"
    # The second rollback goes back to the first rollback's revision (the previous success).
    assert ready["message"] == (f"Helm rollback to previous release {ns}/app.v3 with chart "
                                "podinfo@1.0.0 succeeded")
    assert condition(hr, "Released")["reason"] == "UpgradeFailed"
    assert hr["status"]["upgradeFailures"] == 2
    messages = await env.messages("app")
    assert any(m.startswith(f"Helm upgrade failed for release {ns}/app with chart "
                            "podinfo@1.0.0: ") for m in messages)
    assert sum(m.startswith("Helm rollback to previous release") for m in messages) == 2
    # Back on the first revision's template: the scheduler override is gone.
    dep = await env.get("apps/v1", "Deployment", "app")
    assert dep is not None
    assert dep["spec"]["template"]["spec"].get("schedulerName") == "default-scheduler"
    statuses = [(h["version"], h["status"]) for h in hr["status"]["history"]]
    assert statuses[0] == (5, "deployed") and (4, "failed") in statuses

    # Without retries (the default) a failed upgrade is not rolled back.
    await env.patch(HR_API, "HelmRelease", "app",
                    {"spec": {"upgrade": None, "values": {"schedulerName": "elsewhere"}}})
    hr = await env.wait_for(lambda: env.hr("app"),
                            lambda o: (condition(o, "Stalled") or {}).get("message") ==
                            "Failed to upgrade after 1 attempt(s)", "stalled, no rollback",
                            limit=60)
    assert condition(hr, "Ready")["reason"] == "UpgradeFailed"
    assert hr["status"]["history"][0]["status"] == "failed"


async def test_failing_test_marks_the_release_and_a_passing_one_is_counted(
        helm_env: Helm, tmp_path: Path) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "1.0.0", test=True))
    await env.apply(HR + "  test:\n    enable: true\n    timeout: 20s\n")
    hr = await env.wait_hr("app", "True", "TestSucceeded")
    assert condition(hr, "Ready")["message"] == (
        f"Helm test succeeded for release {ns}/app.v1 with chart podinfo@1.0.0: "
        "1 test hook completed successfully")
    assert hr["status"]["history"][0]["testHooks"]["app-test"]["phase"] == "Succeeded"

    # A test pod that never runs: the test times out and fails.
    await env.patch(HR_API, "HelmRelease", "app",
                    {"spec": {"values": {"testSchedulerName": "nowhere"},
                              "test": {"timeout": "2s"}}})
    hr = await env.wait_for(lambda: env.hr("app"),
                            lambda o: (condition(o, "TestSuccess") or {}).get("status") ==
                            "False", "test failed", limit=60)
    cond = condition(hr, "TestSuccess")
    assert cond["reason"] == "TestFailed"
    assert cond["message"].startswith(f"Helm test failed for release {ns}/app.v2 with chart "
                                      "podinfo@1.0.0: ")
    assert condition(hr, "Ready")["status"] == "False"
    assert any(m.startswith("Helm test failed") for m in await env.messages("app"))

    # test.ignoreFailures: the failed test no longer makes the release unready.
    await env.patch(HR_API, "HelmRelease", "app", {"spec": {"test": {"ignoreFailures": True}}})
    hr = await env.wait_hr("app", "True")
    assert condition(hr, "TestSuccess")["status"] == "False"
    assert hr["status"]["history"][0]["version"] == 2  # no new Helm action


async def test_drift_is_detected_and_corrected(helm_env: Helm, tmp_path: Path,
                                               kubectl: object) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "1.0.0"))
    await env.apply(HR + "  driftDetection:\n    mode: enabled\n")
    hr = await env.wait_hr("app", "True", "InstallSucceeded")
    await env.annotate("app")
    hr = await env.wait_for(lambda: env.hr("app"),
                            lambda o: (condition(o, "Drifted") or {}).get("reason") ==
                            "NoDriftDetected", "no drift")
    assert condition(hr, "Drifted")["message"] == "No drift detected against the cluster state"

    kubectl.ok("scale", "deployment/app", "--replicas=4", "-n", ns)  # type: ignore[attr-defined]
    await env.annotate("app")

    async def corrected() -> bool | None:
        dep = await env.get("apps/v1", "Deployment", "app")
        messages = await env.messages("app")
        done = any(m.startswith(f"Cluster state of release {ns}/app.v1 has been corrected")
                   for m in messages)
        return (done and dep is not None and dep["spec"]["replicas"] == 1) or None

    await env.wait_for(corrected, lambda ok: ok, "drift corrected")
    messages = await env.messages("app")
    detected = [m for m in messages if m.startswith("Cluster state of release")
                and "has drifted" in m]
    assert detected and "Deployment/" + ns + "/app" in detected[0]
    hr = await env.hr("app")
    assert hr is not None and len(hr["status"]["history"]) == 1  # no Helm upgrade


async def test_drift_warn_mode_and_ignore_rules(helm_env: Helm, tmp_path: Path,
                                                kubectl: object) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "1.0.0"))
    await env.apply(HR + "  driftDetection:\n    mode: warn\n    ignore:\n"
                    "      - paths: [\"/spec/replicas\"]\n        target:\n"
                    "          kind: Deployment\n")
    await env.wait_hr("app", "True", "InstallSucceeded")

    # An ignored field (an HPA's, say) may change: no drift.
    kubectl.ok("scale", "deployment/app", "--replicas=4", "-n", ns)  # type: ignore[attr-defined]
    stamp = await env.annotate("app")
    hr = await env.wait_for(lambda: env.hr("app"),
                            lambda o: o["status"].get("lastHandledReconcileAt") == stamp,
                            "reconciled after the scale")
    assert condition(hr, "Drifted")["reason"] == "NoDriftDetected"
    assert condition(hr, "Drifted")["status"] == "False"

    # Anything else is reported, and in warn mode left as it is.
    kubectl.ok("patch", "service/app", "-n", ns, "--type=json",  # type: ignore[attr-defined]
               "-p", '[{"op":"replace","path":"/spec/ports/0/port","value":9999}]')
    await env.annotate("app")
    hr = await env.wait_for(lambda: env.hr("app"),
                            lambda o: (condition(o, "Drifted") or {}).get("status") == "True",
                            "drift detected")
    drifted = condition(hr, "Drifted")
    assert drifted["reason"] == "DriftDetected"
    assert drifted["message"].startswith(f"Cluster state of release {ns}/app.v1 has drifted "
                                         "from the desired state:\n")
    assert f"Service/{ns}/app" in drifted["message"]
    assert "Deployment" not in drifted["message"]
    svc = await env.get("v1", "Service", "app")
    dep = await env.get("apps/v1", "Deployment", "app")
    assert svc is not None and svc["spec"]["ports"][0]["port"] == 9999
    assert dep is not None and dep["spec"]["replicas"] == 4
    assert not any("has been corrected" in m for m in await env.messages("app"))
    assert len(hr["status"]["history"]) == 1


async def _set_release_status(env: Helm, secret_name: str, status: str) -> None:
    """What a controller killed mid-upgrade leaves behind: the revision stuck ``pending-*``."""
    import base64
    import gzip
    import json as _json

    m = await env.mapping("v1", "Secret")
    secret = await env.objects.get(m, secret_name, env.namespace)
    raw = gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"])))
    release = _json.loads(raw)
    release["info"]["status"] = status
    data = base64.b64encode(base64.b64encode(gzip.compress(_json.dumps(release).encode())))
    await env.objects.merge_patch(m, secret_name, {
        "metadata": {"labels": {"status": status}}, "data": {"release": data.decode()}},
        env.namespace)


async def test_install_remediation_then_unlock_of_a_pending_release(
        helm_env: Helm, tmp_path: Path, sluice_cluster: BackgroundCluster) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "1.0.0"))
    await env.apply(HR + "  install:\n    remediation:\n      retries: 1\n  values:\n"
                    "    schedulerName: nowhere\n")
    hr = await env.wait_for(lambda: env.hr("app"),
                            lambda o: condition(o, "Stalled") is not None,
                            "stalled after the install retries", limit=90)
    assert condition(hr, "Stalled")["message"] == "Failed to install after 2 attempt(s)"
    assert hr["status"]["installFailures"] == 2
    assert condition(hr, "Remediated")["reason"] == "UninstallSucceeded"
    reasons = [(e["reason"], e.get("count")) for e in await env.events("HelmRelease", "app")
               if e["reason"] in ("InstallFailed", "UninstallSucceeded")]
    # The first failure is uninstalled; the last is left for inspection (install's
    # remediateLastFailure defaults to false in Flux).
    assert sorted(reasons) == [("InstallFailed", 2), ("UninstallSucceeded", 1)]
    assert await env.get("apps/v1", "Deployment", "app") is not None

    # Fixed values: the failed release is upgraded (Flux's Failed -> upgrade).
    await env.patch(HR_API, "HelmRelease", "app", {"spec": {"values": None}})
    await env.wait_hr("app", "True", "UpgradeSucceeded", message="app.v2")

    # A controller killed mid-upgrade leaves v2 pending: unlocked, then upgraded again.
    await _set_release_status(env, "sh.helm.release.v1.app.v2", "pending-upgrade")
    await env.annotate("app")
    hr = await env.wait_hr("app", "True", "UpgradeSucceeded", message="app.v3")
    assert (f"Unlocked Helm release {ns}/app.v2 with chart podinfo@1.0.0 in pending-upgrade "
            "state") in await env.messages("app")
    with helm().Config(kubeconfig_path=str(sluice_cluster.kubeconfig), namespace=ns) as cfg:
        statuses = {r["revision"]: r["status"] for r in cfg.history("app")}
        unlocked = cfg.get_all("app", revision=2)
    assert statuses == {1: "superseded", 2: "superseded", 3: "deployed"}
    # Helm's upgrade superseded v2, keeping the unlock's description.
    assert unlocked["info"]["description"] == \
        "Release unlocked from stale 'pending-upgrade' state"


async def test_failing_upgrade_with_uninstall_strategy_reinstalls(helm_env: Helm,
                                                                  tmp_path: Path) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(podinfo_chart(tmp_path / "charts", "1.0.0"))
    await env.apply(HR + "  upgrade:\n    remediation:\n      retries: 1\n"
                    "      strategy: uninstall\n")
    await env.wait_hr("app", "True", "InstallSucceeded")
    await env.patch(HR_API, "HelmRelease", "app", {"spec": {"values": {"schedulerName":
                                                                        "nowhere"}}})
    hr = await env.wait_for(lambda: env.hr("app"),
                            lambda o: condition(o, "Stalled") is not None,
                            "stalled after the upgrade retries", limit=90)
    reasons = [e["reason"] for e in await env.events("HelmRelease", "app")
               if e["reason"] != "HelmChartCreated"]
    # Uninstalled instead of rolled back; then a fresh install, under the install's
    # remediation (no retries by default), which fails the same way and stalls.
    # (Events carry seconds: compared as a set of one of each, not in order.)
    assert sorted(reasons) == ["InstallFailed", "InstallSucceeded", "UninstallSucceeded",
                               "UpgradeFailed"], reasons
    assert f"Helm uninstall remediation for release {ns}/app.v2 with chart podinfo@1.0.0 " \
        "succeeded" in await env.messages("app")
    assert condition(hr, "Stalled")["message"] == "Failed to install after 1 attempt(s)"
