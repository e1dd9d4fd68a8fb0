"""From an artifact folder to objects: the spec merged into the build, substitution, metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice.api.kustomize import KustomizationSpec
from sluice.api.meta import CommonMetadata
from sluice.controllers.kustomization.building import (
    BuildFailure,
    PathNotFound,
    build_manifests,
    resolve_path,
    set_common_metadata,
)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
"""


def spec(**fields: Any) -> KustomizationSpec:
    base: dict[str, Any] = {"interval": "10m", "prune": True,
                            "sourceRef": {"kind": "GitRepository", "name": "repo"}}
    base.update(fields)
    return KustomizationSpec.from_dict(base)


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def test_folder_without_kustomization_gets_flux_generated_one(tmp_path: Path) -> None:
    root = write(tmp_path, {"app/deploy.yaml": DEPLOYMENT, "app/svc.yml": SERVICE,
                            "app/README.md": "not yaml", "app/notes.txt": "x"})
    objects = build_manifests(root, root / "app", spec(targetNamespace="prod"))
    assert [o["kind"] for o in objects] == ["Service", "Deployment"]
    assert {o["metadata"]["namespace"] for o in objects} == {"prod"}


def test_spec_fields_are_merged_into_the_folders_kustomization(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "app/kustomization.yaml": (
            "resources: [deploy.yaml, svc.yaml]\n"
            "namespace: from-file\n"
            "images:\n- name: nginx\n  newTag: '1.26'\n- name: other\n  newTag: '2'\n"),
        "app/deploy.yaml": DEPLOYMENT, "app/svc.yaml": SERVICE,
    })
    objects = by_kind(build_manifests(root, root / "app", spec(
        targetNamespace="prod", namePrefix="p-", nameSuffix="-s",
        images=[{"name": "nginx", "newName": "registry.local/nginx", "newTag": "1.27"}],
        patches=[{"patch": "- op: replace\n  path: /spec/replicas\n  value: 3",
                  "target": {"kind": "Deployment"}}])))
    deploy = objects["Deployment"]
    assert deploy["metadata"]["name"] == "p-web-s"
    assert deploy["metadata"]["namespace"] == "prod"
    assert deploy["spec"]["replicas"] == 3
    # The spec's entry for nginx replaced the file's (newTag and name together).
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.local/nginx:1.27"
    assert objects["Service"]["metadata"]["name"] == "p-web-s"
    # The artifact on disk is left as it was.
    assert "namespace: from-file" in (root / "app/kustomization.yaml").read_text()


def test_components_and_ignore_missing_components(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "app/deploy.yaml": DEPLOYMENT,
        "components/comp/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            "commonLabels: {tier: frontend}\n"),
    })
    objects = build_manifests(root, root / "app",
                              spec(components=["../components/comp", "missing"],
                                   ignoreMissingComponents=True))
    assert objects[0]["metadata"]["labels"] == {"tier": "frontend"}
    with pytest.raises(BuildFailure) as err:
        build_manifests(root, root / "app", spec(components=["missing"]))
    assert err.value.message.startswith("kustomize build failed:")
    assert "missing" in err.value.message


def test_broken_yaml_is_a_build_failure_naming_the_file(tmp_path: Path) -> None:
    root = write(tmp_path, {"app/deploy.yaml": "kind: Deployment\nmetadata: [oops\n"})
    with pytest.raises(BuildFailure) as err:
        build_manifests(root, root / "app", spec())
    assert "deploy.yaml" in err.value.message


def test_empty_folder_builds_to_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert build_manifests(tmp_path, tmp_path / "empty", spec()) == []


def test_path_is_resolved_inside_the_artifact(tmp_path: Path) -> None:
    write(tmp_path, {"apps/web/deploy.yaml": DEPLOYMENT})
    assert resolve_path(tmp_path, "./apps/web") == (tmp_path / "apps/web").resolve()
    assert resolve_path(tmp_path, None) == tmp_path.resolve()
    # The artifact root acts as "/": climbing out lands back inside it.
    assert resolve_path(tmp_path, "../../apps") == (tmp_path / "apps").resolve()
    with pytest.raises(PathNotFound) as err:
        resolve_path(tmp_path, "./agnhost")
    assert err.value.message.startswith("kustomization path not found: ")
    assert "no such file or directory" in err.value.message
    (tmp_path / "escape").symlink_to("/etc")
    with pytest.raises(PathNotFound):
        resolve_path(tmp_path, "escape")


def test_common_metadata_is_added_to_every_object() -> None:
    objects = [{"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "labels": {"app": "x", "team": "old"}}},
               {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}}]
    set_common_metadata(objects, CommonMetadata.from_dict(
        {"labels": {"team": "core"}, "annotations": {"owner": "ops"}}))
    assert objects[0]["metadata"]["labels"] == {"app": "x", "team": "core"}
    assert objects[1]["metadata"] == {"name": "b", "labels": {"team": "core"},
                                      "annotations": {"owner": "ops"}}


def test_sops_encrypted_secrets_need_decryption(tmp_path: Path) -> None:
    secret = ("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n"
              "data: {token: 'ENC[AES256_GCM,data:abc]'}\nsops: {version: 3.8.1}\n")
    root = write(tmp_path, {"app/secret.yaml": secret})
    with pytest.raises(BuildFailure) as err:
        build_manifests(root, root / "app", spec())
    assert err.value.message == ("'Secret/creds' is SOPS encrypted, configuring decryption is "
                                 "required for this object to be reconciled")
    with pytest.raises(BuildFailure) as err:
        build_manifests(root, root / "app", spec(decryption={"provider": "sops"}))
    assert "SOPS decryption is not supported" in err.value.message
