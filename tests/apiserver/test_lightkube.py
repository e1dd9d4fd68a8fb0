"""lightkube, the client Sluice's controllers use, works against the embedded cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lightkube import AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

GitRepository = create_namespaced_resource("source.toolkit.fluxcd.io", "v1", "GitRepository",
                                           "gitrepositories")


async def test_async_crud_watch_and_apply(kubeconfig: Path, namespace: str) -> None:
    client = AsyncClient(KubeConfig.from_file(str(kubeconfig)))
    try:
        await client.create(ConfigMap(metadata=ObjectMeta(name="lk"), data={"a": "1"}),
                            namespace=namespace)
        got = await client.get(ConfigMap, "lk", namespace=namespace)
        assert got.data == {"a": "1"}
        names = [cm.metadata.name async for cm in client.list(ConfigMap, namespace=namespace)]
        assert "lk" in names

        events: list[tuple[str, str]] = []

        async def follow() -> None:
            async for op, obj in client.watch(ConfigMap, namespace=namespace,
                                              resource_version=got.metadata.resourceVersion):
                events.append((op, obj.metadata.name))
                if op == "DELETED":
                    return

        task = asyncio.create_task(follow())
        applied = await client.apply(
            ConfigMap(metadata=ObjectMeta(name="lk"), data={"a": "2"}),
            namespace=namespace, field_manager="lightkube", force=True)
        assert applied.data == {"a": "2"}
        await client.delete(ConfigMap, "lk", namespace=namespace)
        await asyncio.wait_for(task, 10)
        assert events == [("MODIFIED", "lk"), ("DELETED", "lk")]

        repo = GitRepository(metadata=ObjectMeta(name="src", namespace=namespace),
                             spec={"url": "https://example.com/repo", "interval": "1m"})
        created = await client.create(repo)
        assert created.spec["timeout"] == "60s"
        created.spec["interval"] = "2m"
        updated = await client.replace(created, field_manager="sluice")
        assert updated.metadata.generation == 2
        status = await client.patch(GitRepository.Status, "src", {"status": {"conditions": [{
            "type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok",
            "lastTransitionTime": "2026-11-25T00:00:00Z", "observedGeneration": 2}]}},
            namespace=namespace, patch_type=PatchType.MERGE)
        assert status.status["conditions"][0]["type"] == "Ready"
        assert status.metadata.generation == 2
    finally:
        await client.close()
