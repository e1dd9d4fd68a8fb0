"""The seed's agnhost image automation, end to end on the embedded cluster.

Real parts only: a fixture OCI registry holding agnhost's tags, the
image-reflector controller scanning it (the seed's v1beta2 ImageRepository
and ImagePolicy, numerical desc with filter ``\\d\\.\\d\\d``), this
controller rewriting the marked line and pushing to a real Git server, the
source and Kustomization controllers applying the commit, and the workload
simulator rolling the pods. Checked as the walkthrough checks it: pods on
2.10, a one-line diff by FluxCD whose message is the image reference; then
the policy flipped to ``asc`` moves them to 2.57; then a newly pushed tag
reaches the pods once the ImageRepository is asked to rescan.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pygit2
import pytest

from sluice.testing.registry import FixtureRegistry

from .conftest import GIT_API, Harness, has_group, start_harness

pytestmark = pytest.mark.skipif(not has_group("image-reflector"),
                                reason="the image-reflector controller is not registered")

NAME = "e2e-test-images/agnhost"
# The seed's registry: 2.9..2.57 style tags, a signature and `latest`.
TAGS = ["1.0", "2.9", "2.10", "2.11", "2.12", "2.20", "2.39", "2.40", "2.45", "2.50", "2.56",
        "2.57", "2.57.sig", "latest"]


def deployment(namespace: str, image: str) -> str:
    return f"""---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: agnhost
  name: agnhost
  namespace: {namespace}
spec:
  replicas: 1
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
        image: {image}:2.39 # {{"$imagepolicy": "{namespace}:agnhost"}}
        args:
        - /agnhost
        - netexec
        - --http-port=8080
"""


async def pod_images(h: Harness) -> list[str]:
    m = await h.objects.mapping("v1", "Pod")
    pods, _ = await h.objects.list(m, h.namespace)
    return sorted({c["image"] for p in pods if not p["metadata"].get("deletionTimestamp")
                   for c in p["spec"]["containers"]})


async def test_seed_image_automation_end_to_end(kubeconfig: Path, tmp_path: Path,
                                                namespace: str) -> None:
    groups = frozenset({"source", "kustomize", "image-reflector", "image-automation"})
    async with FixtureRegistry() as registry, \
            start_harness(kubeconfig, tmp_path, namespace, groups) as h:
        registry.set_tags(NAME, TAGS)
        image = f"{registry.host}/{NAME}"
        repo = h.git.create_repo("k8s-kind-apps.git", {
            "agnhost/agnhost.deployment.yaml": deployment(namespace, image)})
        first = repo.head()
        await h.apply({"apiVersion": GIT_API, "kind": "GitRepository",
                       "metadata": {"name": "k8s-kind-apps"},
                       "spec": {"interval": "1m", "url": h.git.repo_url("k8s-kind-apps.git"),
                                "ref": {"branch": "main"}}})
        await h.apply({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                       "metadata": {"name": "agnhost"},
                       "spec": {"interval": "1m", "path": "./agnhost", "prune": True,
                                "sourceRef": {"kind": "GitRepository",
                                              "name": "k8s-kind-apps"}}})
        await h.apply({"apiVersion": "image.toolkit.fluxcd.io/v1beta2",
                       "kind": "ImageRepository", "metadata": {"name": "agnhost"},
                       "spec": {"image": image, "interval": "5m", "insecure": True}})
        await h.apply({"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImagePolicy",
                       "metadata": {"name": "agnhost"},
                       "spec": {"imageRepositoryRef": {"name": "agnhost"},
                                "filterTags": {"pattern": "\\d\\.\\d\\d"},
                                "policy": {"numerical": {"order": "desc"}}}})
        await h.apply({"apiVersion": "image.toolkit.fluxcd.io/v1beta2",
                       "kind": "ImageUpdateAutomation", "metadata": {"name": "agnhost"},
                       "spec": {"git": {"checkout": {"ref": {"branch": "main"}},
                                        "commit": {"author": {"email": "flux@example.com",
                                                              "name": "FluxCD"},
                                                   "messageTemplate":
                                                       "{{range .Updated.Images}}"
                                                       "{{println .}}{{end}}"}},
                                "interval": "1m",
                                "sourceRef": {"kind": "GitRepository", "name": "k8s-kind-apps"},
                                "update": {"path": "./agnhost", "strategy": "Setters"}}})

        async def rolled(tag: str) -> None:
            await h.wait_for(lambda: pod_images(h), lambda imgs: imgs == [f"{image}:{tag}"],
                             f"pods on {tag}", limit=60)

        await rolled("2.10")
        git = pygit2.Repository(str(repo.path))
        head = git.revparse_single("main")
        assert isinstance(head, pygit2.Commit)
        assert head.author.name == "FluxCD"
        assert head.message == f"{image}:2.10\n"
        assert [str(p) for p in head.parent_ids] == [first]
        diff = git.diff(git.revparse_single(first), head)
        assert (diff.stats.files_changed, diff.stats.insertions, diff.stats.deletions) == (1, 1, 1)

        await h.apply({"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImagePolicy",
                       "metadata": {"name": "agnhost"},
                       "spec": {"policy": {"numerical": {"order": "asc"}}}})
        await rolled("2.57")

        registry.add_tag(NAME, "2.58")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await h.apply({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                       "metadata": {"name": "agnhost", "annotations": {
                           "reconcile.fluxcd.io/requestedAt": stamp}}})
        await rolled("2.58")
