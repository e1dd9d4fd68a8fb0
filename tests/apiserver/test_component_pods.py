"""Sluice's component pods are Ready only while a process runs that controller.

A Deployment from ``gotk-components.yaml`` on the embedded cluster gets pods
like any other, but a helm-controller pod at ``1/1`` when no process runs the
HelmRelease controller is a lie (issue: "the first hour"). These tests watch
the pods through kubectl while the component's heartbeat Lease comes, goes
away cleanly, and runs out as when a process is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sluice.core.components import HEARTBEAT_LABEL, HEARTBEAT_NAMESPACE, lease_name, micro_time
from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.runtime.heartbeat import heartbeat
from sluice.testing.background import BackgroundCluster
from sluice.testing.polling import async_wait_for

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")

COMPONENT = "helm-controller"
DEPLOYMENT = f"""
apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {COMPONENT}
  namespace: flux-system
  labels:
    app.kubernetes.io/component: {COMPONENT}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {COMPONENT}
  template:
    metadata:
      labels:
        app: {COMPONENT}
    spec:
      containers:
      - name: manager
        image: ghcr.io/fluxcd/helm-controller:v1.4.0
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[BackgroundCluster]:
    with BackgroundCluster(tmp_path / "data", port=0, pod_ready_delay=0.1) as bg:
        yield bg


def _kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> str:
    assert KUBECTL is not None
    proc = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], input=input,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


async def _pod_line(kubeconfig: Path, want: str) -> str:
    """Poll `kubectl get pods` until the component pod's STATUS column is ``want``."""
    async def line() -> str | None:
        out = await asyncio.to_thread(_kubectl, kubeconfig, "-n", "flux-system", "get", "pods",
                                      "-l", f"app={COMPONENT}", "--no-headers")
        fields = out.split()
        return out if len(fields) > 2 and fields[2] == want else None

    return await async_wait_for(line, timeout=20, interval=0.1, what=f"pod line with {want!r}")


async def test_component_pods_follow_the_heartbeat(cluster: BackgroundCluster) -> None:
    kubeconfig = cluster.kubeconfig
    await asyncio.to_thread(_kubectl, kubeconfig, "apply", "-f", "-", input=DEPLOYMENT)

    # No process runs helm-controller: the pod is not ready and says why.
    line = await _pod_line(kubeconfig, "ControllerNotRunning")
    assert line.split()[1] == "0/1"
    pods = json.loads(await asyncio.to_thread(
        _kubectl, kubeconfig, "-n", "flux-system", "get", "pods", "-l", f"app={COMPONENT}",
        "-o", "json"))
    waiting = pods["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["message"].startswith(f"no Sluice process runs {COMPONENT} against this "
                                         "cluster")
    deploy = await asyncio.to_thread(_kubectl, kubeconfig, "-n", "flux-system", "get",
                                     "deployment", COMPONENT, "--no-headers")
    assert deploy.split()[1:4] == ["0/1", "1", "0"]

    conn = connect(kubeconfig)
    objects = Objects(conn)
    beating = asyncio.create_task(heartbeat(objects, [COMPONENT], "test-process", period=0.5)())
    try:
        # A process runs it: Running and ready, the Deployment available.
        line = await _pod_line(kubeconfig, "Running")
        assert line.split()[1] == "1/1"
        await async_wait_for(
            lambda: asyncio.to_thread(_kubectl, kubeconfig, "-n", "flux-system", "wait",
                                      f"deployment/{COMPONENT}", "--for=condition=Available",
                                      "--timeout=1s"),
            timeout=20, what="the component Deployment available")

        # The process stops cleanly (its Lease is deleted): the pod stops being ready.
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        line = await _pod_line(kubeconfig, "ControllerNotRunning")
        assert line.split()[1] == "0/1"

        # A killed process leaves its Lease behind: the pod turns unready when it runs out.
        leases = await objects.mapping("coordination.k8s.io/v1", "Lease")
        await objects.create(leases, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": lease_name(COMPONENT), "namespace": HEARTBEAT_NAMESPACE,
                         "labels": {HEARTBEAT_LABEL: "true"}},
            "spec": {"holderIdentity": "killed-process", "leaseDurationSeconds": 2,
                     "renewTime": micro_time(datetime.now(UTC))}}, HEARTBEAT_NAMESPACE)
        await _pod_line(kubeconfig, "Running")
        line = await _pod_line(kubeconfig, "ControllerNotRunning")
        assert line.split()[1] == "0/1"
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        await conn.aclose()
