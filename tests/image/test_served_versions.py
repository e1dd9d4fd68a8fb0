"""The embedded cluster serves the image kinds as v1 and v1beta2: ImagePolicy with a real
conversion, and each version printing the columns Flux's CRDs print."""

from __future__ import annotations

import json

import httpx
import yaml

from ..conftest import Kubectl, needs_kubectl

IMAGE = "registry.k8s.io/e2e-test-images/agnhost"


def _policy(api: httpx.Client, namespace: str) -> None:
    body = {"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImagePolicy",
            "metadata": {"name": "agnhost"},
            "spec": {"imageRepositoryRef": {"name": "agnhost"},
                     "policy": {"numerical": {"order": "desc"}},
                     "filterTags": {"pattern": r"\d\.\d\d"}}}
    base = f"/apis/image.toolkit.fluxcd.io/v1beta2/namespaces/{namespace}/imagepolicies"
    assert api.post(base, json=body).status_code == 201
    # A controller writes status through v1.
    v1 = f"/apis/image.toolkit.fluxcd.io/v1/namespaces/{namespace}/imagepolicies/agnhost/status"
    resp = api.patch(v1, content=json.dumps({"status": {"latestRef": {"name": IMAGE,
                                                                      "tag": "2.10"}}}),
                     headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text


def test_status_written_as_v1_reads_as_v1beta2(api: httpx.Client, namespace: str) -> None:
    _policy(api, namespace)
    beta = api.get(f"/apis/image.toolkit.fluxcd.io/v1beta2/namespaces/{namespace}/"
                   "imagepolicies/agnhost").json()
    assert beta["status"]["latestImage"] == f"{IMAGE}:2.10"
    assert beta["status"]["latestRef"] == {"name": IMAGE, "tag": "2.10"}
    v1 = api.get(f"/apis/image.toolkit.fluxcd.io/v1/namespaces/{namespace}/"
                 "imagepolicies/agnhost").json()
    assert "latestImage" not in v1["status"]
    # A v1beta2 writer's spec edit goes through conversion and keeps the v1 status.
    resp = api.patch(f"/apis/image.toolkit.fluxcd.io/v1beta2/namespaces/{namespace}/"
                     "imagepolicies/agnhost",
                     content=json.dumps({"spec": {"policy": {"numerical": {"order": "asc"}}}}),
                     headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text
    v1 = api.get(f"/apis/image.toolkit.fluxcd.io/v1/namespaces/{namespace}/"
                 "imagepolicies/agnhost").json()
    assert v1["spec"]["policy"] == {"numerical": {"order": "asc"}}
    assert v1["status"]["latestRef"]["tag"] == "2.10" and "latestImage" not in v1["status"]


@needs_kubectl
def test_kubectl_prints_the_seed_columns_for_v1beta2(api: httpx.Client, kubectl: Kubectl,
                                                     namespace: str) -> None:
    _policy(api, namespace)
    out = kubectl.ok("-n", namespace, "get", "imagepolicies.v1beta2.image.toolkit.fluxcd.io")
    assert out.split("\n")[0].split() == ["NAME", "LATESTIMAGE"]
    assert out.split("\n")[1].split() == ["agnhost", f"{IMAGE}:2.10"]
    v1 = kubectl.ok("-n", namespace, "get", "imagepolicy", "agnhost", "-o", "yaml")
    assert yaml.safe_load(v1)["status"]["latestRef"]["tag"] == "2.10"


def _with_status(api: httpx.Client, namespace: str, plural: str, body: dict[str, object],
                 status: dict[str, object]) -> None:
    base = f"/apis/image.toolkit.fluxcd.io/v1/namespaces/{namespace}/{plural}"
    assert api.post(base, json=body).status_code == 201
    ready = {"type": "Ready", "status": "True", "reason": "Succeeded",
             "message": "up to date", "lastTransitionTime": "2026-12-07T10:00:00Z"}
    resp = api.patch(f"{base}/{body['metadata']['name']}/status",  # type: ignore[index]
                     content=json.dumps({"status": {**status, "conditions": [ready]}}),
                     headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text


@needs_kubectl
def test_kubectl_columns_as_flux_crds_print_them(api: httpx.Client, kubectl: Kubectl,
                                                 namespace: str) -> None:
    # v1: Flux's current CRDs; v1beta2: what they printed in the seed's Flux (2.0-2.5).
    scan = {"tagCount": 29, "scanTime": "2026-12-07T10:00:00Z"}
    _with_status(api, namespace, "imagerepositories", {
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
        "metadata": {"name": "agnhost"}, "spec": {"image": IMAGE, "interval": "5m"}},
        {"lastScanResult": scan})
    _with_status(api, namespace, "imageupdateautomations", {
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "agnhost"},
        "spec": {"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "repo"},
                 "git": {"commit": {"author": {"email": "flux@example.com"}}}}},
        {"lastAutomationRunTime": "2026-12-07T10:00:00Z"})
    _policy(api, namespace)

    def table(*args: str) -> list[list[str]]:
        out = kubectl.ok("-n", namespace, "get", *args)
        return [line.split() for line in out.strip().split("\n")]

    repo = table("imagerepository", "-o", "wide")
    assert repo[0] == ["NAME", "IMAGE", "TAGS", "READY", "STATUS", "LAST", "SCAN", "AGE"]
    assert repo[1][:7] == ["agnhost", IMAGE, "29", "True", "up", "to", "date"]
    assert repo[1][7] == "2026-12-07T10:00:00Z"
    assert table("imagepolicy")[0] == ["NAME", "IMAGE", "TAG", "READY", "STATUS", "AGE"]
    assert table("imagepolicy")[1][:3] == ["agnhost", IMAGE, "2.10"]
    auto = table("imageupdateautomation", "-o", "wide")
    assert auto[0] == ["NAME", "READY", "STATUS", "LAST", "RUN", "AGE"]
    assert auto[1][:6] == ["agnhost", "True", "up", "to", "date", "2026-12-07T10:00:00Z"]
    assert table("imagerepositories.v1beta2.image.toolkit.fluxcd.io") == [
        ["NAME", "LAST", "SCAN", "TAGS"], ["agnhost", "2026-12-07T10:00:00Z", "29"]]
    assert table("imageupdateautomations.v1beta2.image.toolkit.fluxcd.io") == [
        ["NAME", "LAST", "RUN"], ["agnhost", "2026-12-07T10:00:00Z"]]
