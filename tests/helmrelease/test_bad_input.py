"""Bad input to a HelmRelease: Flux's reason, Helm's error on one line, the last release kept.

What a user sees when the values or the chart are wrong: ``Ready=False``
with helm-controller's reason and message (the values reference named, the
Helm error on one readable line), a Warning event, and the release that ran
before still running, unchanged, with no Secret value quoted anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from sluice.testing.helmrepo import build_chart

from .charts import podinfo_chart
from .conftest import HR_API, Helm, condition

HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
spec:
  interval: 1h
  timeout: 20s
  chart:
    spec:
      chart: podinfo
      version: "1.0.0"
      sourceRef:
        kind: HelmRepository
        name: podinfo
  valuesFrom:
    - kind: ConfigMap
      name: app-values
    - kind: Secret
      name: app-secret
      valuesKey: token
      targetPath: ui.message
"""
TOKEN = "s3cr3t-token-never-shown"
SECRET = f"""apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  token: {TOKEN}
"""


def _values(text: str) -> str:
    return ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-values\ndata:\n"
            "  values.yaml: " + json.dumps(text) + "\n")


async def _image(env: Helm) -> str:
    dep = await env.get("apps/v1", "Deployment", "app")
    assert dep is not None
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_bad_values_and_charts_keep_the_last_release(helm_env: Helm,
                                                           tmp_path: Path) -> None:
    env, ns = helm_env, helm_env.namespace
    charts = tmp_path / "charts"
    env.source.add(podinfo_chart(charts, "1.0.0"))
    env.source.add(build_chart(charts, "podinfo", "2.0.0", {
        "templates/broken.yaml": "kind: ConfigMap\nvalue: {{ .Values.missing.deeper }}\n"}))
    env.source.add(build_chart(charts, "podinfo", "3.0.0", {
        "templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n"
                              "spec:\n  ports:\n    - port: many\n"}))
    await env.apply(SECRET)

    # A valuesFrom object that does not exist: named, nothing installed.
    await env.apply(HR)
    hr = await env.wait_hr("app", "False", "ValuesError")
    assert condition(hr, "Ready")["message"] == (
        f"could not resolve ConfigMap chart values reference '{ns}/app-values' with key "
        "'values.yaml': configmaps \"app-values\" not found")
    assert await env.get("apps/v1", "Deployment", "app") is None

    # Values that are not YAML.
    await env.apply(_values("replicaCount: [2\n"))
    await env.annotate("app")
    hr = await env.wait_hr("app", "False", "ValuesError", message="failed to parse values")
    assert "\n" not in condition(hr, "Ready")["message"]

    await env.patch("v1", "ConfigMap", "app-values", {"data": {"values.yaml":
                                                               "replicaCount: 2\n"}})
    await env.annotate("app")
    await env.wait_hr("app", "True", "InstallSucceeded")
    assert await _image(env) == "ghcr.io/stefanprodan/podinfo:1.0.0"

    # A chart that does not render, then one whose objects are invalid: the upgrade
    # fails with Helm's error on one line; revision 1 keeps running.
    for version, part in (("2.0.0", "<.Values.missing.deeper>: nil pointer evaluating"),
                          ("3.0.0", "spec.ports[0].port in body must be of type integer")):
        await env.patch(HR_API, "HelmRelease", "app",
                        {"spec": {"chart": {"spec": {"version": version}}}})
        hr = await env.wait_hr("app", "False", "UpgradeFailed", message=f"podinfo@{version}")
        message = condition(hr, "Ready")["message"]
        assert message.startswith(f"Helm upgrade failed for release {ns}/app with chart "
                                  f"podinfo@{version}: ")
        assert part in message and "\n" not in message
        assert await _image(env) == "ghcr.io/stefanprodan/podinfo:1.0.0"
        deployed = [h for h in hr["status"]["history"] if h["status"] == "deployed"]
        assert [(h["version"], h["chartVersion"]) for h in deployed] == [(1, "1.0.0")]
        messages = await env.messages("app")
        assert any(m == message for m in messages)

    hr = await env.hr("app")
    events = await env.events("HelmRelease", "app")
    assert TOKEN not in json.dumps(hr) + json.dumps(events)
