"""ImagePolicy between v1beta2 (latestImage strings) and v1 (latestRef), both ways."""

from __future__ import annotations

import copy

from sluice.api.image import convert_image_policy

IMAGE = "registry.k8s.io/e2e-test-images/agnhost"


def _v1() -> dict:
    return {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
            "metadata": {"name": "agnhost", "namespace": "agnhost"},
            "spec": {"imageRepositoryRef": {"name": "agnhost"},
                     "policy": {"numerical": {"order": "asc"}}},
            "status": {"latestRef": {"name": IMAGE, "tag": "2.57", "digest": "sha256:" + "a" * 64},
                       "observedPreviousRef": {"name": IMAGE, "tag": "2.10"},
                       "observedGeneration": 2}}


def test_v1_to_v1beta2_derives_the_strings_and_back_is_identity() -> None:
    v1 = _v1()
    beta = convert_image_policy(v1, "v1beta2")
    assert beta["apiVersion"] == "image.toolkit.fluxcd.io/v1beta2"
    assert beta["status"]["latestImage"] == f"{IMAGE}:2.57@sha256:{'a' * 64}"
    assert beta["status"]["observedPreviousImage"] == f"{IMAGE}:2.10"
    assert beta["status"]["latestRef"] == v1["status"]["latestRef"]
    assert convert_image_policy(beta, "v1") == v1
    assert v1 == _v1()  # the input is not modified


def test_v1beta2_written_with_strings_only_gets_refs() -> None:
    beta = copy.deepcopy(_v1())
    beta["apiVersion"] = "image.toolkit.fluxcd.io/v1beta2"
    beta["status"] = {"latestImage": "localhost:5000/app:1.2.3",
                      "observedPreviousImage": "localhost:5000/app:1.2.2"}
    v1 = convert_image_policy(beta, "v1")
    assert v1["status"] == {"latestRef": {"name": "localhost:5000/app", "tag": "1.2.3"},
                            "observedPreviousRef": {"name": "localhost:5000/app", "tag": "1.2.2"}}
    assert convert_image_policy(v1, "v1beta2")["status"]["latestImage"] == "localhost:5000/app:1.2.3"


def test_no_status_converts_spec_unchanged() -> None:
    v1 = _v1()
    del v1["status"]
    assert convert_image_policy(convert_image_policy(v1, "v1beta2"), "v1") == v1
