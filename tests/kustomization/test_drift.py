"""Drift made by hand is corrected within moments, not at the next interval.

The Kustomizations here have ``interval: 1h``: only the live-state watches
(`sluice.runtime.livestate`) can bring them back in time, and only the drifted
object is applied again (dry run and write counted at the server), unless the
last build is not at hand. A change by another field manager to a field the
controller does not own is left alone. A ``postBuild.substituteFrom`` ConfigMap
labelled ``reconcile.fluxcd.io/watch: Enabled`` is watched the same way.
"""

from __future__ import annotations

import asyncio

import yaml

from sluice.controllers.kustomization.nochange import owner_key
from sluice.testing.background import BackgroundCluster
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.requests import RequestCounter

from .conftest import Flux
from .test_nochange import _async, applied_and_watched, ks_controller, unchanged_count
from .test_reconcile import CONFIGMAP, DEPLOYMENT, git_source, kustomization


def corrected_count(flux: Flux) -> float:
    return flux.manager.metrics.reconcile_total.value("Kustomization", "corrected")


def touched(seen: RequestCounter) -> set[str]:
    """The objects dry-run or written (Events aside), as ``<plural>/<name>``."""
    return {"/".join(r.path.split("/")[-2:]) for r in seen.writes() + seen.dry_runs()
            if "/events" not in r.path}


async def test_kubectl_scale_and_delete_are_corrected_at_once(
        local: Flux, git: GitHTTPServer, namespace: str, kubectl: object,
        sluice_cluster: BackgroundCluster) -> None:
    repo = await git_source(local, namespace, git, "drift.git", {
        "app/deploy.yaml": DEPLOYMENT.format(name="web"),
        "app/cm.yaml": CONFIGMAP.format(name="web-config")})
    revision = f"main@sha1:{repo.head()}"
    await kustomization(local, namespace, "app", path="./app", targetNamespace=namespace,
                        interval="1h")
    await applied_and_watched(local, namespace, "app", revision)
    ks = await local.ks(namespace, "app")
    assert ks is not None
    corrected = corrected_count(local)

    with RequestCounter(sluice_cluster, namespace=namespace) as seen:
        out = await asyncio.to_thread(kubectl.ok, "-n", namespace,  # type: ignore[attr-defined]
                                      "scale", "deployment/web", "--replicas=3")
        assert "scaled" in out
        await local.wait_for(lambda: local.get("apps/v1", "Deployment", namespace, "web"),
                             lambda d: d["spec"]["replicas"] == 1, "replicas reverted to 1",
                             limit=15)
        await applied_and_watched(local, namespace, "app", revision)
        # Only the Deployment was dry-run and written again (kubectl's scale aside).
        assert touched(seen) == {"deployments/web", "web/scale"}, seen.writes()
    await local.wait_for(lambda: _async(corrected_count(local)),
                         lambda c: c == corrected + 1, "counted as corrected")
    messages = await local.messages(namespace, "Kustomization", "app")
    assert "Deployment/" + namespace + "/web configured" in messages
    after = await local.ks(namespace, "app")
    assert after is not None and after["status"] == ks["status"]  # nothing else changed

    with RequestCounter(sluice_cluster, namespace=namespace) as seen:
        await asyncio.to_thread(kubectl.ok, "-n", namespace,  # type: ignore[attr-defined]
                                "delete", "configmap", "web-config")
        await local.wait_for(lambda: local.get("v1", "ConfigMap", namespace, "web-config"),
                             lambda c: c["data"] == {"greeting": "hello"},
                             "ConfigMap recreated", limit=15)
        await applied_and_watched(local, namespace, "app", revision)
        assert touched(seen) == {"configmaps/web-config"}, seen.writes()
    await local.wait_for(lambda: _async(corrected_count(local)),
                         lambda c: c == corrected + 2, "counted as corrected")

    # Without the last build at hand (a restarted controller has none either),
    # drift takes the full path: everything is dry-run again.
    _, reconciler = ks_controller(local)
    reconciler.builds.drop((namespace, "app"))
    with RequestCounter(sluice_cluster, namespace=namespace) as seen:
        await asyncio.to_thread(kubectl.ok, "-n", namespace,  # type: ignore[attr-defined]
                                "scale", "deployment/web", "--replicas=2")
        await local.wait_for(lambda: local.get("apps/v1", "Deployment", namespace, "web"),
                             lambda d: d["spec"]["replicas"] == 1, "replicas reverted again",
                             limit=15)
        await applied_and_watched(local, namespace, "app", revision)
        assert {"deployments/web", "configmaps/web-config"} <= {
            "/".join(r.path.split("/")[-2:]) for r in seen.dry_runs()}
    assert corrected_count(local) == corrected + 2


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
        # Counted by the runtime once the reconcile returns, after its status is out.
        await local.wait_for(lambda: _async(unchanged_count(local)),
                             lambda c: c == count + 1, "counted as unchanged")
        assert seen.dry_runs() == []
    cm = await local.get("v1", "ConfigMap", namespace, "shared")
    assert cm is not None
    assert cm["data"] == {"greeting": "hello", "extra": "theirs"}
    assert cm["metadata"]["annotations"]["team"] == "blue"


async def test_a_watched_substitute_from_configmap_change_applies_at_once(
        local: Flux, git: GitHTTPServer, namespace: str) -> None:
    repo = await git_source(local, namespace, git, "vars.git", {"app/cm.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: greeting
data:
  text: ${GREETING}
"""})
    await local.apply(yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "vars", "namespace": namespace,
                     "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
        "data": {"GREETING": "hello"}}))
    await kustomization(local, namespace, "app", path="./app", targetNamespace=namespace,
                        interval="1h",
                        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]})
    await applied_and_watched(local, namespace, "app", f"main@sha1:{repo.head()}")
    # Labelled reconcile.fluxcd.io/watch=Enabled: its change applies now, not in an hour.
    await local.patch("v1", "ConfigMap", namespace, "vars", {"data": {"GREETING": "bonjour"}})
    await local.wait_for(lambda: local.get("v1", "ConfigMap", namespace, "greeting"),
                         lambda c: c["data"] == {"text": "bonjour"}, "the new value applied",
                         limit=15)
