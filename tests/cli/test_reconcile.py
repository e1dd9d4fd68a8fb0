"""``sluice create`` (applied), ``reconcile``, ``suspend``/``resume`` against live controllers."""

from __future__ import annotations

from pathlib import Path

from sluice.testing.gitserver import GitHTTPServer

from .conftest import BackgroundControllers, mask, run_sluice

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: agnhost
  labels: {app: agnhost}
spec:
  replicas: 1
  selector:
    matchLabels: {app: agnhost}
  template:
    metadata:
      labels: {app: agnhost}
    spec:
      containers:
      - name: agnhost
        image: registry.k8s.io/e2e-test-images/agnhost:2.39
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
"""


def test_create_reconcile_suspend_resume(kubeconfig: Path, namespace: str,
                                         controllers: BackgroundControllers,
                                         git_server: GitHTTPServer) -> None:
    repo = git_server.create_repo("apps.git", {"app/configmap.yaml": CONFIGMAP})
    url = git_server.repo_url("apps.git")
    r = run_sluice(kubeconfig, "create", "source", "git", "apps", f"--url={url}",
                   "--branch=main", "-n", namespace, "--timeout=30s")
    print(r)
    assert r.ok, r
    r = run_sluice(kubeconfig, "create", "kustomization", "apps", "--source=GitRepository/apps",
                   "--path=./app", "--prune=true", "--target-namespace", namespace,
                   "-n", namespace, "--timeout=30s")
    print(r)
    assert r.ok, r
    repo.commit({"app/configmap.yaml": CONFIGMAP.replace("blue", "green")}, "green")
    r = run_sluice(kubeconfig, "reconcile", "ks", "apps", "--with-source", "-n", namespace,
                   "--timeout=30s")
    print(r)
    assert r.ok, r
    r = run_sluice(kubeconfig, "get", "all", "-n", namespace)
    print(r)
    r = run_sluice(kubeconfig, "suspend", "ks", "apps", "-n", namespace)
    print(r)
    r = run_sluice(kubeconfig, "resume", "ks", "apps", "-n", namespace, "--timeout=30s")
    print(r)
    r = run_sluice(kubeconfig, "events", "-n", namespace)
    print(r)
    r = run_sluice(kubeconfig, "tree", "ks", "apps", "-n", namespace)
    print(r)
    assert mask(r.stdout, namespace) == ""
