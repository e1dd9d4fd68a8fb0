"""Status writes of a reconcile: Reconciling then Ready, as Flux users see, in two writes.

kustomize-controller writes a progress status at each step (fetching,
building, health checks) and then the outcome. Here the reconcile's first
progress status goes out at once and later steps' messages only when the
step lasts (``progress_delay``): a quick first apply is watched as
``Reconciliation in progress`` then ``Applied revision``, written twice; a
health check that waits shows ``Running health checks ...`` meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from sluice.testing.background import BackgroundCluster
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.requests import RequestCounter

from .conftest import Flux, condition, fast_options, start_flux
from .test_health_from_watch import warmed_source
from .test_reconcile import CONFIGMAP, git_source, kustomization

KS = "kustomize.toolkit.fluxcd.io/v1"


async def _watch_ready(flux: Flux, namespace: str, name: str,
                       seen: list[tuple[str, str]]) -> None:
    """Append (Ready status, message) of every version of the Kustomization."""
    mapping = await flux.objects.mapping(KS, "Kustomization")
    async for _etype, obj in flux.objects.watch(mapping, namespace):
        if obj["metadata"]["name"] != name:
            continue
        ready = condition(obj, "Ready")
        reconciling = condition(obj, "Reconciling")
        entry = (ready["status"] if ready else "-",
                 (reconciling or ready or {}).get("message", ""))
        if not seen or seen[-1] != entry:
            seen.append(entry)


async def test_quick_first_apply_is_reconciling_then_ready_in_two_writes(
        kubeconfig: Path, tmp_path: Path, git: GitHTTPServer, namespace: str,
        sluice_cluster: BackgroundCluster) -> None:
    async with start_flux(kubeconfig, tmp_path, namespace,
                          fast_options(progress_delay=30.0)) as flux:
        # The artifact downloaded and the kinds watched: the next apply is the quick case.
        revision = await warmed_source(flux, namespace, git, "writes.git")
        watched: list[tuple[str, str]] = []
        watcher = asyncio.create_task(_watch_ready(flux, namespace, "app", watched))
        try:
            with RequestCounter(sluice_cluster, namespace=namespace) as seen:
                await kustomization(flux, namespace, "app", path="./app",
                                    targetNamespace=namespace, interval="1h", timeout="1m",
                                    wait=True)
                await flux.wait_ks(namespace, "app", "True", revision=revision)
            await flux.wait_for(lambda: _async(watched), lambda w: w[-1][0] == "True",
                                "the watch sees Ready")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        status_writes = [r for r in seen.writes() if r.path.endswith("/kustomizations/app/status")]
        assert len(status_writes) == 2, [str(r) for r in status_writes]
        states = [s for s in watched if s[0] != "-"]
        assert states[0] == ("Unknown",
                             f"Building manifests for revision {revision} with a timeout of 1m0s")
        assert states[-1] == ("True", f"Applied revision: {revision}")
        ready = await flux.ks(namespace, "app")
        assert ready is not None and condition(ready, "Reconciling") is None
        assert (condition(ready, "Healthy") or {}).get("status") == "True"


async def test_a_health_check_that_lasts_shows_while_it_runs(
        kubeconfig: Path, tmp_path: Path, git: GitHTTPServer, namespace: str) -> None:
    async with start_flux(kubeconfig, tmp_path, namespace,
                          fast_options(progress_delay=0.2)) as flux:
        repo = await git_source(flux, namespace, git, "slow.git", {
            "app/cm.yaml": CONFIGMAP.format(name="web-config")})
        revision = f"main@sha1:{repo.head()}"
        await kustomization(flux, namespace, "app", path="./app", targetNamespace=namespace,
                            interval="1h", timeout="1m", healthChecks=[
                                {"apiVersion": "v1", "kind": "ConfigMap", "name": "later",
                                 "namespace": namespace}])
        running = f"Running health checks for revision {revision} with a timeout of 1m0s"
        shown = await flux.wait_for(lambda: flux.ks(namespace, "app"),
                                    lambda o: (condition(o, "Reconciling") or {}).get(
                                        "message") == running, "health check shown")
        assert (condition(shown, "Healthy") or {}).get("status") == "Unknown"
        await flux.apply(CONFIGMAP.format(name="later"), namespace)
        await flux.wait_ks(namespace, "app", "True", revision=revision)


async def _async(value: Any) -> Any:
    return value
