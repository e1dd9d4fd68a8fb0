"""The embedded cluster serves ImagePolicy as v1 and v1beta2 with a real conversion."""

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
