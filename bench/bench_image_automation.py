"""Push-to-cluster latency of image automation: a new tag in the registry -> pods rolled.

    .venv/bin/python bench/bench_image_automation.py [--rounds 5]

The seed's agnhost setup on a fresh embedded cluster (child process): a
fixture OCI registry, an ImageRepository (numerical ``asc`` policy), the
ImageUpdateAutomation pushing to a loopback Git server, a GitRepository and
a Kustomization applying the Deployment, and the workload simulator rolling
its pods; the source, kustomize, image-reflector and image-automation
controllers run in this process, as ``sluice controllers run`` does.

Each round pushes a new tag and annotates the ImageRepository with
``reconcile.fluxcd.io/requestedAt`` (what a registry webhook Receiver does),
then times the stages: policy resolved to the tag, commit pushed, source
artifact at that commit, pods running the new image. The baseline, in the
same run and against the same cluster, is the part without image
automation: a person pushes the same one-line change to Git and annotates
the GitRepository (``flux reconcile source git``); the clock stops when the
pods run it. The ratio says what scanning, selecting, cloning, rewriting and
pushing add on top of plain GitOps delivery. Nothing is asserted.

Measured 2026-12-06 on the 2-core machine, 5 rounds (medians): policy
resolved 0.28 s, commit pushed 0.64 s, source artifact 1.23 s, pods rolled
2.67 s; baseline git push -> pods 2.01 s; ratio 1.33.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster_process import ClusterProcess

from sluice.controllers.run import CONTROLLERS, Controllers, ControllerSettings
from sluice.kube.config import connect
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import ManagerOptions
from sluice.testing.gitserver import GitHTTPServer, GitRepo
from sluice.testing.registry import FixtureRegistry

NS = "agnhost"
NAME = "e2e-test-images/agnhost"
IMAGE_API = "image.toolkit.fluxcd.io/v1"


def manifest(image: str, tag: str, marker: bool = True) -> str:
    comment = f' # {{"$imagepolicy": "{NS}:agnhost"}}' if marker else ""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: agnhost
  namespace: {NS}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: agnhost}}
  template:
    metadata:
      labels: {{app: agnhost}}
    spec:
      containers:
      - name: agnhost
        image: {image}:{tag}{comment}
"""


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def until(probe: Any, limit: float = 120.0) -> float:
    """Seconds until ``await probe()`` is true (polled every 20 ms)."""
    start = time.perf_counter()
    while not await probe():
        if time.perf_counter() - start > limit:
            raise SystemExit("timed out")
        await asyncio.sleep(0.02)
    return time.perf_counter() - start


class World:
    def __init__(self, objects: Objects, image: str, repo: GitRepo) -> None:
        self.objects, self.image, self.repo = objects, image, repo

    async def get(self, api: str, kind: str, name: str) -> Obj:
        return await self.objects.get(await self.objects.mapping(api, kind), name, NS)

    async def annotate(self, api: str, kind: str, name: str) -> None:
        m = await self.objects.mapping(api, kind)
        await self.objects.merge_patch(m, name, {"metadata": {"annotations": {
            "reconcile.fluxcd.io/requestedAt": stamp()}}}, NS)

    async def pods_on(self, tag: str) -> bool:
        m = await self.objects.mapping("v1", "Pod")
        pods, _ = await self.objects.list(m, NS)
        images = {c["image"] for p in pods if not p["metadata"].get("deletionTimestamp")
                  for c in p["spec"]["containers"]}
        return images == {f"{self.image}:{tag}"}

    async def policy_on(self, tag: str) -> bool:
        policy = await self.get(IMAGE_API, "ImagePolicy", "agnhost")
        return bool(((policy.get("status") or {}).get("latestRef") or {}).get("tag") == tag)

    async def pushed_since(self, before: str) -> bool:
        return self.repo.head() != before

    async def source_at(self, commit: str) -> bool:
        repo = await self.get("source.toolkit.fluxcd.io/v1", "GitRepository", "apps")
        revision = ((repo.get("status") or {}).get("artifact") or {}).get("revision", "")
        return str(revision).endswith(commit)


async def setup(objects: Objects, registry: FixtureRegistry, git: GitHTTPServer) -> World:
    image = f"{registry.host}/{NAME}"
    registry.set_tags(NAME, ["2.10", "2.39", "2.57"])
    repo = git.create_repo("apps.git", {"agnhost/deployment.yaml": manifest(image, "2.39")})

    async def create(doc: dict[str, Any]) -> None:
        m = await objects.mapping(doc["apiVersion"], doc["kind"])
        doc["metadata"]["namespace"] = NS
        await objects.create(m, doc, NS)

    await objects.create(await objects.mapping("v1", "Namespace"),
                         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    await create({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                  "metadata": {"name": "apps"},
                  "spec": {"interval": "1h", "url": git.repo_url("apps.git"),
                           "ref": {"branch": "main"}}})
    await create({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                  "metadata": {"name": "agnhost"},
                  "spec": {"interval": "1h", "path": "./agnhost", "prune": True,
                           "sourceRef": {"kind": "GitRepository", "name": "apps"}}})
    await create({"apiVersion": IMAGE_API, "kind": "ImageRepository",
                  "metadata": {"name": "agnhost"},
                  "spec": {"image": image, "interval": "1h", "insecure": True}})
    await create({"apiVersion": IMAGE_API, "kind": "ImagePolicy",
                  "metadata": {"name": "agnhost"},
                  "spec": {"imageRepositoryRef": {"name": "agnhost"},
                           "filterTags": {"pattern": "^\\d+\\.\\d+$"},
                           "policy": {"numerical": {"order": "asc"}}}})
    await create({"apiVersion": IMAGE_API, "kind": "ImageUpdateAutomation",
                  "metadata": {"name": "agnhost"},
                  "spec": {"interval": "1h",
                           "sourceRef": {"kind": "GitRepository", "name": "apps"},
                           "git": {"checkout": {"ref": {"branch": "main"}},
                                   "commit": {"author": {"name": "FluxCD",
                                                         "email": "flux@example.com"},
                                              "messageTemplate":
                                                  "{{range .Updated.Images}}{{println .}}{{end}}"},
                                   "push": {"branch": "main"}},
                           "update": {"path": "./agnhost", "strategy": "Setters"}}})
    world = World(objects, image, repo)
    await until(lambda: world.pods_on("2.57"))
    return world


async def automated_round(world: World, registry: FixtureRegistry, tag: str) -> dict[str, float]:
    before = world.repo.head()
    start = time.perf_counter()
    registry.add_tag(NAME, tag)
    await world.annotate(IMAGE_API, "ImageRepository", "agnhost")
    marks = {"policy": await until(lambda: world.policy_on(tag))}
    marks["pushed"] = marks["policy"] + await until(lambda: world.pushed_since(before))
    commit = world.repo.head()
    marks["source"] = marks["pushed"] + await until(lambda: world.source_at(commit))
    marks["pods"] = marks["source"] + await until(lambda: world.pods_on(tag))
    marks["total"] = time.perf_counter() - start
    return marks


async def manual_round(world: World, tag: str) -> float:
    start = time.perf_counter()
    world.repo.commit({"agnhost/deployment.yaml": manifest(world.image, tag)}, f"to {tag}")
    await world.annotate("source.toolkit.fluxcd.io/v1", "GitRepository", "apps")
    await until(lambda: world.pods_on(tag))
    return time.perf_counter() - start


async def main(rounds: int, work: Path) -> None:
    if not any(group == "image-reflector" for _, group, _ in CONTROLLERS):
        raise SystemExit("the image-reflector controller is not registered in this build")
    cluster = ClusterProcess(work / "cluster")
    try:
        conn = connect(cluster.kubeconfig)
        ctrls = await Controllers.create(conn, ControllerSettings(
            storage_path=work / "artifacts", artifact_addr="127.0.0.1:0",
            manager=ManagerOptions(metrics_addr=None),
            controllers=frozenset({"source", "kustomize", "image-reflector",
                                   "image-automation"})))
        await ctrls.manager.start()
        async with FixtureRegistry() as registry, GitHTTPServer(work / "git") as git:
            world = await setup(ctrls.manager.objects, registry, git)
            automated, manual = [], []
            for i in range(rounds):
                automated.append(await automated_round(world, registry, f"3.{i}"))
                manual.append(await manual_round(world, f"4.{i}"))
        await ctrls.manager.shutdown()
        await ctrls.artifact_server.close()
        await conn.aclose()
    finally:
        cluster.stop()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in automated)

    base = statistics.median(manual)
    print(f"rounds: {rounds} (medians)")
    print(f"  new tag -> policy resolved      {med('policy'):6.2f} s")
    print(f"  new tag -> commit pushed        {med('pushed'):6.2f} s")
    print(f"  new tag -> source artifact      {med('source'):6.2f} s")
    print(f"  new tag -> pods rolled          {med('total'):6.2f} s")
    print(f"  baseline: git push -> pods      {base:6.2f} s")
    print(f"  ratio automated / baseline      {med('total') / base:6.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-iua-") as tmp:
        asyncio.run(main(args.rounds, Path(tmp)))
    sys.exit(0)
