"""Informers against the embedded cluster: cache, events, indexes, and relisting on 410."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.runtime.informer import Informer
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.background import BackgroundCluster
from sluice.testing.polling import async_wait_for

Event = tuple[str, str]


async def until(fn: Any, within: float = 20.0, what: str = "condition") -> Any:
    """Poll a synchronous predicate from async code."""

    async def check() -> Any:
        return fn()

    return await async_wait_for(check, timeout=within, what=what)


def _recorder(informer: Informer) -> list[Event]:
    seen: list[Event] = []

    def handler(etype: str, old: Any, new: Any) -> None:
        seen.append((etype, new["metadata"]["name"]))

    informer.add_handler(handler)
    return seen


def _kustomization(name: str, namespace: str, source: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "10m", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": source}},
    }


def _source_of(obj: dict[str, Any]) -> list[str]:
    ref = obj["spec"]["sourceRef"]
    ns = ref.get("namespace") or obj["metadata"]["namespace"]
    return [f"{ref['kind']}/{ns}/{ref['name']}"]


async def test_cache_events_and_source_index_follow_the_cluster(objects: Objects,
                                                               namespace: str) -> None:
    m = await objects.mapping("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    await objects.create(m, _kustomization("before", namespace, "repo-a"))
    informer = Informer(objects, m, namespace=namespace)
    informer.add_index("source", _source_of)
    seen = _recorder(informer)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 10)
        assert seen == [("ADDED", "before")]
        await objects.create(m, _kustomization("after", namespace, "repo-a"))
        key_a = f"GitRepository/{namespace}/repo-a"
        await until(lambda: _names(informer.by_index("source", key_a)) == ["after", "before"],
                             what="both Kustomizations indexed under repo-a")
        await objects.merge_patch(m, "after", {"spec": {"sourceRef": {"name": "repo-b"}}},
                                  namespace)
        key_b = f"GitRepository/{namespace}/repo-b"
        await until(lambda: _names(informer.by_index("source", key_b)) == ["after"],
                             what="the index to move 'after' to repo-b")
        assert _names(informer.by_index("source", key_a)) == ["before"]
        await objects.delete(m, "before", namespace)
        await until(lambda: informer.get(namespace, "before") is None,
                             what="the deletion to reach the cache")
        assert informer.by_index("source", key_a) == []
        assert seen == [("ADDED", "before"), ("ADDED", "after"), ("MODIFIED", "after"),
                        ("DELETED", "before")]
        assert informer.list_count == 1
    finally:
        task.cancel()


def _names(objs: list[dict[str, Any]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


async def test_relist_after_410_reports_what_changed_while_disconnected(tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    first = BackgroundCluster(data, pod_ready_delay=0.2, bookmark_interval=0.5).start()
    port = first.embedded.port
    connection = connect(first.kubeconfig)
    objects = Objects(connection)
    try:
        m = await objects.mapping("v1", "ConfigMap")
        for name in ("keep", "gone"):
            await objects.create(m, {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": name, "namespace": "default"}})
        informer = Informer(objects, m, namespace="default")
        seen = _recorder(informer)
        task = asyncio.create_task(informer.run())
        try:
            await asyncio.wait_for(informer.wait_synced(), 10)
            watched_at = informer.resource_version
            # Writes the informer never sees (another namespace) move the
            # cluster's revision past the informer's resourceVersion.
            await objects.create(m, {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "elsewhere",
                                                  "namespace": "kube-system"}})
            first.stop()
            # While the informer cannot reach the API (another port), an
            # object it cached is deleted and another one is created.
            aside = BackgroundCluster(data, pod_ready_delay=0.2).start()
            try:
                def edit(c: Any) -> None:
                    from sluice.apiserver.rest.registry import DeleteOptions, WriteOptions

                    rt = c.catalogue.get("", "v1", "configmaps")
                    c.delete(rt, "default", "gone", DeleteOptions())
                    c.create(rt, "default", {"metadata": {"name": "new"}}, WriteOptions())

                aside.call(edit)
            finally:
                aside.stop()
            # Back on the original address: its event history starts after the
            # informer's resourceVersion, so the watch gets 410 and must relist.
            second = BackgroundCluster(data, port=port, pod_ready_delay=0.2,
                                       bookmark_interval=0.5).start()
            try:
                await until(lambda: informer.list_count >= 2, within=20,
                                     what="the informer to relist")
                assert informer.get("default", "gone") is None
                assert informer.get("default", "new") is not None
                assert ("DELETED", "gone") in seen and ("ADDED", "new") in seen
                assert informer.resource_version != watched_at
                # And it follows the new watch afterwards.
                await objects.delete(m, "keep", "default")
                await until(lambda: informer.get("default", "keep") is None,
                                     what="a deletion after the relist")
            finally:
                second.stop()
        finally:
            task.cancel()
    finally:
        await connection.aclose()


async def test_controllers_cache_keeps_no_field_ownership(objects: Objects,
                                                          namespace: str) -> None:
    """The manager's shared informers drop managedFields (most of a status-heavy
    object's copy); the object itself keeps them, and everything else is cached."""
    m = await objects.mapping("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    await objects.create(m, _kustomization("listed", namespace, "repo-a"),
                         field_manager="test")
    manager = Manager(objects.connection, ManagerOptions(metrics_addr=None))
    informer = await manager.informer(m.api_version, m.kind, namespace=namespace)
    assert informer.strip_managed_fields
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 10)
        await objects.create(m, _kustomization("watched", namespace, "repo-b"),
                             field_manager="test")
        await until(lambda: informer.get(namespace, "watched") is not None,
                    what="the watched object cached")
        for name in ("listed", "watched"):
            live = await objects.get(m, name, namespace)
            assert [e["manager"] for e in live["metadata"]["managedFields"]] == ["test"]
            cached = informer.get(namespace, name)
            assert cached is not None and "managedFields" not in cached["metadata"]
            del live["metadata"]["managedFields"]
            assert cached == live
    finally:
        task.cancel()
