"""``sluice up --demo``: something that works before the user writes any YAML.

The demo puts the seed's agnhost app in a repository of the local Git remote
(`git_remote`), then creates what delivers it: a Secret with the remote's
token, a GitRepository and a Kustomization in ``flux-system``, all named
``demo``. The printed lines say how to clone it, change the image tag, push and
watch the rollout (in the terminal or in the UI). Nothing of it exists unless
asked for; running it again on the same data dir changes nothing (existing
objects and the repository's history are kept).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sluice.cli.git_remote import GIT_USER, LocalGitRemote
from sluice.kube.objects import Obj, Objects
from sluice.testing.gitserver import GitRepo

__all__ = ["DEMO_FILES", "install_demo"]

NAME = "demo"
NAMESPACE = "flux-system"
DEMO_FILES = {
    "agnhost/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: agnhost\n",
    "agnhost/agnhost.deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: agnhost
  name: agnhost
  namespace: agnhost
spec:
  replicas: 2
  selector:
    matchLabels:
      app: agnhost
  template:
    metadata:
      labels:
        app: agnhost
    spec:
      containers:
      - name: agnhost
        image: registry.k8s.io/e2e-test-images/agnhost:2.39 # {"$imagepolicy": "agnhost:agnhost"}
        command:
        - /agnhost
        - netexec
        - --http-port
        - "8080"
""",
    "agnhost/agnhost.service.yaml": """\
kind: Service
apiVersion: v1
metadata:
  name: agnhost
  namespace: agnhost
spec:
  selector:
    app: agnhost
  ports:
  - port: 8080
""",
}


def _create_repo(root: Path) -> bool:
    path = root / f"{NAME}.git"
    if (path / "HEAD").is_file():
        return False
    GitRepo(path).commit(DEMO_FILES, "demo: the agnhost app of the walkthrough")
    return True


async def _ensure(objects: Objects, api_version: str, kind: str, obj: Obj) -> None:
    mapping = await objects.mapping(api_version, kind)
    meta = obj["metadata"]
    if await objects.get_or_none(mapping, meta["name"], meta.get("namespace")) is None:
        await objects.create(mapping, obj)


async def install_demo(objects: Objects, remote: LocalGitRemote) -> list[str]:
    """Create the demo repository and objects (idempotent); returns what to print."""
    if remote.http is None:
        raise RuntimeError("--demo needs the local Git remote over HTTP (--git-http-addr)")
    await asyncio.to_thread(_create_repo, remote.root)
    url = f"{remote.http.url}/{NAME}.git"
    token = (await asyncio.to_thread(remote.token_file.read_text)).strip()
    await _ensure(objects, "v1", "Namespace", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    await _ensure(objects, "v1", "Secret", {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "stringData": {"username": GIT_USER, "password": token}})
    await _ensure(objects, "source.toolkit.fluxcd.io/v1", "GitRepository", {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"},
                 "secretRef": {"name": NAME}}})
    await _ensure(objects, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"interval": "10m", "path": "./agnhost", "prune": True, "wait": True,
                 "timeout": "2m", "sourceRef": {"kind": "GitRepository", "name": NAME}}})
    clone = url.replace("://", f"://{GIT_USER}:$(cat {remote.token_file})@", 1)
    return [
        f"► demo: the agnhost app in {url}, delivered by GitRepository and Kustomization "
        f"'{NAME}' ({NAMESPACE})",
        f"  git clone {clone} && cd {NAME}",
        "  sed -i 's/agnhost:2.39/agnhost:2.40/' agnhost/agnhost.deployment.yaml",
        "  git commit -am 'agnhost 2.40' && git push",
        f"  sluice reconcile kustomization {NAME} --with-source   # or wait for the interval",
        "  kubectl -n agnhost get pods -w                         # the pods roll",
    ]
