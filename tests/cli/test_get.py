"""``sluice get``: flux's tables for objects on the embedded cluster (golden output).

Objects are created with a fixed status, so every column is known: revisions
with hashes cut to 8 digits, the per-kind column sets, ``-A``, ``--no-header``,
``-l``, ``--status-selector``, ``get all`` and ``-w``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

from click.testing import CliRunner

from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.testing.polling import wait_for

from .conftest import golden, load_objects, run_sluice

SHA = "696f056df216eea4f9401adbee0ff744d4df390f"
OBJECTS = f"""
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  labels: {{sharding.fluxcd.io/key: shard1}}
spec: {{url: "ssh://git@github.com/example/repo", interval: 5m, ref: {{branch: main}}}}
status:
  artifact: {{lastUpdateTime: "2021-08-01T04:28:42Z", revision: "main@sha1:{SHA}",
             path: example, url: example, digest: "sha256:{'0' * 64}"}}
  conditions:
  - {{lastTransitionTime: "2021-07-20T00:48:16Z", message: "stored artifact for revision 'main@sha1:{SHA}'",
     reason: Succeeded, status: "True", type: Ready}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: gr-failed
spec: {{url: "ssh://git@github.com/example/repo", interval: 5m}}
status:
  conditions:
  - {{lastTransitionTime: "2021-07-20T00:48:16Z", message: failed to checkout and determine revision,
     reason: GitOperationFailed, status: "False", type: Ready}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: gr-unknown
spec: {{url: "ssh://git@github.com/example/repo", interval: 5m, suspend: true}}
status:
  conditions:
  - {{lastTransitionTime: "2021-07-20T00:48:16Z", message: reconciliation in progress,
     reason: Progressing, status: Unknown, type: Ready}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: apps}}
spec: {{interval: 10m, path: ./apps, prune: true, sourceRef: {{kind: GitRepository, name: podinfo}}}}
status:
  lastAppliedRevision: "main@sha1:{SHA}"
  conditions:
  - {{lastTransitionTime: "2021-07-20T00:48:16Z", message: "Applied revision: main@sha1:{SHA}",
     reason: ReconciliationSucceeded, status: "True", type: Ready}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: podinfo}}
spec:
  interval: 5m
  chart: {{spec: {{chart: podinfo, sourceRef: {{kind: HelmRepository, name: podinfo}}}}}}
status:
  history:
  - {{chartName: podinfo, chartVersion: 6.9.2, configDigest: "sha256:{'1' * 64}",
     digest: "sha256:{'2' * 64}", firstDeployed: "2025-10-04T09:14:05Z",
     lastDeployed: "2025-10-04T09:14:05Z", name: podinfo, namespace: podinfo,
     status: deployed, version: 4}}
  conditions:
  - {{lastTransitionTime: "2021-07-20T00:48:16Z",
     message: Helm upgrade succeeded for release podinfo/podinfo.v4 with chart podinfo@6.9.2,
     reason: UpgradeSucceeded, status: "True", type: Ready}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: agnhost}}
spec: {{image: registry.k8s.io/e2e-test-images/agnhost, interval: 5m}}
status:
  lastScanResult: {{tagCount: 33, scanTime: "2025-10-04T09:14:05Z"}}
  conditions:
  - {{lastTransitionTime: "2021-07-20T00:48:16Z", message: "successful scan: found 33 tags",
     reason: Succeeded, status: "True", type: Ready}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: agnhost}}
spec: {{imageRepositoryRef: {{name: agnhost}}, policy: {{numerical: {{order: asc}}}}}}
status:
  latestRef: {{name: registry.k8s.io/e2e-test-images/agnhost, tag: "2.57"}}
  conditions:
  - {{lastTransitionTime: "2021-07-20T00:48:16Z",
     message: Latest image tag for registry.k8s.io/e2e-test-images/agnhost resolved to 2.57,
     reason: Succeeded, status: "True", type: Ready}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: discord}}
spec: {{type: discord, secretRef: {{name: discord-webhook}}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: discord}}
spec:
  providerRef: {{name: discord}}
  eventSources: [{{kind: Kustomization, name: apps}}]
"""

def _get(kubeconfig: Path, namespace: str, *args: str) -> str:
    r = run_sluice(kubeconfig, "get", *args, "-n", namespace)
    assert r.code == 0, r
    # No controller process runs in these tests: on the embedded cluster `get` warns (on
    # stderr, the table unchanged) about each listed kind no process serves, and nothing else.
    assert all(line.startswith("⚠️ ") and " is not running: " in line
               for line in r.stderr.splitlines()), r
    return r.stdout


def test_tables_per_kind(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, OBJECTS, namespace)
    for noun in (("sources", "git"), ("ks",), ("kustomizations", "--show-source"), ("hr",),
                 ("images", "repository"), ("images", "policy"), ("alert-providers",),
                 ("alerts",), ("all",)):
        text = _get(kubeconfig, namespace, *noun).replace(namespace, "<ns>")
        golden("get-" + "-".join(n.strip("-") for n in noun) + ".txt", text)


def test_show_source_column(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, OBJECTS, namespace)
    source = f"GitRepository/{namespace}/podinfo"
    out = _get(kubeconfig, namespace, "kustomizations", "--show-source")
    assert out.splitlines()[1].split("\t")[:3] == ["apps", source, "main@sha1:696f056d"]
    assert out.splitlines()[0].startswith("NAME\tSOURCE" + " " * (len(source) - 6) + "\t")


def test_flags(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, OBJECTS, namespace)
    # Without a header the columns are only as wide as the data, as in flux.
    golden("get-sources-git-no-header.txt",
           _get(kubeconfig, namespace, "sources", "git", "--no-header"))
    assert _get(kubeconfig, namespace, "sources", "git", "gr-failed").splitlines()[1] \
        .startswith("gr-failed\t")
    assert _get(kubeconfig, namespace, "sources", "git", "-l",
                "sharding.fluxcd.io/key=shard1").splitlines()[1].startswith("podinfo\t")
    ready_false = _get(kubeconfig, namespace, "sources", "git", "--status-selector",
                       "ready=false")
    assert [line.split("\t")[0].strip() for line in ready_false.splitlines()] == \
        ["NAME", "gr-failed"]
    not_true = _get(kubeconfig, namespace, "sources", "git", "--status-selector", "Ready!=True")
    assert [line.split("\t")[0].strip() for line in not_true.splitlines()] == \
        ["NAME", "gr-failed", "gr-unknown"]
    # -A adds the namespace; a label selector keeps other tests' objects out.
    everywhere = run_sluice(kubeconfig, "get", "-A", "sources", "git", "-l",
                            "sharding.fluxcd.io/key=shard1", "--no-header")
    assert everywhere.stdout.split("\t")[:2] == [namespace, "podinfo"]
    # flags before the noun (on ``get``) work as after it
    assert _get(kubeconfig, namespace, "--no-header", "sources", "git") == \
        _get(kubeconfig, namespace, "sources", "git", "--no-header")


def test_get_all_prints_a_table_per_kind(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, OBJECTS, namespace)
    out = _get(kubeconfig, namespace, "all")
    tables = out.split("\n\n")
    assert [t.splitlines()[1].split("\t")[0].strip() for t in tables if t] == [
        "gitrepository/gr-failed", "imagerepository/agnhost", "imagepolicy/agnhost",
        "helmrelease/podinfo", "kustomization/apps", "provider/discord", "alert/discord"]
    assert out.endswith("\n\n")
    golden("get-all-ready-false.txt",
           _get(kubeconfig, namespace, "all", "--status-selector", "ready=false"))


def test_watch_prints_changes_until_the_timeout(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, OBJECTS, namespace)
    runner = CliRunner()
    outcome: dict[str, str] = {}
    with runner.isolation(env={"KUBECONFIG": str(kubeconfig)}) as (out, _err, _):
        def watch() -> None:
            from sluice.cli.main import main

            old_argv = sys.argv
            sys.argv = ["sluice", "get", "ks", "-w", "-n", namespace, "--timeout=3s"]
            try:
                main()
            except SystemExit:
                pass
            finally:
                sys.argv = old_argv

        thread = threading.Thread(target=watch)
        thread.start()
        wait_for(lambda: b"apps" in out.getvalue(), timeout=10, what="first table")

        async def change() -> None:
            conn = connect(kubeconfig, field_manager="pytest")
            try:
                objects = Objects(conn)
                m = await objects.mapping("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
                await objects.merge_patch(m, "apps", {"spec": {"suspend": True}}, namespace)
            finally:
                await conn.aclose()

        asyncio.run(change())
        thread.join(timeout=15)
        outcome["stdout"] = out.getvalue().decode()
    lines = outcome["stdout"].splitlines()
    assert lines[0].startswith("NAME\tREVISION")
    cells = [[c.strip() for c in line.split("\t")[:3]] for line in lines[1:]]
    assert cells == [["apps", "main@sha1:696f056d", "False"],
                     ["apps", "main@sha1:696f056d", "True"]]
