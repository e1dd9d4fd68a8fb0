"""A first apply is one reconcile: what the cluster's controllers write afterwards is not drift.

After a Kustomization creates a Deployment, kube-controller-manager (the
embedded cluster's simulator) writes the Deployment's revision annotation and
status: nothing the Kustomization owns. Those writes arrive while its objects
are not yet recorded by the live state; they must not make it look drifted
at commit, or every first apply is followed by a second one (it was: about a
third of the requests of bench/bench_kustomizations.py).
"""

from __future__ import annotations

from sluice.controllers.kustomization.nochange import owner_key
from sluice.testing.background import BackgroundCluster
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.requests import RequestCounter

from .conftest import Flux
from .test_nochange import applied_and_watched, ks_controller
from .test_reconcile import CONFIGMAP, DEPLOYMENT, git_source, kustomization


async def test_first_apply_is_not_followed_by_a_drift_reapply(
        local: Flux, git: GitHTTPServer, namespace: str,
        sluice_cluster: BackgroundCluster) -> None:
    repo = await git_source(local, namespace, git, "first.git", {
        "warm/deploy.yaml": DEPLOYMENT.format(name="warm"),
        "app/deploy.yaml": DEPLOYMENT.format(name="web"),
        "app/cm.yaml": CONFIGMAP.format(name="web-config")})
    revision = f"main@sha1:{repo.head()}"
    # A first Kustomization starts the live-state watch on Deployments, as the
    # others already running do in a fleet: the events that follow the next
    # one's first apply are then seen.
    await kustomization(local, namespace, "warm", path="./warm", targetNamespace=namespace,
                        interval="1h", wait=True)
    await applied_and_watched(local, namespace, "warm", revision)
    with RequestCounter(sluice_cluster, namespace=namespace) as seen:
        await kustomization(local, namespace, "app", path="./app", targetNamespace=namespace,
                            interval="1h", wait=True)
        await applied_and_watched(local, namespace, "app", revision)
        deployment = await local.get("apps/v1", "Deployment", namespace, "web")
        assert deployment is not None
        # The simulator wrote it after the apply (revision annotation, status)...
        assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        # ...and yet each object was dry-run and written once, by one reconcile.
        for plural, name in (("deployments", "web"), ("configmaps", "web-config")):
            path = f"/{plural}/{name}"
            assert len([r for r in seen.dry_runs() if r.path.endswith(path)]) == 1, \
                [str(r) for r in seen.snapshot()]
            assert len([r for r in seen.writes() if r.path.endswith(path)]) == 1
    _, reconciler = ks_controller(local)
    assert reconciler.live.drift(owner_key(namespace, "app")) == []
