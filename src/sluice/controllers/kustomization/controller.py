"""Registering the Kustomization controller on a manager.

`setup_kustomization_controller` is what ``sluice controllers run`` and
``sluice up`` call: it creates the shared Kustomization informer with its
``sourceRef`` and ``dependsOn`` indexes, the informers of the source kinds
the cluster serves, the reconciler, and a `Controller` watching all of them
(see `watches`), and the live-state watches on the objects Kustomizations
applied: a drifted object enqueues its Kustomization at once (`nochange`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sluice.api.kustomize import API_VERSION, COMPONENT
from sluice.api.source import API_VERSION as SOURCE_API_VERSION
from sluice.controllers.kustomization.dependencies import dependency_keys
from sluice.controllers.kustomization.nochange import DriftPacer, request_of
from sluice.controllers.kustomization.reconciler import (
    KIND,
    KustomizationOptions,
    KustomizationReconciler,
)
from sluice.controllers.kustomization.watches import (
    DEPENDS_INDEX,
    SOURCE_INDEX,
    requests_for_dependents,
    requests_for_source,
    source_keys,
)
from sluice.kube.errors import NoKindMatch
from sluice.runtime.controller import Controller
from sluice.runtime.informer import Informer
from sluice.runtime.manager import Manager
from sluice.runtime.status import StatusPatcher

__all__ = ["setup_kustomization_controller"]

log = logging.getLogger("sluice.controllers.kustomization")


async def setup_kustomization_controller(manager: Manager,
                                         options: KustomizationOptions | None = None
                                         ) -> Controller:
    """Register the Kustomization controller (and its watches) on ``manager``."""
    options = options or KustomizationOptions()
    informer = await manager.informer(API_VERSION, KIND)
    informer.add_index(SOURCE_INDEX, source_keys)
    informer.add_index(DEPENDS_INDEX, dependency_keys)
    sources: dict[str, Informer] = {}
    for kind in options.source_kinds:
        try:
            sources[kind] = await manager.informer(SOURCE_API_VERSION, kind)
        except NoKindMatch:
            log.info("source kind %s is not served; Kustomizations cannot use it", kind)
    # Status and finalizers are written as "gotk-kustomize-controller", as Flux
    # does: under the apply manager's name, a Kustomization applying itself
    # would take over (and drop) its own finalizer.
    patcher = StatusPatcher(manager.objects, informer.mapping, f"gotk-{options.field_manager}")
    reconciler = KustomizationReconciler(informer, sources, manager.objects,
                                         manager.event_recorder(COMPONENT), patcher, options)
    controller = Controller(KIND, informer, reconciler,
                            concurrent=options.concurrent or manager.options.concurrent,
                            metrics=manager.metrics,
                            grace_period=manager.options.graceful_shutdown_timeout)

    pacer = DriftPacer()

    def drifted(owner: str) -> None:
        request = request_of(owner)
        if request is not None:
            delay = pacer.delay(owner, time.monotonic())
            if delay:
                controller.queue.add_after(request, delay)
            else:
                controller.queue.add(request)

    reconciler.live.on_drift = drifted
    for kind, source_informer in sources.items():
        controller.watch(source_informer, requests_for_source(informer, kind))
    controller.watch(informer, requests_for_dependents(informer))
    manager.add_controller(controller)
    manager.add_runnable("kustomization-http-clients", _closer(reconciler))
    return controller


def _closer(reconciler: KustomizationReconciler) -> Callable[[], Awaitable[None]]:
    """A runnable releasing the reconciler's HTTP client when the manager stops."""

    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await reconciler.close()

    return hold
