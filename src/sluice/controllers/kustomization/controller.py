"""Registering the Kustomization controller on a manager.

`setup_kustomization_controller` is what ``sluice controllers run`` and
``sluice up`` call: it creates the shared Kustomization informer with its
``sourceRef`` and ``dependsOn`` indexes, the informers of the source kinds
the cluster serves, the reconciler, and a `Controller` watching all of them
(see `watches`), the ConfigMaps and Secrets that ``postBuild.substituteFrom``
and ``decryption.secretRef`` name (those labelled
``reconcile.fluxcd.io/watch: Enabled``, `sluice.runtime.config_watch`, as
Flux's ``--watch-configs-label-selector``), and the live-state watches on the
objects Kustomizations applied: a drifted object enqueues its Kustomization at
once (`nochange`, `drift`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from sluice.api.kustomize import API_VERSION, COMPONENT
from sluice.api.source import API_VERSION as SOURCE_API_VERSION
from sluice.controllers.kustomization.dependencies import dependency_keys
from sluice.controllers.kustomization.nochange import request_of
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
from sluice.kube.objects import Obj
from sluice.runtime.config_watch import watch_configs
from sluice.runtime.controller import Controller
from sluice.runtime.drift_pacing import DriftPacer
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

    pacer = DriftPacer(free=options.drift_quick_corrections)

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
    await watch_configs(manager, controller, informer, config_refs)
    manager.add_controller(controller)
    manager.add_runnable("kustomization-http-clients", _closer(reconciler))
    return controller


def config_refs(obj: Obj) -> Iterable[tuple[str, str]]:
    """The (kind, name) of the ConfigMaps/Secrets a Kustomization reads (Flux's indexes)."""
    spec = obj.get("spec") or {}
    for ref in (spec.get("postBuild") or {}).get("substituteFrom") or []:
        if isinstance(ref, dict) and ref.get("kind") and ref.get("name"):
            yield str(ref["kind"]), str(ref["name"])
    secret = (spec.get("decryption") or {}).get("secretRef") or {}
    if isinstance(secret, dict) and secret.get("name"):
        yield "Secret", str(secret["name"])


def _closer(reconciler: KustomizationReconciler) -> Callable[[], Awaitable[None]]:
    """A runnable releasing the reconciler's HTTP client when the manager stops."""

    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await reconciler.close()

    return hold
