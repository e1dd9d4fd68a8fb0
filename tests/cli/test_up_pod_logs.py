"""`kubectl logs` on the embedded cluster: component Pods show their controller's lines,
application Pods say plainly that nothing runs in them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sluice.kube.config import connect
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

from .test_up_controllers import Up, conn_objects

COMPONENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kustomize-controller
  namespace: flux-system
  labels: {app: kustomize-controller}
spec:
  selector: {matchLabels: {app: kustomize-controller}}
  template:
    metadata: {labels: {app: kustomize-controller}}
    spec:
      containers: [{name: manager, image: ghcr.io/fluxcd/kustomize-controller:v1.4.0}]
"""


def _kubectl(kubeconfig: Path, *args: str, input: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
    return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True,
                          env=env, timeout=60)


async def test_component_logs_and_app_pods(tmp_path: Path) -> None:
    async with GitHTTPServer(tmp_path / "git") as git:
        git.create_repo("app.git", {"cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n  namespace: default\n"
            "data:\n  a: b\n")})
        up = Up(tmp_path / "data", "--log-level", "info")
        try:
            up.start()
            await up.ready()
            kubeconfig = tmp_path / "data" / "kubeconfig"
            r = _kubectl(kubeconfig, "apply", "-f", "-", input=COMPONENT)
            assert r.returncode == 0, r.stderr
            conn = connect(kubeconfig)
            try:
                objects = conn_objects(conn)
                repos = await objects.mapping("source.toolkit.fluxcd.io/v1", "GitRepository")
                await objects.create(repos, {
                    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "metadata": {"name": "app", "namespace": "default"},
                    "spec": {"url": git.repo_url("app.git"), "interval": "1h",
                             "ref": {"branch": "main"}}})
                kss = await objects.mapping("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
                await objects.create(kss, {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": "app", "namespace": "default"},
                    "spec": {"interval": "1h", "path": "./", "prune": True,
                             "sourceRef": {"kind": "GitRepository", "name": "app"}}})

                def logged() -> str | None:
                    r = _kubectl(kubeconfig, "-n", "flux-system", "logs",
                                 "deploy/kustomize-controller")
                    return r.stdout if "Kustomization default/app reconciled" in r.stdout \
                        else None

                async def check() -> str | None:
                    return logged()

                out = await async_wait_for(check, timeout=60, interval=0.3,
                                           what="the controller's line in kubectl logs")
            finally:
                await conn.aclose()
            lines = [json.loads(line) for line in out.splitlines()]
            kinds = {(line.get("object") or {}).get("kind") for line in lines} - {None}
            assert kinds == {"Kustomization"}  # the source controller's lines are not here
            # An application Pod: a clear answer, not "not found".
            pods = _kubectl(kubeconfig, "-n", "flux-system", "get", "pods", "-o", "name")
            pod = pods.stdout.split()[0]
            assert _kubectl(kubeconfig, "-n", "flux-system", "exec", pod, "--",
                            "true").returncode != 0
            r = _kubectl(kubeconfig, "run", "web", "--image=nginx", "--restart=Never")
            assert r.returncode == 0, r.stderr
            r = _kubectl(kubeconfig, "logs", "web")
            assert r.returncode != 0
            assert "runs no containers" in r.stderr and "not found" not in r.stderr
            assert up.stop() == 0
        finally:
            up.kill()
