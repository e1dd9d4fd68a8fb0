"""The seed's walkthrough, through the CLI alone: bootstrap, deploy agnhost from Git, operate it.

What the French tutorial does with ``flux`` (bootstrap a fleet repository,
add the ``agnhost`` namespace, GitRepository and Kustomization exported with
``create --export``, reconcile with source, watch the app change after a
commit, suspend and resume, look at events and the tree, diff a local
change), done with ``sluice`` against the embedded cluster, the controllers
running, and two loopback Git repositories standing in for GitHub. The
fleet's namespace plays ``flux-system``; the app's namespace is
``<namespace>-agnhost``.
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
from sluice.testing.gitserver import GitHTTPServer

from ..conftest import SeedManifests
from .conftest import (
    BackgroundControllers,
    Result,
    delete_namespace,
    golden,
    release,
    run_sluice,
)

NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
"""


def _ok(r: Result) -> Result:
    assert r.code == 0, r
    assert "Traceback" not in r.stderr, r
    return r


def _get_object(kubeconfig: Path, api_version: str, kind: str, namespace: str,
                name: str) -> dict[str, Any] | None:
    async def main() -> dict[str, Any] | None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            return await objects.get_or_none(await objects.mapping(api_version, kind), name,
                                             namespace)
        finally:
            await conn.aclose()

    return asyncio.run(main())


@pytest.fixture
def app_namespace(kubeconfig: Path, namespace: str,
                  controllers: BackgroundControllers) -> Iterator[str]:
    name = f"{namespace}-agnhost"
    yield name
    release(kubeconfig, name)
    delete_namespace(kubeconfig, name)


def _mask(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        text = text.replace(old, new)
    text = re.sub(r"\b[0-9a-f]{40}\b", "<sha>", text)
    text = re.sub(r"@sha1:[0-9a-f]{8}\b", "@sha1:<short>", text)
    return re.sub(r"finished in [0-9.]+(ms|µs|s)", "finished in <d>", text)


def test_seed_walkthrough(kubeconfig: Path, namespace: str, app_namespace: str, tmp_path: Path,
                          controllers: BackgroundControllers,
                          git_server: GitHTTPServer, seed: SeedManifests) -> None:
    ns, app_ns = namespace, app_namespace
    fleet = git_server.create_repo("k8s-kind-fluxcd.git", {"README.md": "# fleet\n"})
    apps = git_server.create_repo("k8s-kind-apps.git", {
        "agnhost/agnhost.deployment.yaml": seed.deployment(app_ns, "2.39"),
        "agnhost/agnhost.service.yaml": seed.service(app_ns)})
    fleet_url = git_server.repo_url("k8s-kind-fluxcd.git")
    apps_url = git_server.repo_url("k8s-kind-apps.git")
    masks = ((apps_url, "<apps-url>"), (app_ns, "<agnhost>"), (ns, "<flux-system>"))

    # Bootstrap the fleet repository (the seed's `flux bootstrap github ... --path=.`).
    r = _ok(run_sluice(kubeconfig, "bootstrap", "git", f"--url={fleet_url}", "--branch=main",
                       "--path=.", "--allow-insecure-http", "--token-auth", "-p", "pat",
                       # What the test's controller process runs (others would be reported
                       # not running, and the bootstrap would fail).
                       "--components=source-controller,kustomize-controller",
                       "-n", ns, "--timeout=90s"))
    assert r.stderr.endswith("✔ all components are healthy\n")

    # The agnhost namespace, GitRepository and Kustomization, exported into the fleet repo.
    source = _ok(run_sluice(kubeconfig, "create", "source", "git", "k8s-kind-apps",
                            f"--url={apps_url}", "--branch=main", f"--namespace={app_ns}",
                            "--export"))
    ks = _ok(run_sluice(kubeconfig, "create", "kustomization", "agnhost",
                        f"--source=GitRepository/k8s-kind-apps.{app_ns}", "--path=./agnhost",
                        "--prune=true", f"--namespace={app_ns}", "--export"))
    golden("seed-agnhost-kustomization.txt", _mask(ks.stdout, *masks))
    fleet.commit({"apps/agnhost/agnhost.namespace.yaml": NAMESPACE.format(ns=app_ns),
                  "apps/agnhost/k8s-kind-apps.gitrepository.yaml": source.stdout,
                  "apps/agnhost/agnhost.kustomization.yaml": ks.stdout},
                 "feat: added GitRepository and Kustomization for 'agnhost' app.")

    r = _ok(run_sluice(kubeconfig, "reconcile", "kustomization", ns, "--with-source", "-n", ns,
                       "--timeout=60s"))
    assert r.stderr.splitlines()[0] == f"► annotating GitRepository {ns} in {ns} namespace"
    r = _ok(run_sluice(kubeconfig, "-n", app_ns, "reconcile", "kustomization", "agnhost",
                       "--with-source", "--timeout=60s"))
    golden("seed-reconcile-agnhost.txt", _mask(r.stderr, *masks))
    deployment = _get_object(kubeconfig, "apps/v1", "Deployment", app_ns, "agnhost")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.39")

    golden("seed-get-sources-git.txt",
           _mask(_ok(run_sluice(kubeconfig, "get", "sources", "git", "-n", app_ns)).stdout,
                 *masks))
    golden("seed-get-ks.txt",
           _mask(_ok(run_sluice(kubeconfig, "get", "ks", "-n", app_ns)).stdout, *masks))

    # A new image tag pushed to the apps repository, picked up with --with-source.
    commit = apps.commit({"agnhost/agnhost.deployment.yaml":
                          seed.deployment(app_ns, "2.40")}, "agnhost 2.40")
    r = _ok(run_sluice(kubeconfig, "reconcile", "ks", "agnhost", "--with-source",
                       "-n", app_ns, "--timeout=60s"))
    assert r.stderr.endswith(f"✔ applied revision main@sha1:{commit}\n")
    deployment = _get_object(kubeconfig, "apps/v1", "Deployment", app_ns, "agnhost")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.40")

    # Suspend and resume.
    r = _ok(run_sluice(kubeconfig, "suspend", "kustomization", "agnhost", "-n", app_ns))
    assert r.stderr == (f"► suspending kustomization agnhost in {app_ns} namespace\n"
                        "✔ kustomization suspended\n")
    get = _ok(run_sluice(kubeconfig, "get", "ks", "agnhost", "-n", app_ns, "--no-header"))
    assert get.stdout.split("\t")[2] == "True"
    r = run_sluice(kubeconfig, "reconcile", "ks", "agnhost", "-n", app_ns)
    assert (r.code, r.stderr) == (1, "✗ resource is suspended\n")
    r = _ok(run_sluice(kubeconfig, "resume", "kustomization", "agnhost", "-n", app_ns,
                       "--timeout=60s"))
    golden("seed-resume.txt", _mask(r.stderr, *masks))

    # Events of the Kustomization and of its source (rows sorted: same-second order varies).
    r = _ok(run_sluice(kubeconfig, "events", "--for", "Kustomization/agnhost", "-n", app_ns))
    lines = r.stdout.splitlines()
    assert [c.strip() for c in lines[0].split("\t")] == ["LAST SEEN", "TYPE", "REASON",
                                                          "OBJECT", "MESSAGE"]
    rows = sorted({tuple(c.strip() for c in line.split("\t")[1:4]) for line in lines[1:]
                   if line.split("\t")[1].strip()})
    assert rows == [("Normal", "NewArtifact", "GitRepository/k8s-kind-apps"),
                    ("Normal", "Progressing", "Kustomization/agnhost"),
                    ("Normal", "ReconciliationSucceeded", "Kustomization/agnhost")]
    assert "Deployment/<agnhost>/agnhost created" in _mask(r.stdout, *masks)

    # The tree of the fleet: the app's objects under its own Kustomization.
    r = _ok(run_sluice(kubeconfig, "tree", "kustomization", ns, "-n", ns, "--compact"))
    golden("seed-tree-compact.txt", _mask(r.stdout, *masks))
    r = _ok(run_sluice(kubeconfig, "tree", "ks", "agnhost", "-n", app_ns))
    golden("seed-tree-agnhost.txt", _mask(r.stdout, *masks))

    # Where the Deployment comes from, and what runs.
    r = _ok(run_sluice(kubeconfig, "trace", "deployment", "agnhost", "-n", app_ns))
    golden("seed-trace.txt", re.sub(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC",
                                    "at <time>", _mask(r.stdout, *masks)))
    r = _ok(run_sluice(kubeconfig, "stats", "-n", app_ns))
    rows = {line.split("\t")[0].strip(): [c.strip() for c in line.split("\t")[1:4]]
            for line in r.stdout.splitlines()[1:]}
    assert rows["GitRepository"] == ["1", "0", "0"]
    assert rows["Kustomization"] == ["1", "0", "0"]
    assert rows["HelmRelease"] == ["0", "0", "0"]

    # Diff a local checkout of the apps repository against the cluster.
    local = tmp_path / "k8s-kind-apps" / "agnhost"
    local.mkdir(parents=True)
    (local / "agnhost.deployment.yaml").write_text(seed.deployment(app_ns, "2.40"))
    (local / "agnhost.service.yaml").write_text(seed.service(app_ns))
    r = run_sluice(kubeconfig, "diff", "kustomization", "agnhost", "--path", str(local),
                   "-n", app_ns)
    assert (r.code, r.stdout, r.stderr) == (0, "", "✔ no changes detected\n"), r
    (local / "agnhost.deployment.yaml").write_text(
        seed.deployment(app_ns, "2.40").replace("replicas: 1", "replicas: 2"))
    (local / "agnhost.service.yaml").unlink()
    r = run_sluice(kubeconfig, "diff", "kustomization", "agnhost", "--path", str(local),
                   "-n", app_ns)
    assert r.code == 1, r
    golden("seed-diff.txt", _mask(r.stdout, *masks))
