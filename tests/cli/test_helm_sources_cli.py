"""``sluice create|get|reconcile|suspend|resume source helm|chart`` against running controllers.

The seed's podinfo sources, driven through the CLI as a user would with
flux: a HelmRepository with Basic credentials (the CLI makes the
``helm-<name>`` Secret), a HelmChart with the seed's ``<6.0.0`` range,
both applied and waited for, then listed with flux's columns, reconciled,
suspended and resumed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.testing.helmrepo import HelmRepoServer, build_podinfo_chart
from sluice.testing.registry import OCI_MANIFEST, DockerRegistry, push_image

from .conftest import BackgroundControllers, BackgroundGit, Result, run_sluice

USER = "podinfo-user"
PASSWORD = "cli-Pa55-not-in-output"


def _cols(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"\t|\s{2,}", line.strip()) if c.strip()]


def _ok(r: Result) -> Result:
    assert r.code == 0, r
    assert "Traceback" not in r.stderr, r
    return r


@pytest.fixture
def helm_repo(tmp_path: Path) -> Iterator[HelmRepoServer]:
    bg = BackgroundGit(HelmRepoServer(tmp_path / "repo", username=USER, password=PASSWORD))
    server: HelmRepoServer = bg.start()
    try:
        for version in ("5.2.1", "6.9.2"):
            server.add_chart(build_podinfo_chart(tmp_path / "charts", version))
        yield server
    finally:
        bg.stop()


def test_helm_sources_through_the_cli(kubeconfig: Path, namespace: str,
                                      controllers: BackgroundControllers,
                                      helm_repo: HelmRepoServer) -> None:
    ns = ["-n", namespace]
    created = _ok(run_sluice(kubeconfig, "create", "source", "helm", "podinfo",
                             f"--url={helm_repo.url}", "--username", USER, "--password",
                             PASSWORD, "--interval=1h", *ns))
    assert "✔ HelmRepository source reconciliation completed" in created.stderr
    assert re.search(r"✔ fetched revision: sha256:[0-9a-f]{64}", created.stderr), created

    chart = _ok(run_sluice(kubeconfig, "create", "source", "chart", "podinfo",
                           "--source=HelmRepository/podinfo", "--chart=podinfo",
                           "--chart-version=<6.0.0", "--interval=1h", *ns))
    assert "✔ fetched revision: 5.2.1" in chart.stderr, chart

    helm = _ok(run_sluice(kubeconfig, "get", "sources", "helm", *ns))
    lines = helm.stdout.splitlines()
    assert _cols(lines[0].strip()) == [
        "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    row = _cols(lines[1].strip())
    assert row[0] == "podinfo" and row[1].startswith("sha256:") and row[2:4] == ["False", "True"]
    assert row[4] == f"stored artifact: revision '{row[1]}'"

    charts = _ok(run_sluice(kubeconfig, "get", "sources", "chart", *ns))
    assert _cols(charts.stdout.splitlines()[1].strip()) == [
        "podinfo", "5.2.1", "False", "True", "pulled 'podinfo' chart with version '5.2.1'"]

    # The seed opens the range; reconcile with its source picks 6.9.2.
    _ok(run_sluice(kubeconfig, "create", "source", "chart", "podinfo",
                   "--source=HelmRepository/podinfo", "--chart=podinfo",
                   "--chart-version=*", "--interval=1h", *ns))
    again = _ok(run_sluice(kubeconfig, "reconcile", "source", "chart", "podinfo",
                           "--with-source", *ns))
    assert "✔ fetched revision 6.9.2" in again.stderr, again

    _ok(run_sluice(kubeconfig, "suspend", "source", "chart", "podinfo", *ns))
    suspended = _ok(run_sluice(kubeconfig, "get", "sources", "chart", *ns))
    assert _cols(suspended.stdout.splitlines()[1].strip())[2] == "True"
    refused = run_sluice(kubeconfig, "reconcile", "source", "chart", "podinfo", *ns)
    assert refused.code != 0 and "suspended" in refused.stderr
    resumed = _ok(run_sluice(kubeconfig, "resume", "source", "chart", "podinfo", *ns))
    assert "6.9.2" in resumed.stderr

    everything = " ".join(r.stdout + r.stderr for r in (created, chart, helm, charts, again))
    assert PASSWORD not in everything


def test_oci_source_through_the_cli(kubeconfig: Path, namespace: str,
                                    controllers: BackgroundControllers, tmp_path: Path) -> None:
    with DockerRegistry(tmp_path / "reg") as registry:
        layer = gzip.compress(_tar({"app.yaml": "kind: ConfigMap\n"}), mtime=0)
        config = b"{}"
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json",
                       "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip",
                        "digest": _digest(layer), "size": len(layer)}]}).encode()
        digest = push_image(registry.url, "manifests/podinfo", "6.3.5", manifest=manifest,
                            blobs=[config, layer])
        ns = ["-n", namespace]
        created = _ok(run_sluice(kubeconfig, "create", "source", "oci", "podinfo",
                                 f"--url=oci://{registry.host}/manifests/podinfo",
                                 "--tag=6.3.5", "--insecure", "--interval=10m", *ns))
        assert f"✔ fetched revision: 6.3.5@{digest}" in created.stderr, created
        listed = _ok(run_sluice(kubeconfig, "get", "sources", "oci", *ns))
        assert _cols(listed.stdout.splitlines()[1]) == [
            "podinfo", f"6.3.5@sha256:{digest[7:15]}", "False", "True",  # shortened, as flux
            f"stored artifact for digest '6.3.5@sha256:{digest[7:15]}'"]
        again = _ok(run_sluice(kubeconfig, "reconcile", "source", "oci", "podinfo", *ns))
        assert f"✔ fetched revision 6.3.5@{digest}" in again.stderr, again


def _tar(files: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return raw.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
