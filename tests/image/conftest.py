"""The image reflector in-process against the session's embedded cluster.

`Reflector` runs the real ImageRepository and ImagePolicy controllers
(manager, informers, queues) on the test's event loop, with tags stored in
the test's tmp folder, and offers what a user does: apply YAML, request a
reconcile, read status and events, wait for conditions.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.controllers.image_reflector.controller import (
    ImageReflectorOptions,
    setup_image_reflector,
)
from sluice.kube.config import Connection, connect
from sluice.kube.objects import Obj
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.polling import async_wait_for

IMAGE_V1 = "image.toolkit.fluxcd.io/v1"
IMAGE_V1BETA2 = "image.toolkit.fluxcd.io/v1beta2"

# The seed's agnhost repository: 33 tags after the default exclusion list drops
# 2.57.sig, 29 of them two-digit minors (what `\d\.\d\d` keeps), no 2.49.
AGNHOST_TWO_DIGIT = ["2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.17", "2.19", "2.20",
                     "2.21", "2.22", "2.25", "2.26", "2.28", "2.29", "2.30", "2.31", "2.32",
                     "2.33", "2.36", "2.48", "2.50", "2.51", "2.52", "2.53", "2.54", "2.55",
                     "2.56", "2.57"]
AGNHOST_TAGS = ["latest", "2.1", "2.8", "2.9", *AGNHOST_TWO_DIGIT, "2.57.sig"]


def ready(obj: Obj | None) -> tuple[str, str, str] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond["status"], cond["reason"], cond["message"]
    return None


def dockerconfigjson(host: str, user: str, password: str) -> dict[str, str]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {".dockerconfigjson": json.dumps({"auths": {host: {
        "username": user, "password": password, "auth": auth}}})}


class Reflector:
    def __init__(self, conn: Connection, manager: Manager) -> None:
        self.conn = conn
        self.manager = manager
        self.objects = manager.objects

    async def apply(self, text: str, namespace: str) -> None:
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            m = await self.objects.mapping(doc["apiVersion"], doc["kind"])
            meta = doc.setdefault("metadata", {})
            if m.namespaced:
                meta.setdefault("namespace", namespace)
            existing = await self.objects.get_or_none(m, meta["name"], meta.get("namespace"))
            if existing is None:
                await self.objects.create(m, doc)
            else:
                body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
                await self.objects.merge_patch(m, meta["name"], body, meta.get("namespace"))

    async def secret(self, namespace: str, name: str, data: dict[str, str],
                     type_: str = "kubernetes.io/dockerconfigjson") -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        await self.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "type": type_,
                                         "metadata": {"name": name}, "data": encoded}), namespace)

    async def get(self, kind: str, namespace: str, name: str,
                  api_version: str = IMAGE_V1) -> Obj | None:
        m = await self.objects.mapping(api_version, kind)
        return await self.objects.get_or_none(m, name, namespace)

    async def patch(self, kind: str, namespace: str, name: str, body: Obj) -> None:
        m = await self.objects.mapping(IMAGE_V1, kind)
        await self.objects.merge_patch(m, name, body, namespace)

    async def request(self, kind: str, namespace: str, name: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await self.patch(kind, namespace, name,
                         {"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: stamp}}})
        return stamp

    async def wait(self, kind: str, namespace: str, name: str, check: Callable[[Obj], bool],
                   what: str, limit: float = 20.0) -> Obj:
        last: list[Obj | None] = [None]

        async def probe() -> Obj | None:
            obj = await self.get(kind, namespace, name)
            last[0] = obj
            return obj if obj is not None and check(obj) else None

        try:
            found: Obj = await async_wait_for(probe, timeout=limit, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast seen: {yaml.safe_dump(last[0])}") from None
        return found

    async def wait_ready(self, kind: str, namespace: str, name: str, status: str = "True",
                         reason: str | None = None, contains: str = "",
                         limit: float = 20.0) -> Obj:
        def check(o: Obj) -> bool:
            r = ready(o)
            return (r is not None and r[0] == status and (reason is None or r[1] == reason)
                    and contains in r[2]
                    and (status != "True" or (o.get("status") or {}).get("observedGeneration")
                         == o["metadata"].get("generation")))

        return await self.wait(kind, namespace, name, check,
                               f"{kind} {namespace}/{name} Ready={status} {reason or ''} "
                               f"{contains}", limit)

    async def events(self, namespace: str, kind: str, name: str) -> list[Obj]:
        m = await self.objects.mapping("v1", "Event")
        items, _ = await self.objects.list(m, namespace)
        return [e for e in items if e["involvedObject"].get("kind") == kind
                and e["involvedObject"].get("name") == name]


class start_reflector:
    """``async with start_reflector(kubeconfig, tags_dir) as r``: both controllers, started."""

    def __init__(self, kubeconfig: Path, tags: Path) -> None:
        self.kubeconfig = kubeconfig
        self.tags = tags

    async def __aenter__(self) -> Reflector:
        self.conn = connect(self.kubeconfig, field_manager="pytest")
        self.manager = Manager(self.conn, ManagerOptions(metrics_addr=None, concurrent=4))
        await setup_image_reflector(self.manager, self.tags,
                                    ImageReflectorOptions(requeue_dependency=0.5))
        await self.manager.start()
        return Reflector(self.conn, self.manager)

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.manager.shutdown()
        finally:
            await self.conn.aclose()


@pytest.fixture
async def reflector(kubeconfig: Path, tmp_path: Path) -> AsyncIterator[Reflector]:
    async with start_reflector(kubeconfig, tmp_path / "tags") as r:
        yield r


def repository_yaml(name: str, image: str, *, api: str = IMAGE_V1BETA2, **spec: Any) -> str:
    doc = {"apiVersion": api, "kind": "ImageRepository", "metadata": {"name": name},
           "spec": {"image": image, "interval": spec.pop("interval", "5m"), **spec}}
    return yaml.safe_dump(doc)


def policy_yaml(name: str, repo: str, policy: Obj, *, api: str = IMAGE_V1BETA2,
                **spec: Any) -> str:
    doc = {"apiVersion": api, "kind": "ImagePolicy", "metadata": {"name": name},
           "spec": {"imageRepositoryRef": {"name": repo}, "policy": policy, **spec}}
    return yaml.safe_dump(doc)
