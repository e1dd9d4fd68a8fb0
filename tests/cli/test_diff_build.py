"""``sluice build kustomization`` and ``sluice diff kustomization`` on a local folder.

The folder is built with the controller's steps (spec merged, variables
substituted, owner labels), then diffed against the embedded cluster with a
server-side dry run: created, drifted (with the changed field), secret
values masked, and "no changes" with exit code 0 once the cluster matches.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from sluice.kube.apply import ResourceManager
from sluice.kube.config import connect
from sluice.kube.inventory import Owner
from sluice.kube.objects import Objects

from .conftest import load_objects, mask, run_sluice

KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
spec:
  interval: 5m
  path: ./deploy
  prune: true
  targetNamespace: {ns}
  sourceRef:
    kind: GitRepository
    name: podinfo
  postBuild:
    substitute:
      PORT: "9898"
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: podinfo
spec:
  selector:
    app: podinfo
  ports:
  - name: http
    port: ${PORT}
    targetPort: 9898
"""
SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: {password}
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
"""

BUILT = """\
apiVersion: v1
data:
  color: blue
kind: ConfigMap
metadata:
  labels:
    kustomize.toolkit.fluxcd.io/name: podinfo
    kustomize.toolkit.fluxcd.io/namespace: <ns>
  name: settings
  namespace: <ns>
---
apiVersion: v1
kind: Secret
metadata:
  labels:
    kustomize.toolkit.fluxcd.io/name: podinfo
    kustomize.toolkit.fluxcd.io/namespace: <ns>
  name: db
  namespace: <ns>
stringData:
  password: s3cret-one
---
apiVersion: v1
kind: Service
metadata:
  labels:
    kustomize.toolkit.fluxcd.io/name: podinfo
    kustomize.toolkit.fluxcd.io/namespace: <ns>
  name: podinfo
  namespace: <ns>
spec:
  ports:
  - name: http
    port: 9898
    targetPort: 9898
  selector:
    app: podinfo
"""

CREATED = """\
► ConfigMap/<ns>/settings created
► Secret/<ns>/db created
► Service/<ns>/podinfo created
"""

DRIFTED = """\
► Secret/<ns>/db drifted

data.password
± value change
- *** (before)
+ *** (after)

► Service/<ns>/podinfo drifted

spec.ports.http.port
± value change
- 9898
+ 9899

"""


def _write(folder: Path, password: str = "s3cret-one") -> None:
    folder.mkdir(exist_ok=True)
    (folder / "service.yaml").write_text(SERVICE)
    (folder / "secret.yaml").write_text(SECRET.format(password=password))
    (folder / "configmap.yaml").write_text(CONFIGMAP)


def _apply(kubeconfig: Path, namespace: str, text: str) -> None:
    """Apply a build as the controller would (field manager, owner labels)."""
    async def main() -> None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            manager = ResourceManager(Objects(conn), Owner("podinfo", namespace))
            await manager.apply_all_staged([d for d in yaml.safe_load_all(text) if d])
        finally:
            await conn.aclose()

    asyncio.run(main())


@pytest.fixture
def folder(tmp_path: Path, kubeconfig: Path, namespace: str) -> Path:
    load_objects(kubeconfig, KUSTOMIZATION.format(ns=namespace), namespace)
    path = tmp_path / "deploy"
    _write(path)
    return path


def test_build_is_what_the_controller_applies(kubeconfig: Path, namespace: str,
                                              folder: Path) -> None:
    r = run_sluice(kubeconfig, "build", "kustomization", "podinfo", "--path", str(folder),
                   "-n", namespace)
    assert r.ok, r
    assert mask(r.stdout, namespace) == BUILT


def test_build_dry_run_reads_the_kustomization_file(tmp_path: Path, folder: Path) -> None:
    ks_file = tmp_path / "ks.yaml"
    ks_file.write_text(KUSTOMIZATION.format(ns="apps"))
    r = run_sluice(None, "build", "ks", "podinfo", "--path", str(folder), "--dry-run",
                   "--kustomization-file", str(ks_file), "-n", "apps")
    assert r.ok, r
    assert "port: 9898" in r.stdout
    assert "namespace: apps" in r.stdout


def test_build_strict_substitution_names_the_variable(kubeconfig: Path, namespace: str,
                                                      folder: Path) -> None:
    (folder / "service.yaml").write_text(SERVICE.replace("${PORT}", "${MISSING_PORT}"))
    r = run_sluice(kubeconfig, "build", "kustomization", "podinfo", "--path", str(folder),
                   "-n", namespace, "--strict-substitute")
    assert r.code == 1
    assert r.stderr.startswith("✗ ") and "MISSING_PORT" in r.stderr
    assert "Traceback" not in r.stderr


def test_diff_created_drifted_masked_then_clean(kubeconfig: Path, namespace: str,
                                                folder: Path) -> None:
    r = run_sluice(kubeconfig, "diff", "kustomization", "podinfo", "--path", str(folder),
                   "-n", namespace)
    assert r.code == 1, r
    assert mask(r.stdout, namespace) == CREATED

    built = run_sluice(kubeconfig, "build", "ks", "podinfo", "--path", str(folder),
                       "-n", namespace)
    _apply(kubeconfig, namespace, built.stdout)
    r = run_sluice(kubeconfig, "diff", "ks", "podinfo", "--path", str(folder), "-n", namespace)
    assert r.code == 0, r
    assert r.stdout == ""
    assert r.stderr == "✔ no changes detected\n"

    _write(folder, password="s3cret-two")
    (folder / "service.yaml").write_text(SERVICE.replace("${PORT}", "9899"))
    r = run_sluice(kubeconfig, "diff", "ks", "podinfo", "--path", str(folder), "-n", namespace)
    assert r.code == 1, r
    assert mask(r.stdout, namespace) == DRIFTED
    assert "s3cret" not in r.stdout + r.stderr


def test_diff_missing_folder_and_missing_kustomization(kubeconfig: Path, namespace: str,
                                                       tmp_path: Path, folder: Path) -> None:
    r = run_sluice(kubeconfig, "diff", "ks", "podinfo", "--path", str(tmp_path / "nope"),
                   "-n", namespace)
    assert (r.code, r.stdout) == (1, "")
    assert r.stderr == f"✗ invalid resource path '{tmp_path / 'nope'}'\n"
    r = run_sluice(kubeconfig, "diff", "ks", "other", "--path", str(folder), "-n", namespace)
    assert r.code == 1
    assert r.stderr == f"✗ Kustomization object 'other' not found in \"{namespace}\" namespace\n"


def test_build_of_an_overlay_reaches_its_base_in_the_repository(tmp_path: Path) -> None:
    # The most common layout: clusters/prod refers to ../../base. The controller's root is
    # the whole artifact; a local build's root is the Git work tree, not --path.
    repo = tmp_path / "fleet"
    (repo / ".git").mkdir(parents=True)
    (repo / "base").mkdir()
    (repo / "base" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (repo / "base" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: base\n")
    prod = repo / "clusters" / "prod"
    prod.mkdir(parents=True)
    (prod / "kustomization.yaml").write_text("resources: [../../base]\nnamePrefix: prod-\n")
    ks_file = tmp_path / "ks.yaml"
    ks_file.write_text(KUSTOMIZATION.format(ns="apps"))
    r = run_sluice(None, "build", "ks", "podinfo", "--path", str(prod), "--dry-run",
                   "--kustomization-file", str(ks_file), "-n", "apps")
    assert r.ok, r
    assert "name: prod-settings" in r.stdout and "mode: base" in r.stdout
