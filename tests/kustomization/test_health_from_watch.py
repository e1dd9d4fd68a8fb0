"""``wait: true`` judges health from what the apply was answered and what the watches see.

kstatus' polling reads every applied object back; here the write's answer
and the live-state watch events (the Deployment's status, written by the
cluster a moment after the apply) are enough: a Kustomization becomes Ready
with no GET of its objects beyond the live read of the apply's dry run, and
without waiting for a poll interval (set to a minute here, so falling back
to polling would show as a timeout).
"""

from __future__ import annotations

from pathlib import Path

from sluice.testing.background import BackgroundCluster
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.requests import RequestCounter

from .conftest import Flux, fast_options, start_flux
from .test_nochange import applied_and_watched
from .test_reconcile import CONFIGMAP, DEPLOYMENT, git_source, kustomization


async def warmed_source(flux: Flux, namespace: str, git: GitHTTPServer, repo_name: str
                        ) -> str:
    """A source with ``./warm`` and ``./app`` (a Deployment and a ConfigMap each), and
    ``./warm`` applied and watched, so that applying ``./app`` next finds the artifact
    extracted and its kinds watched (before that, health is read with GETs, polled).
    Returns the revision."""
    repo = await git_source(flux, namespace, git, repo_name, {
        "warm/deploy.yaml": DEPLOYMENT.format(name="warm"),
        "warm/cm.yaml": CONFIGMAP.format(name="warm-config"),
        "app/deploy.yaml": DEPLOYMENT.format(name="web"),
        "app/cm.yaml": CONFIGMAP.format(name="web-config")})
    revision = f"main@sha1:{repo.head()}"
    await kustomization(flux, namespace, "warm", path="./warm", targetNamespace=namespace,
                        interval="1h")
    await applied_and_watched(flux, namespace, "warm", revision)
    return revision


async def test_wait_needs_no_health_get_once_the_kinds_are_watched(
        kubeconfig: Path, tmp_path: Path, git: GitHTTPServer, namespace: str,
        sluice_cluster: BackgroundCluster) -> None:
    async with start_flux(kubeconfig, tmp_path, namespace,
                          fast_options(health_poll=60.0)) as flux:
        revision = await warmed_source(flux, namespace, git, "health.git")
        with RequestCounter(sluice_cluster, namespace=namespace) as seen:
            await kustomization(flux, namespace, "app", path="./app",
                                targetNamespace=namespace, interval="1h", wait=True)
            ready = await flux.wait_ks(namespace, "app", "True", revision=revision, limit=30)
        conditions = {c["type"]: c for c in ready["status"]["conditions"]}
        assert conditions["Healthy"]["status"] == "True"
        assert conditions["Healthy"]["message"].startswith("Health check passed in ")
        deployment = await flux.get("apps/v1", "Deployment", namespace, "web")
        assert deployment is not None and deployment["status"]["readyReplicas"] == 1
        for plural, name in (("deployments", "web"), ("configmaps", "web-config")):
            gets = [str(r) for r in seen.snapshot()
                    if r.method == "GET" and r.path.endswith(f"/{plural}/{name}")]
            # The dry run's read of the live object, and nothing for health.
            assert len(gets) == 1, gets
