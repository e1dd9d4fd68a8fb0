"""Two Kustomizations applying one object: the second is told, instead of both flipping it.

Reproduces issue 15's finding 7: with Flux (and Sluice before), two
Kustomizations building the same ConfigMap both reported Ready=True while each
reconcile relabelled the object as its own. Now the second applier fails with
a conflict naming the object and its owner, the object stays the first's, and
the ``sluice.dev/shared-ownership: enabled`` annotation lets both write it.
The same holds for an object a HelmRelease labelled (helm-controller's
``helm.toolkit.fluxcd.io/name|namespace``); the other way round, Helm itself
refuses to adopt an object its release does not own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sluice.api.meta import KUSTOMIZE_NAME_LABEL, RECONCILE_REQUEST_ANNOTATION
from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.reconciler import KustomizationOptions
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.kube.config import connect
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

KS = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
SHARED_OWNERSHIP_ANNOTATION = "sluice.dev/shared-ownership"  # the documented opt-in
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n"


@pytest.fixture
async def git(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    async with GitHTTPServer(tmp_path / "git") as srv:
        yield srv


@pytest.fixture
async def objects(kubeconfig: Path, tmp_path: Path, namespace: str,
                  git: GitHTTPServer) -> AsyncIterator[Objects]:
    """The source and Kustomization controllers of the test's namespace, and a client."""
    conn = connect(kubeconfig, field_manager="pytest")
    server = ArtifactServer(tmp_path / "artifacts", "127.0.0.1", 0)
    (tmp_path / "artifacts").mkdir()
    await server.start()
    manager = Manager(conn, ManagerOptions(watch_namespace=namespace, metrics_addr=None))
    await setup_gitrepository_controller(manager, Storage(tmp_path / "artifacts", server.address))
    await setup_kustomization_controller(manager, KustomizationOptions(health_poll=0.2))
    await manager.start()
    try:
        yield manager.objects
    finally:
        await manager.shutdown()
        await server.close()
        await conn.aclose()


async def _create(objects: Objects, obj: Obj) -> None:
    m = await objects.mapping(obj["apiVersion"], obj["kind"])
    await objects.create(m, obj)


async def _ks(objects: Objects, namespace: str, name: str) -> Obj:
    m = await objects.mapping(*KS)
    got = await objects.get_or_none(m, name, namespace)
    assert got is not None
    return got


def _ready(obj: Obj) -> tuple[str, str] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return cond["status"], cond["message"]
    return None


async def _reconciled(objects: Objects, namespace: str, name: str) -> tuple[str, str]:
    """``sluice reconcile ks NAME``: request a run and wait until it was handled."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    m = await objects.mapping(*KS)
    await objects.merge_patch(m, name, {"metadata": {"annotations": {
        RECONCILE_REQUEST_ANNOTATION: stamp}}}, namespace)

    async def handled() -> Any:
        obj = await _ks(objects, namespace, name)
        done = (obj.get("status") or {}).get("lastHandledReconcileAt") == stamp
        return _ready(obj) if done and _ready(obj) else None

    result: tuple[str, str] = await async_wait_for(handled, timeout=30, what=f"{name} handled")
    return result


async def _owner(objects: Objects, namespace: str) -> str:
    m = await objects.mapping("v1", "ConfigMap")
    cm = await objects.get_or_none(m, "settings", namespace)
    assert cm is not None
    return str(cm["metadata"]["labels"][KUSTOMIZE_NAME_LABEL])


async def test_second_applier_gets_a_conflict_not_a_tug_of_war(
        objects: Objects, namespace: str, git: GitHTTPServer) -> None:
    git.create_repo("apps.git", {"app/settings.yaml": CONFIGMAP})
    await _create(objects, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": namespace},
        "spec": {"interval": "10m", "url": git.repo_url("apps.git"), "ref": {"branch": "main"}}})
    for name in ("first", "second"):
        await _create(objects, {
            "apiVersion": KS[0], "kind": KS[1], "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "10m", "path": "./app", "prune": True,
                     "targetNamespace": namespace,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}}})
        # One after the other, so that "first" is the owner.
        await async_wait_for(lambda n=name: _applied_or_refused(objects, namespace, n),
                             timeout=30, what=f"{name} reconciled")
    assert (_ready(await _ks(objects, namespace, "first")) or ("",))[0] == "True"
    conflict = (f"ConfigMap/{namespace}/settings ownership conflict: it belongs to "
                f"Kustomization {namespace}/first (kustomize.toolkit.fluxcd.io/name, "
                "kustomize.toolkit.fluxcd.io/namespace labels); remove it from one of "
                f"them, or annotate it {SHARED_OWNERSHIP_ANNOTATION}: enabled to share it")
    assert _ready(await _ks(objects, namespace, "second")) == ("False", conflict)
    # Round after round, the object stays the first's and each keeps its verdict.
    for _ in range(2):
        assert await _reconciled(objects, namespace, "second") == ("False", conflict)
        assert (await _reconciled(objects, namespace, "first"))[0] == "True"
        assert await _owner(objects, namespace) == "first"
    # Deliberate sharing: the annotation lets the second write it too, as in Flux.
    m = await objects.mapping("v1", "ConfigMap")
    await objects.merge_patch(m, "settings", {"metadata": {"annotations": {
        SHARED_OWNERSHIP_ANNOTATION: "enabled"}}}, namespace)
    assert (await _reconciled(objects, namespace, "second"))[0] == "True"
    assert await _owner(objects, namespace) == "second"


async def _applied_or_refused(objects: Objects, namespace: str, name: str) -> bool:
    """Ready=True, or Ready=False for a reason other than the source not being ready yet."""
    ready = _ready(await _ks(objects, namespace, name))
    return ready is not None and (ready[0] == "True" or "ownership conflict" in ready[1])


async def test_a_kustomization_does_not_take_a_helmrelease_object(
        objects: Objects, namespace: str, git: GitHTTPServer) -> None:
    # The ConfigMap as helm-controller's post-renderer leaves it: labelled with its
    # HelmRelease (whose upgrades would write it back after every Kustomization run).
    await _create(objects, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "settings", "namespace": namespace, "labels": {
            "helm.toolkit.fluxcd.io/name": "podinfo",
            "helm.toolkit.fluxcd.io/namespace": namespace}}, "data": {"a": "from-helm"}})
    git.create_repo("apps.git", {"app/settings.yaml": CONFIGMAP})
    await _create(objects, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": namespace},
        "spec": {"interval": "10m", "url": git.repo_url("apps.git"), "ref": {"branch": "main"}}})
    await _create(objects, {
        "apiVersion": KS[0], "kind": KS[1], "metadata": {"name": "apps", "namespace": namespace},
        "spec": {"interval": "10m", "path": "./app", "prune": True, "targetNamespace": namespace,
                 "sourceRef": {"kind": "GitRepository", "name": "repo"}}})
    await async_wait_for(lambda: _applied_or_refused(objects, namespace, "apps"), timeout=30,
                         what="apps reconciled")
    assert _ready(await _ks(objects, namespace, "apps")) == ("False", (
        f"ConfigMap/{namespace}/settings ownership conflict: it belongs to HelmRelease "
        f"{namespace}/podinfo (helm.toolkit.fluxcd.io/name, helm.toolkit.fluxcd.io/namespace "
        f"labels); remove it from one of them, or annotate it {SHARED_OWNERSHIP_ANNOTATION}: "
        "enabled to share it"))
    m = await objects.mapping("v1", "ConfigMap")
    cm = await objects.get(m, "settings", namespace)
    assert cm["data"] == {"a": "from-helm"} and KUSTOMIZE_NAME_LABEL not in cm["metadata"]["labels"]
    await objects.merge_patch(m, "settings", {"metadata": {"annotations": {
        SHARED_OWNERSHIP_ANNOTATION: "enabled"}}}, namespace)
    assert (await _reconciled(objects, namespace, "apps"))[0] == "True"
    assert (await objects.get(m, "settings", namespace))["data"] == {"a": "b"}
