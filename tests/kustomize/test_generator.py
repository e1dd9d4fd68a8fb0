"""Flux's generated kustomization for folders that have none."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sluice.kustomize import build, build_yaml, generate_kustomization
from sluice.kustomize.errors import InvalidYAML

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
"""
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def tree(root: Path) -> Path:
    files = {
        "b-deploy.yaml": DEPLOY,
        "a-config.yml": CM.format(name="a"),
        "README.md": "# not yaml\n",
        "comments.yaml": "# nothing here\n",
        "plain/c.yaml": CM.format(name="c"),
        "plain/deeper/d.yaml": CM.format(name="d"),
        "app/kustomization.yaml": "resources:\n- e.yaml\nnamePrefix: app-\n",
        "app/e.yaml": CM.format(name="e"),
        "app/broken.yaml": "{{ not: yaml",
        "skipme/f.yaml": CM.format(name="f"),
        ".hidden.yaml": CM.format(name="hidden"),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def ignore_skipme(path: Path) -> bool:
    return path.name in ("skipme", ".hidden.yaml")


def test_generated_resources_walk_lexically_and_stop_at_kustomizations(tmp_path: Path) -> None:
    generated = generate_kustomization(tree(tmp_path), ignore_skipme)
    assert generated == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [
            "./a-config.yml",
            "./app",
            "./b-deploy.yaml",
            "./plain/c.yaml",
            "./plain/deeper/d.yaml",
        ],
    }


def test_folder_with_its_own_kustomization_needs_no_generation(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    assert generate_kustomization(tmp_path, ignore_skipme) is None


def test_build_without_kustomization_uses_generated_one(tmp_path: Path) -> None:
    names = [obj["metadata"]["name"] for obj in build(tree(tmp_path), ignored=ignore_skipme)]
    assert names == ["a", "app-e", "c", "d", "web"]


def test_empty_folder_builds_to_nothing(tmp_path: Path) -> None:
    generated = generate_kustomization(tmp_path, None)
    assert generated is not None
    assert generated["resources"] == []
    assert generated["namespace"] == "_placeholder"
    assert build(tmp_path) == []
    assert build_yaml(tmp_path) == ""


def test_invalid_yaml_fails_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(CM.format(name="ok"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.yaml").write_text("key: [unclosed\n")
    with pytest.raises(InvalidYAML) as err:
        generate_kustomization(tmp_path, None)
    assert err.value.path == "sub/bad.yaml"


def test_yaml_that_is_not_kubernetes_fails(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("replicaCount: 2\n")
    with pytest.raises(InvalidYAML, match="apiVersion or kind"):
        build(tmp_path)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_generated_build_matches_kubectl_on_the_written_file(tmp_path: Path) -> None:
    root = tree(tmp_path / "repo")
    shutil.rmtree(root / "skipme")
    (root / ".hidden.yaml").unlink()
    ours = build_yaml(root)
    generated = generate_kustomization(root, None)
    assert generated is not None
    lines = ["resources:"] + [f"- {r}" for r in generated["resources"]]
    (root / "kustomization.yaml").write_text("\n".join(lines) + "\n")
    expected = subprocess.run(
        ["kubectl", "kustomize", str(root)], capture_output=True, text=True, check=True
    ).stdout
    assert ours == expected


def test_explicit_kustomization_overrides_the_folder_file(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(CM.format(name="cm"))
    (tmp_path / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    objects = build(tmp_path, kustomization={"resources": ["cm.yaml"], "namespace": "team"})
    assert objects[0]["metadata"] == {"name": "cm", "namespace": "team"}
