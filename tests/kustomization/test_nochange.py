"""A reconcile with nothing to do costs nothing: counted at the embedded API server.

The Kustomization controller keeps the live state of what it applied from
watches (`sluice.runtime.livestate`); when the source revision, the build
inputs and the live objects are as it left them, a reconcile (the interval's,
or one requested with ``flux reconcile``) makes no dry run and writes no
object, not even status, except ``lastHandledReconcileAt`` when a reconcile
was asked. It still records Flux's ``Reconciliation finished`` Event, which
notification forwards, as Flux does at every interval.
"""

from __future__ import annotations

import re

from sluice.controllers.kustomization.nochange import owner_key
from sluice.controllers.kustomization.reconciler import KustomizationReconciler
from sluice.kube.events import RecordedEvent
from sluice.runtime.controller import Controller
from sluice.runtime.reconciler import Request
from sluice.testing.background import BackgroundCluster
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.requests import RequestCounter

from .conftest import Flux
from .test_reconcile import CONFIGMAP, DEPLOYMENT, git_source, kustomization

KS = "kustomize.toolkit.fluxcd.io/v1"


def ks_controller(flux: Flux) -> tuple[Controller, KustomizationReconciler]:
    controller = next(c for c in flux.manager.controllers if c.kind == "Kustomization")
    assert isinstance(controller.reconciler, KustomizationReconciler)
    return controller, controller.reconciler


async def applied_and_watched(flux: Flux, namespace: str, name: str, revision: str) -> None:
    """Ready at ``revision``, and the live-state watches following what it applied."""
    await flux.wait_ks(namespace, name, "True", revision=revision)
    _, reconciler = ks_controller(flux)
    await flux.wait_for(lambda: _async(reconciler.live.is_clean(owner_key(namespace, name))),
                        bool, f"live state of {namespace}/{name} synced")


async def _async(value: object) -> object:
    return value


def unchanged_count(flux: Flux) -> float:
    return flux.manager.metrics.reconcile_total.value("Kustomization", "unchanged")


def object_writes(seen: RequestCounter) -> list[str]:
    """Writes other than the Events the controller records."""
    return [str(w) for w in seen.writes() if "/events" not in w.path]


async def test_no_change_reconcile_makes_no_write_and_no_dry_run(
        local: Flux, git: GitHTTPServer, namespace: str,
        sluice_cluster: BackgroundCluster) -> None:
    repo = await git_source(local, namespace, git, "app.git", {
        "app/deploy.yaml": DEPLOYMENT.format(name="web"),
        "app/cm.yaml": CONFIGMAP.format(name="web-config")})
    revision = f"main@sha1:{repo.head()}"
    await kustomization(local, namespace, "app", path="./app", targetNamespace=namespace,
                        interval="1h", wait=True)
    await applied_and_watched(local, namespace, "app", revision)
    controller, reconciler = ks_controller(local)
    assert reconciler.live.tracked(owner_key(namespace, "app")) == 2
    assert reconciler.live.watched_kinds == ["ConfigMap", "Deployment.apps"]
    before = await local.ks(namespace, "app")
    deploy = await local.get("apps/v1", "Deployment", namespace, "web")
    assert before is not None and deploy is not None
    sent: list[RecordedEvent] = []

    async def hook(event: RecordedEvent) -> None:
        if event.involved_object.name == "app" and event.involved_object.namespace == namespace:
            sent.append(event)

    reconciler.recorder.add_hook(hook)

    with RequestCounter(sluice_cluster, namespace=namespace) as seen:
        # The interval's reconcile: no object written, nothing dry-run.
        count = unchanged_count(local)
        controller.queue.add(Request(namespace, "app"))
        await local.wait_for(lambda: _async(unchanged_count(local)),
                             lambda n: n == count + 1, "an unchanged reconcile")
        assert object_writes(seen) == [] and seen.dry_runs() == []
        # Flux's one event of an unchanged reconcile, as forwarded to notification.
        assert len(sent) == 1
        payload = sent[0].to_payload()
        assert re.fullmatch(r"Reconciliation finished in \S+, next run in 1h0m0s",
                            payload["message"]), payload
        assert (payload["severity"], payload["reason"]) == ("info", "ReconciliationSucceeded")
        assert payload["metadata"] == {"kustomize.toolkit.fluxcd.io/revision": revision,
                                       "kustomize.toolkit.fluxcd.io/commit_status": "update"}
        assert [w.method for w in seen.writes()] == ["POST"]  # the Event itself
        # The health check (wait: true) was still evaluated, with reads only.
        assert any(r.method == "GET" and r.path.endswith("/deployments/web")
                   for r in seen.snapshot())

        # ``flux reconcile ks``: only lastHandledReconcileAt is written.
        seen.clear()
        handled = await local.reconcile_ks(namespace, "app")
        stamp = handled["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        # (less the test's own request: the annotation ``flux reconcile`` sets)
        writes = [w for w in object_writes(seen) if not w.startswith(
            f"PATCH /apis/{KS}/namespaces/{namespace}/kustomizations/app ")]
        assert writes == [f"PATCH /apis/{KS}/namespaces/{namespace}/kustomizations/app/status "
                          "[gotk-kustomize-controller]"]
        assert seen.dry_runs() == []
    reconciler.recorder.hooks.remove(hook)

    after = await local.ks(namespace, "app")
    assert after is not None
    assert after["status"]["lastHandledReconcileAt"] == stamp
    assert {k: v for k, v in after["status"].items() if k != "lastHandledReconcileAt"} == \
        {k: v for k, v in before["status"].items() if k != "lastHandledReconcileAt"}
    live = await local.get("apps/v1", "Deployment", namespace, "web")
    assert live is not None
    assert live["metadata"]["resourceVersion"] == deploy["metadata"]["resourceVersion"]


async def test_a_new_revision_still_applies(local: Flux, git: GitHTTPServer,
                                            namespace: str) -> None:
    repo = await git_source(local, namespace, git, "rev.git", {
        "app/cm.yaml": CONFIGMAP.format(name="settings")})
    await kustomization(local, namespace, "app", path="./app", targetNamespace=namespace,
                        interval="1h")
    await applied_and_watched(local, namespace, "app", f"main@sha1:{repo.head()}")
    head = repo.commit({"app/cm.yaml": CONFIGMAP.format(name="settings").replace(
        "hello", "bonjour")})
    await local.reconcile_source(namespace, "repo")
    await local.wait_ks(namespace, "app", "True", revision=f"main@sha1:{head}")
    cm = await local.get("v1", "ConfigMap", namespace, "settings")
    assert cm is not None and cm["data"] == {"greeting": "bonjour"}
    # A change of the Kustomization's own spec takes the full path too.
    await local.patch(KS, "Kustomization", namespace, "app",
                      {"spec": {"commonMetadata": {"labels": {"team": "blue"}}}})
    await local.wait_for(lambda: local.get("v1", "ConfigMap", namespace, "settings"),
                         lambda o: (o["metadata"].get("labels") or {}).get("team") == "blue",
                         "commonMetadata applied")

