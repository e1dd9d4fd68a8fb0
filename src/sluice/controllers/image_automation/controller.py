"""Registering the ImageUpdateAutomation controller on a manager.

`setup_image_automation_controller` creates the shared informers (the
automations, the ImagePolicies and GitRepositories they read), the
reconciler, and a `Controller` that also reconciles, at once:

* every automation of a namespace when one of its ImagePolicies selects a
  different image (``status.latestRef``, or the v1beta2 ``latestImage``),
  appears or goes (Flux's ``automationsForImagePolicy``);
* the automations whose ``sourceRef`` names a GitRepository whose spec
  changed (a new URL, ref or Secret), as Flux's ``automationsForGitRepo``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sluice.api.image import API_VERSION, AUTOMATION
from sluice.api.source import API_VERSION as SOURCE_API_VERSION
from sluice.controllers.image_automation.reconciler import (
    KIND,
    AutomationOptions,
    ImageUpdateAutomationReconciler,
)
from sluice.kube.objects import Obj
from sluice.runtime.controller import Controller
from sluice.runtime.informer import ADDED, DELETED, Informer
from sluice.runtime.manager import Manager
from sluice.runtime.reconciler import Request
from sluice.runtime.status import StatusPatcher

__all__ = ["SOURCE_INDEX", "setup_image_automation_controller"]

SOURCE_INDEX = "sourceRef"

MapFunc = Callable[[str, Obj | None, Obj], list[Request]]


def _source_keys(obj: Obj) -> Iterable[str]:
    meta = obj.get("metadata") or {}
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    if ref.get("name"):
        yield f"{ref.get('namespace') or meta.get('namespace') or ''}/{ref['name']}"


def _request(obj: Obj) -> Request:
    meta = obj.get("metadata") or {}
    return Request(str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _selected(obj: Obj | None) -> object:
    status = (obj or {}).get("status") or {}
    return (status.get("latestRef"), status.get("latestImage"))


def requests_for_policy(automations: Informer) -> MapFunc:
    def map_fn(etype: str, old: Obj | None, new: Obj) -> list[Request]:
        if etype not in (ADDED, DELETED) and _selected(old) == _selected(new):
            return []
        namespace = str((new.get("metadata") or {}).get("namespace") or "")
        return [_request(a) for a in automations.list(namespace)]

    return map_fn


def requests_for_repository(automations: Informer) -> MapFunc:
    def map_fn(etype: str, old: Obj | None, new: Obj) -> list[Request]:
        if etype not in (ADDED, DELETED) and (old or {}).get("spec") == new.get("spec"):
            return []
        meta = new.get("metadata") or {}
        key = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        return [_request(a) for a in automations.by_index(SOURCE_INDEX, key)]

    return map_fn


async def setup_image_automation_controller(manager: Manager,
                                            options: AutomationOptions | None = None
                                            ) -> Controller:
    """Register the ImageUpdateAutomation controller (and its watches) on ``manager``."""
    options = options or AutomationOptions()
    informer = await manager.informer(API_VERSION, KIND)
    informer.add_index(SOURCE_INDEX, _source_keys)
    policies = await manager.informer(API_VERSION, "ImagePolicy", selector=False)
    repositories = await manager.informer(SOURCE_API_VERSION, "GitRepository", selector=False)
    secrets = await manager.objects.mapping("v1", "Secret")
    patcher = StatusPatcher(manager.objects, informer.mapping, AUTOMATION)
    reconciler = ImageUpdateAutomationReconciler(
        informer, policies, repositories, manager.objects, secrets,
        manager.event_recorder(AUTOMATION), patcher, options)
    controller = Controller(KIND, informer, reconciler,
                            concurrent=options.concurrent or manager.options.concurrent,
                            metrics=manager.metrics,
                            grace_period=manager.options.graceful_shutdown_timeout)
    controller.watch(policies, requests_for_policy(informer))
    controller.watch(repositories, requests_for_repository(informer))
    manager.add_controller(controller)
    return controller
