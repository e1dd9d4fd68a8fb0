"""Drift made by hand is corrected within moments, not at the next interval.

The Kustomizations here have ``interval: 1h``: only the live-state watches
(`sluice.runtime.livestate`) can bring them back in time. A change by another
field manager to a field the controller does not own is left alone.
"""

from __future__ import annotations

import asyncio

from sluice.controllers.kustomization.nochange import owner_key
from sluice.testing.background import BackgroundCluster
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.requests import RequestCounter

from .conftest import Flux
from .test_nochange import _async, applied_and_watched, ks_controller, unchanged_count
from .test_reconcile import CONFIGMAP, DEPLOYMENT, git_source, kustomization


async def test_kubectl_scale_and_delete_are_corrected_at_once(
        local: Flux, git: GitHTTPServer, namespace: str, kubectl: object) -> None:
    repo = await git_source(local, namespace, git, "drift.git", {
        "app/deploy.yaml": DEPLOYMENT.format(name="web"),
        "app/cm.yaml": CONFIGMAP.format(name="web-config")})
    await kustomization(local, namespace, "app", path="./app", targetNamespace=namespace,
                        interval="1h")
    await applied_and_watched(local, namespace, "app", f"main@sha1:{repo.head()}")

    out = await asyncio.to_thread(kubectl.ok, "-n", namespace,  # type: ignore[attr-defined]
                                  "scale", "deployment/web", "--replicas=3")
    assert "scaled" in out
    await local.wait_for(lambda: local.get("apps/v1", "Deployment", namespace, "web"),
                         lambda d: d["spec"]["replicas"] == 1, "replicas reverted to 1",
                         limit=15)
    messages = await local.messages(namespace, "Kustomization", "app")
    assert "Deployment/" + namespace + "/web configured" in messages

    await applied_and_watched(local, namespace, "app", f"main@sha1:{repo.head()}")
    await asyncio.to_thread(kubectl.ok, "-n", namespace,  # type: ignore[attr-defined]
                            "delete", "configmap", "web-config")
    await local.wait_for(lambda: local.get("v1", "ConfigMap", namespace, "web-config"),
                         lambda c: c["data"] == {"greeting": "hello"}, "ConfigMap recreated",
                         limit=15)
    await applied_and_watched(local, namespace, "app", f"main@sha1:{repo.head()}")


async def test_another_managers_field_is_not_fought_over(
        local: Flux, git: GitHTTPServer, namespace: str, kubectl: object,
        sluice_cluster: BackgroundCluster) -> None:
    repo = await git_source(local, namespace, git, "shared.git", {
        "app/cm.yaml": CONFIGMAP.format(name="shared")})
    await kustomization(local, namespace, "app", path="./app", targetNamespace=namespace,
                        interval="1h")
    await applied_and_watched(local, namespace, "app", f"main@sha1:{repo.head()}")
    _, reconciler = ks_controller(local)
    drifts = reconciler.live.drift_count

    # Another manager adds a field the controller does not own.
    patched = await local.objects.merge_patch(
        await local.mapping("v1", "ConfigMap"), "shared",
        {"metadata": {"annotations": {"team": "blue"}}, "data": {"extra": "theirs"}},
        namespace, field_manager="other-tool")
    rv = int(patched["metadata"]["resourceVersion"])
    watch = next(w for k, w in reconciler.live._watches.items() if k == ("", "ConfigMap"))
    await local.wait_for(lambda: _async(int(watch.resource_version or 0)),
                         lambda seen_rv: seen_rv >= rv, "the change seen by the watch")
    assert reconciler.live.is_clean(owner_key(namespace, "app"))
    assert reconciler.live.drift_count == drifts

    with RequestCounter(sluice_cluster, namespace=namespace) as seen:
        count = unchanged_count(local)
        await local.reconcile_ks(namespace, "app")
        assert unchanged_count(local) == count + 1
        assert seen.dry_runs() == []
    cm = await local.get("v1", "ConfigMap", namespace, "shared")
    assert cm is not None
    assert cm["data"] == {"greeting": "hello", "extra": "theirs"}
    assert cm["metadata"]["annotations"]["team"] == "blue"
