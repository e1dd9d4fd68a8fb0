"""Registering the HelmRelease controller on a manager.

`setup_helmrelease_controller` creates the HelmRelease informer with its
chart-source and ``dependsOn`` indexes, informers of the chart source kinds
the cluster serves (HelmChart, OCIRepository), the reconciler, and a
`Controller` watching them (see `watches`), and the labelled ConfigMaps and
Secrets its ``valuesFrom`` name (`sluice.runtime.config_watch`). The Helm runner's configs and the
chart download client are released when the manager stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from sluice.api.helm import API_VERSION, COMPONENT
from sluice.api.source import API_VERSION as SOURCE_API_VERSION
from sluice.kube.errors import NoKindMatch
from sluice.kube.objects import Obj
from sluice.runtime.config_watch import watch_configs
from sluice.runtime.controller import Controller
from sluice.runtime.informer import Informer
from sluice.runtime.manager import Manager
from sluice.runtime.status import StatusPatcher

from .dependencies import dependency_keys
from .reconciler import KIND, HelmReleaseOptions, HelmReleaseReconciler
from .watches import (
    DEPENDS_INDEX,
    SOURCE_INDEX,
    requests_for_dependents,
    requests_for_source,
    source_keys,
)

__all__ = ["setup_helmrelease_controller"]

log = logging.getLogger("sluice.controllers.helmrelease")

SOURCE_KINDS = ("HelmChart", "OCIRepository")


async def setup_helmrelease_controller(manager: Manager,
                                       options: HelmReleaseOptions | None = None) -> Controller:
    """Register the HelmRelease controller (and its watches) on ``manager``."""
    options = options or HelmReleaseOptions()
    informer = await manager.informer(API_VERSION, KIND)
    informer.add_index(SOURCE_INDEX, source_keys)
    informer.add_index(DEPENDS_INDEX, dependency_keys)
    sources: dict[str, Informer] = {}
    for kind in SOURCE_KINDS:
        try:
            sources[kind] = await manager.informer(SOURCE_API_VERSION, kind)
        except NoKindMatch:
            log.info("source kind %s is not served; HelmReleases cannot use it", kind)
    patcher = StatusPatcher(manager.objects, informer.mapping, COMPONENT)
    reconciler = HelmReleaseReconciler(informer, sources, manager.objects,
                                       manager.event_recorder(COMPONENT), patcher, options)
    controller = Controller(KIND, informer, reconciler,
                            concurrent=options.concurrent or manager.options.concurrent,
                            metrics=manager.metrics,
                            grace_period=manager.options.graceful_shutdown_timeout)
    for kind, source_informer in sources.items():
        controller.watch(source_informer, requests_for_source(informer, kind))
    controller.watch(informer, requests_for_dependents(informer))
    # valuesFrom ConfigMaps/Secrets labelled reconcile.fluxcd.io/watch=Enabled, as Flux.
    await watch_configs(manager, controller, informer, _values_refs)
    # A released object changed in the cluster: drift detection runs now (`livedrift`).
    reconciler.live_drift.enqueue_on_drift(controller.queue, informer)
    manager.add_controller(controller)
    manager.add_runnable("helmrelease-clients", _closer(reconciler))
    return controller


def _values_refs(obj: Obj) -> Iterable[tuple[str, str]]:
    """The (kind, name) of each ``spec.valuesFrom`` entry."""
    for ref in (obj.get("spec") or {}).get("valuesFrom") or []:
        if isinstance(ref, dict) and ref.get("kind") and ref.get("name"):
            yield str(ref["kind"]), str(ref["name"])


def _closer(reconciler: HelmReleaseReconciler) -> Callable[[], Awaitable[None]]:
    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await reconciler.close()

    return hold
