"""Post-build substitution on built objects: types, opt-outs, strict mode, variable names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice.api.kustomize import KustomizationSpec, PostBuild
from sluice.controllers.kustomization.building import BuildFailure, build_manifests
from sluice.controllers.kustomization.substitution import (
    quoted_scalars,
    substitute_objects,
    substitutes,
)

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-${CLUSTER_ENV}
  labels:
    version: "${VERSION}"
    tier: '${TIER:=frontend}'
spec:
  replicas: ${REPLICAS}
  paused: ${PAUSED:=false}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:${TAG}
        args: ${ARGS:=[]}
        command:
        - sh
        - -c
        - |
          echo "${GREETING} $$HOME"
"""

SCRIPT = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: script
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  run.sh: echo ${NOT_A_VARIABLE}
"""

VARIABLES = {"CLUSTER_ENV": "prod", "VERSION": "1.0", "REPLICAS": "3", "TAG": "1.27",
             "GREETING": "hello"}


def spec() -> KustomizationSpec:
    return KustomizationSpec.from_dict({"interval": "10m", "prune": True,
                                        "sourceRef": {"kind": "GitRepository", "name": "r"}})


def built(tmp_path: Path) -> list[dict[str, Any]]:
    (tmp_path / "app").mkdir()
    (tmp_path / "app/deploy.yaml").write_text(APP)
    (tmp_path / "app/script.yaml").write_text(SCRIPT)
    return build_manifests(tmp_path, tmp_path / "app", spec())


def test_types_follow_the_authors_quoting(tmp_path: Path) -> None:
    objects = built(tmp_path)
    quoted = quoted_scalars(tmp_path)
    assert "${VERSION}" in quoted and "${TIER:=frontend}" in quoted
    assert "${REPLICAS}" not in quoted
    out = {o["kind"]: o for o in substitute_objects(objects, VARIABLES, quoted=quoted)}
    deploy = out["Deployment"]
    assert deploy["metadata"]["name"] == "web-prod"
    # Quoted in Git: still a string. Plain: typed like YAML types it.
    assert deploy["metadata"]["labels"] == {"version": "1.0", "tier": "frontend"}
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["paused"] is False
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert container["args"] == []
    # Block scalars stay text; $$ escapes a dollar.
    assert container["command"][2] == 'echo "hello $HOME"\n'
    # An object opting out is applied exactly as built.
    assert out["ConfigMap"]["data"]["run.sh"] == "echo ${NOT_A_VARIABLE}"


def test_plain_values_that_are_not_nested_yaml_stay_text() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
           "data": {"a": "${A}", "b": "${B}", "c": "x-${C}"}}
    out = substitute_objects([obj], {"A": "k: v", "B": "{k: v}", "C": "007"})
    assert out[0]["data"] == {"a": "k: v", "b": {"k": "v"}, "c": "x-007"}


def test_strict_mode_names_the_variable_and_the_object(tmp_path: Path) -> None:
    objects = built(tmp_path)
    with pytest.raises(BuildFailure) as err:
        substitute_objects(objects, {"CLUSTER_ENV": "prod"}, strict=True)
    assert err.value.message == ("post build failed for 'web-${CLUSTER_ENV}': variable "
                                 'substitution failed: variable not set (strict mode): '
                                 '"VERSION"')


def test_without_strict_mode_unset_variables_are_empty() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
           "data": {"a": "x${UNSET}y"}}
    assert substitute_objects([obj], {"OTHER": "1"}, strict=False)[0]["data"]["a"] == "xy"


def test_malformed_expressions_fail_the_build() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
           "data": {"a": "${A:+x}"}}
    with pytest.raises(BuildFailure) as err:
        substitute_objects([obj], {"A": "1"})
    assert "unsupported substitution operator ':+'" in err.value.message


def test_invalid_variable_names_are_refused() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    with pytest.raises(BuildFailure) as err:
        substitute_objects([obj], {"cluster-env": "x"})
    assert "'cluster-env' var name is invalid" in err.value.message


def test_inline_patches_teach_quoting(tmp_path: Path) -> None:
    patch = "- op: add\n  path: /metadata/labels/v\n  value: \"${V}\"\n"
    assert "${V}" in quoted_scalars(tmp_path, [patch])


def test_substitution_runs_only_with_variables_unless_always() -> None:
    assert not substitutes(None, {"A": "1"})
    assert not substitutes(PostBuild.from_dict({"substitute": {}}), {})
    assert substitutes(PostBuild.from_dict({"substitute": {"A": "1"}}), {"A": "1"})
    assert substitutes(PostBuild.from_dict({"substituteStrategy": "Always"}), {})
