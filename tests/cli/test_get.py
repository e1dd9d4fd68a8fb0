"""``sluice get``: flux's columns, flags and errors for objects on the embedded cluster."""

from __future__ import annotations

from pathlib import Path

from .conftest import load_objects, run_sluice

GIT = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  labels:
    sharding.fluxcd.io/key: shard1
spec:
  url: ssh://git@github.com/example/repo
  interval: 5m
  ref: {branch: main}
status:
  observedGeneration: 1
  artifact:
    lastUpdateTime: "2021-08-01T04:28:42Z"
    revision: main@sha1:696f056df216eea4f9401adbee0ff744d4df390f
    path: example
    url: example
    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
  conditions:
  - lastTransitionTime: "2021-07-20T00:48:16Z"
    message: 'Fetched revision: main@sha1:696f056df216eea4f9401adbee0ff744d4df390f'
    reason: GitOperationSucceed
    status: "True"
    type: Ready
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: gr-failed
spec:
  url: ssh://git@github.com/example/repo
  interval: 5m
status:
  conditions:
  - lastTransitionTime: "2021-07-20T00:48:16Z"
    message: failed to checkout and determine revision
    reason: GitOperationFailed
    status: "False"
    type: Ready
"""


def test_get_sources_git(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, GIT, namespace)
    r = run_sluice(kubeconfig, "get", "sources", "git", "-n", namespace)
    print(r)
    assert r.ok
