"""``sluice create|get|debug|diff|tree|trace|reconcile helmrelease`` against running controllers.

One podinfo release through the CLI, as a user drives it: created from a
Helm repository with values from a ConfigMap and a Secret, then inspected
(``debug --show-values`` prints the merged values, Secret ones included, as
flux does), previewed (``diff helmrelease`` renders the chart with the new
values and dry-runs it: changed fields listed, the Secret's value masked,
exit 1; ``--path`` a local chart; an object the chart drops is ``deleted``),
walked (``tree``, ``trace``; hooks are not release objects) and reconciled
(``--with-source``, ``--force``, ``--reset``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.testing.helmrepo import HelmRepoServer, build_chart, build_podinfo_chart

from .conftest import (
    BackgroundControllers,
    BackgroundGit,
    Result,
    load_objects,
    release,
    run_sluice,
)

TOKEN_1 = "s3cr3t-token-one"
TOKEN_2 = "s3cr3t-token-two"
EXTRA = {
    "templates/secret.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-token\n"
        "stringData:\n  token: {{ .Values.token | default \"none\" | quote }}\n"),
    "templates/hook.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hook\n"
        "  annotations:\n    helm.sh/hook: post-install,post-upgrade\n"
        "data:\n  revision: \"{{ .Release.Revision }}\"\n"),
}
VALUES = f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: podinfo-values
data:
  values.yaml: |
    replicaCount: 2
    ui:
      message: Bonjour
---
apiVersion: v1
kind: Secret
metadata:
  name: podinfo-secret
stringData:
  values.yaml: |
    token: {TOKEN_1}
"""


def _ok(r: Result) -> Result:
    assert r.code == 0, r
    assert "Traceback" not in r.stderr, r
    return r


@pytest.fixture
def helm_controllers(kubeconfig: Path, namespace: str,
                     tmp_path: Path) -> Iterator[BackgroundControllers]:
    bg = BackgroundControllers(kubeconfig, tmp_path / "artifacts", helm=True).start()
    try:
        yield bg
    finally:
        bg.stop()
        release(kubeconfig, namespace)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[HelmRepoServer]:
    bg = BackgroundGit(HelmRepoServer(tmp_path / "repo"))
    server: HelmRepoServer = bg.start()
    try:
        for version in ("5.2.1", "6.9.2"):
            server.add_chart(build_podinfo_chart(tmp_path / "charts", version,
                                                 extra_files=EXTRA))
        yield server
    finally:
        bg.stop()


def _patch(kubeconfig: Path, namespace: str, kind: str, name: str, patch: dict[str, Any]) -> None:
    async def main() -> None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            await objects.merge_patch(await objects.mapping("v1", kind), name, patch, namespace)
        finally:
            await conn.aclose()

    asyncio.run(main())


def test_helmrelease_through_the_cli(kubeconfig: Path, namespace: str, tmp_path: Path,
                                     helm_controllers: BackgroundControllers,
                                     repo: HelmRepoServer) -> None:
    ns = ["-n", namespace]
    load_objects(kubeconfig, VALUES, namespace)
    _ok(run_sluice(kubeconfig, "create", "source", "helm", "podinfo", f"--url={repo.url}",
                   "--interval=1h", *ns))
    created = _ok(run_sluice(kubeconfig, "create", "helmrelease", "podinfo",
                             "--source=HelmRepository/podinfo", "--chart=podinfo",
                             "--chart-version=<6.0.0", "--values-from=ConfigMap/podinfo-values",
                             "--values-from=Secret/podinfo-secret", "--interval=1h", *ns))
    assert "✔ applied revision 5.2.1" in created.stderr, created

    # The merged values, in flux's order and format; Secret values printed, as flux warns.
    values = _ok(run_sluice(kubeconfig, "debug", "hr", "podinfo", "--show-values", *ns))
    assert values.stdout == (f"replicaCount: 2\ntoken: {TOKEN_1}\nui:\n  message: Bonjour\n")
    status = _ok(run_sluice(kubeconfig, "debug", "helmrelease", "podinfo", "--show-status",
                            "--show-history", *ns))
    assert "lastAttemptedRevision: 5.2.1" in status.stdout
    assert "# History documentation:" in status.stdout and "chartVersion: 5.2.1" in status.stdout
    refused = run_sluice(kubeconfig, "debug", "hr", "podinfo", *ns)
    assert refused.code == 1 and "either --show-status or --show-values must be set" in \
        refused.stderr

    # What the release holds: the hook is not part of it.
    tree = _ok(run_sluice(kubeconfig, "tree", "hr", "podinfo", *ns))
    lines = tree.stdout.strip().splitlines()
    assert lines[0] == f"HelmRelease/{namespace}/podinfo"
    assert sorted(re.sub(r"^\W+", "", line) for line in lines[1:]) == [
        f"Deployment/{namespace}/podinfo", f"Secret/{namespace}/podinfo-token",
        f"Service/{namespace}/podinfo"]
    traced = _ok(run_sluice(kubeconfig, "trace", "deployment", "podinfo", *ns))
    assert "HelmRelease:    podinfo" in traced.stdout
    assert f"HelmChart:      {namespace}-podinfo" in traced.stdout
    assert "HelmRepository: podinfo" in traced.stdout

    # Nothing changed yet.
    same = _ok(run_sluice(kubeconfig, "diff", "helmrelease", "podinfo", *ns))
    assert same.stdout == "" and "✔ no changes detected" in same.stderr

    # New values: the diff names each changed field, masks the Secret, exits 1.
    _patch(kubeconfig, namespace, "ConfigMap", "podinfo-values",
           {"data": {"values.yaml": "replicaCount: 3\nui:\n  message: Bonjour\n"}})
    _patch(kubeconfig, namespace, "Secret", "podinfo-secret",
           {"stringData": {"values.yaml": f"token: {TOKEN_2}\n"}})
    changed = run_sluice(kubeconfig, "diff", "hr", "podinfo", *ns)
    assert changed.code == 1, changed
    assert f"► Deployment/{namespace}/podinfo drifted\n\nspec.replicas\n± value change\n" \
           "- 2\n+ 3\n" in changed.stdout, changed
    assert f"► Secret/{namespace}/podinfo-token drifted\n\ndata.token\n± value change\n" \
           "- *** (before)\n+ *** (after)\n" in changed.stdout, changed
    assert "Service" not in changed.stdout and "hook" not in changed.stdout
    assert TOKEN_1 not in changed.stdout + changed.stderr
    assert TOKEN_2 not in changed.stdout + changed.stderr

    # A local chart instead of the source's: one without a Service deletes it.
    local = build_chart(tmp_path / "local", "podinfo", "7.0.0",
                        {"templates/deployment.yaml": (
                            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
                            "  name: {{ .Release.Name }}\nspec:\n"
                            "  replicas: {{ .Values.replicaCount }}\n  selector:\n"
                            "    matchLabels: {app: x}\n  template:\n"
                            "    metadata: {labels: {app: x}}\n    spec:\n"
                            "      containers: [{name: c, image: 'busybox:1'}]\n")})
    chart_dir = tmp_path / "local" / "src" / "podinfo-7.0.0" / "podinfo"
    for path in (chart_dir, local):
        other = run_sluice(kubeconfig, "diff", "hr", "podinfo", f"--path={path}", *ns)
        assert other.code == 1, other
        assert f"► Service/{namespace}/podinfo deleted" in other.stdout
        assert f"► Secret/{namespace}/podinfo-token deleted" in other.stdout
    missing = run_sluice(kubeconfig, "diff", "hr", "podinfo", f"--path={tmp_path}/nope", *ns)
    assert missing.code == 1 and "invalid chart path" in missing.stderr

    # Reconciling upgrades to the new values; then the diff is clean again.
    again = _ok(run_sluice(kubeconfig, "reconcile", "helmrelease", "podinfo", "--with-source",
                           *ns))
    assert "✔ HelmChart annotated" in again.stderr and "✔ applied revision 5.2.1" in again.stderr
    clean = _ok(run_sluice(kubeconfig, "diff", "hr", "podinfo", *ns))
    assert "✔ no changes detected" in clean.stderr, clean
    forced = _ok(run_sluice(kubeconfig, "reconcile", "hr", "podinfo", "--force", "--reset",
                            *ns))
    assert "✔ applied revision 5.2.1" in forced.stderr
    history = _ok(run_sluice(kubeconfig, "debug", "hr", "podinfo", "--show-history", *ns))
    # v1, the values upgrade, the forced one; Flux keeps the latest and the previous.
    assert re.findall(r"^  version: (\d+)$", history.stdout, re.M) == ["3", "2"], history
    listed = _ok(run_sluice(kubeconfig, "get", "hr", "podinfo", *ns))
    assert f"Helm upgrade succeeded for release {namespace}/podinfo.v3 with chart " \
           "podinfo@5.2.1" in listed.stdout, listed
