"""``sluice events`` and ``sluice tree`` on fixed objects: golden output.

Events are written with timestamps days in the past, so LAST SEEN is stable
(``10d``, ``10d (x3 over 12d)``); the tree comes from fixed inventories.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .conftest import golden, load_objects, run_sluice


def _ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days, minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(name: str, kind: str, obj: str, reason: str, message: str, *, type_: str = "Normal",
           count: int = 1, first: int = 10, last: int = 10, api: str = "") -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": kind, "name": obj, "apiVersion": api},
        "reason": reason, "message": message, "type": type_, "count": count,
        "firstTimestamp": _ago(first), "lastTimestamp": _ago(last),
        "source": {"component": "sluice"},
    }) + "\n---\n"


def _events() -> str:
    return "".join([
        _event("e1", "GitRepository", "apps", "NewArtifact",
               "stored artifact for commit 'initial commit'", first=12, last=12,
               api="source.toolkit.fluxcd.io/v1"),
        _event("e2", "Kustomization", "apps", "Progressing",
               "Namespace/agnhost created\nService/agnhost/agnhost created\n"
               "Deployment/agnhost/agnhost created", first=11, last=11,
               api="kustomize.toolkit.fluxcd.io/v1"),
        _event("e3", "Kustomization", "apps", "ReconciliationSucceeded",
               "Reconciliation finished in 2.5s, next run in 10m0s", count=3, first=12,
               last=10, api="kustomize.toolkit.fluxcd.io/v1"),
        _event("e4", "Kustomization", "other", "BuildFailed",
               "kustomize build failed: missing file", type_="Warning", first=10, last=10,
               api="kustomize.toolkit.fluxcd.io/v1"),
        _event("e5", "Deployment", "agnhost", "ScalingReplicaSet", "not a Flux object",
               first=10, last=10, api="apps/v1"),
    ])


SOURCES = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: apps}
spec: {url: "https://example.com/apps", interval: 5m}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps}
spec: {interval: 10m, prune: true, sourceRef: {kind: GitRepository, name: apps}}
"""


def test_events_table_for_and_types(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, SOURCES + "---\n" + _events(), namespace)
    r = run_sluice(kubeconfig, "events", "-n", namespace)
    assert r.code == 0, r
    golden("events.txt", r.stdout)
    r = run_sluice(kubeconfig, "events", "--for", "Kustomization/apps", "-n", namespace)
    assert r.code == 0, r
    golden("events-for-kustomization.txt", r.stdout)
    r = run_sluice(kubeconfig, "events", "--types", "Warning", "-n", namespace)
    assert r.code == 0, r
    golden("events-warning.txt", r.stdout)
    r = run_sluice(kubeconfig, "events", "-n", "default", "--for", "Alert")
    assert (r.code, r.stdout, r.stderr) == (0, "", "✗ No events found in default namespace.\n")


TREE = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: root}}
spec: {{interval: 10m, prune: true, sourceRef: {{kind: GitRepository, name: fleet}}}}
status:
  inventory:
    entries:
    - {{id: _{ns}-apps__Namespace, v: v1}}
    - {{id: {ns}_root_kustomize.toolkit.fluxcd.io_Kustomization, v: v1}}
    - {{id: {ns}_apps_kustomize.toolkit.fluxcd.io_Kustomization, v: v1}}
    - {{id: {ns}_fleet_source.toolkit.fluxcd.io_GitRepository, v: v1}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: apps}}
spec: {{interval: 10m, prune: true, sourceRef: {{kind: GitRepository, name: fleet}}}}
status:
  inventory:
    entries:
    - {{id: {ns}-apps_agnhost__Service, v: v1}}
    - {{id: {ns}-apps_agnhost_apps_Deployment, v: v1}}
    - {{id: {ns}_root_kustomize.toolkit.fluxcd.io_Kustomization, v: v1}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: empty}}
spec: {{interval: 10m, prune: true, sourceRef: {{kind: GitRepository, name: fleet}}}}
"""


def test_tree_nested_compact_empty_and_json(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, TREE.format(ns=namespace), namespace)
    r = run_sluice(kubeconfig, "tree", "kustomization", "root", "-n", namespace)
    assert r.code == 0, r
    golden("tree.txt", r.stdout.replace(namespace, "<ns>"))
    r = run_sluice(kubeconfig, "tree", "ks", "root", "--compact", "-n", namespace)
    golden("tree-compact.txt", r.stdout.replace(namespace, "<ns>"))
    r = run_sluice(kubeconfig, "tree", "ks", "empty", "-n", namespace)
    assert r.stdout == f"Kustomization/{namespace}/empty\n\n"
    r = run_sluice(kubeconfig, "tree", "ks", "root", "-o", "json", "-n", namespace)
    data = json.loads(r.stdout)
    assert data["resource"] == {"name": "root", "namespace": namespace,
                                "group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization"}
    assert [c["resource"]["kind"] for c in data["resources"]] == [
        "Namespace", "Kustomization", "GitRepository"]
