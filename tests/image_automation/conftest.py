"""The automation's world in-process: embedded cluster, real controllers, a real Git server.

`Harness` runs `sluice.controllers.run.Controllers` (the same assembly as
``sluice up``) for the source, kustomize and image-automation groups,
watching only the test's namespace, next to a smart-HTTP Git server with
push. ImagePolicies are written with their status set by hand here (the
reflector is not what these tests are about); `policy` does that.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.controllers.run import CONTROLLERS, Controllers, ControllerSettings
from sluice.kube.config import connect
from sluice.kube.errors import is_not_found
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import ManagerOptions
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

IMAGE_API = "image.toolkit.fluxcd.io/v1"
GIT_API = "source.toolkit.fluxcd.io/v1"


def ready(obj: Obj | None) -> tuple[str, str, str] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond["status"], cond["reason"], cond["message"]
    return None


@dataclass
class Harness:
    objects: Objects
    namespace: str
    git: GitHTTPServer

    async def apply(self, doc: dict[str, Any]) -> Obj:
        m = await self.objects.mapping(doc["apiVersion"], doc["kind"])
        meta = doc.setdefault("metadata", {})
        meta.setdefault("namespace", self.namespace)
        existing = await self.objects.get_or_none(m, meta["name"], meta["namespace"])
        if existing is None:
            return await self.objects.create(m, doc)
        patch = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
        return await self.objects.merge_patch(m, meta["name"], patch, meta["namespace"])

    async def get(self, api_version: str, kind: str, name: str) -> Obj | None:
        m = await self.objects.mapping(api_version, kind)
        return await self.objects.get_or_none(m, name, self.namespace)

    async def delete(self, api_version: str, kind: str, name: str) -> None:
        m = await self.objects.mapping(api_version, kind)
        try:
            await self.objects.delete(m, name, self.namespace)
        except Exception as exc:
            if not is_not_found(exc):
                raise

    async def secret(self, name: str, data: dict[str, str]) -> None:
        await self.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                          "data": {k: base64.b64encode(v.encode()).decode()
                                   for k, v in data.items()}})

    async def policy(self, name: str, image: str, tag: str, digest: str | None = None) -> None:
        """An ImagePolicy whose status says it selected ``image:tag``."""
        await self.apply({"apiVersion": IMAGE_API, "kind": "ImagePolicy",
                          "metadata": {"name": name},
                          "spec": {"imageRepositoryRef": {"name": name},
                                   "policy": {"numerical": {"order": "asc"}}}})
        m = await self.objects.mapping(IMAGE_API, "ImagePolicy")
        ref = {"name": image, "tag": tag, **({"digest": digest} if digest else {})}
        await self.objects.patch_status(m, name, {"status": {"latestRef": ref}},
                                        self.namespace)

    async def git_repository(self, repo: str, branch: str = "main",
                             secret: str | None = None, name: str = "repo") -> None:
        spec: dict[str, Any] = {"interval": "10m", "url": self.git.repo_url(repo),
                                "ref": {"branch": branch}}
        if secret:
            spec["secretRef"] = {"name": secret}
        await self.apply({"apiVersion": GIT_API, "kind": "GitRepository",
                          "metadata": {"name": name}, "spec": spec})

    async def automation(self, name: str = "auto", **spec: Any) -> None:
        body: dict[str, Any] = {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "git": {"checkout": {"ref": {"branch": "main"}},
                    "commit": {"author": {"name": "FluxCD", "email": "flux@example.com"}},
                    "push": {"branch": "main"}},
            "update": {"strategy": "Setters", "path": "./"},
        }
        body.update(spec)
        await self.apply({"apiVersion": IMAGE_API, "kind": "ImageUpdateAutomation",
                          "metadata": {"name": name}, "spec": body})

    async def wait_for(self, fetch: Callable[[], Any], check: Callable[[Any], bool], what: str,
                       limit: float = 30.0) -> Any:
        last: list[Any] = [None]

        async def probe() -> Any:
            value = await fetch()
            last[0] = value
            return value if value is not None and check(value) else None

        try:
            return await async_wait_for(probe, timeout=limit, interval=0.05, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast seen: {yaml.safe_dump(last[0])}") from None

    async def wait_automation(self, check: Callable[[Obj], bool], what: str,
                              name: str = "auto", limit: float = 30.0) -> Obj:
        result: Obj = await self.wait_for(
            lambda: self.get(IMAGE_API, "ImageUpdateAutomation", name), check, what, limit)
        return result

    async def events(self, kind: str, name: str) -> list[str]:
        m = await self.objects.mapping("v1", "Event")
        items, _ = await self.objects.list(m, self.namespace)
        found = sorted((e for e in items if e["involvedObject"].get("kind") == kind
                        and e["involvedObject"].get("name") == name),
                       key=lambda e: (e.get("lastTimestamp") or "", e["metadata"]["name"]))
        return [e["message"] for e in found]


def has_group(group: str) -> bool:
    return any(g == group for _, g, _ in CONTROLLERS)


@contextlib.asynccontextmanager
async def start_harness(kubeconfig: Path, tmp_path: Path, namespace: str,
                        groups: frozenset[str]) -> AsyncIterator[Harness]:
    """The controllers of ``groups`` watching ``namespace``, and a Git server."""
    async with GitHTTPServer(tmp_path / "git") as git:
        conn = connect(kubeconfig, field_manager="pytest")
        settings = ControllerSettings(
            storage_path=tmp_path / "artifacts", artifact_addr="127.0.0.1:0",
            manager=ManagerOptions(watch_namespace=namespace, metrics_addr=None, concurrent=2),
            controllers=groups)
        ctrls = await Controllers.create(conn, settings)
        await ctrls.manager.start()
        try:
            yield Harness(ctrls.manager.objects, namespace, git)
        finally:
            try:
                await ctrls.manager.shutdown()
            finally:
                await ctrls.artifact_server.close()
                await conn.aclose()


@pytest.fixture
async def harness(kubeconfig: Path, tmp_path: Path, namespace: str) -> AsyncIterator[Harness]:
    groups = frozenset({"source", "kustomize", "image-automation"})
    async with start_harness(kubeconfig, tmp_path, namespace, groups) as h:
        yield h
