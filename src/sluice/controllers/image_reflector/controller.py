"""Registering the image reflector (ImageRepository and ImagePolicy) on a manager.

Both controllers share one `TagStore` (the repository writes, the policy
reads) under ``<storage>/image-reflector``, a sibling of the artifact
storage root so tags are never served over the artifact server. Policies
watch their own objects (spec changes, ``requestedAt``) and the
ImageRepositories they refer to (a new ``lastScanResult.revision``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sluice.api.image import API_VERSION, REFLECTOR
from sluice.controllers.image_reflector.policy import KIND as POLICY_KIND
from sluice.controllers.image_reflector.policy import (
    REPOSITORY_INDEX,
    ImagePolicyReconciler,
    repository_keys,
)
from sluice.controllers.image_reflector.repository import KIND as REPOSITORY_KIND
from sluice.controllers.image_reflector.repository import ImageRepositoryReconciler
from sluice.controllers.image_reflector.tagstore import TagStore
from sluice.runtime.controller import Controller
from sluice.runtime.manager import Manager
from sluice.runtime.status import StatusPatcher

__all__ = ["ImageReflectorOptions", "setup_image_reflector"]


@dataclass
class ImageReflectorOptions:
    """image-reflector-controller's flags that Sluice honours."""

    # --storage-path: where the tags of every ImageRepository are kept.
    storage_path: Path | None = None
    no_cross_namespace_refs: bool = False
    requeue_dependency: float = 30.0
    concurrent: int | None = None


async def setup_image_reflector(manager: Manager, storage_path: Path,
                                options: ImageReflectorOptions | None = None
                                ) -> tuple[Controller, Controller]:
    """Register the ImageRepository and ImagePolicy controllers on ``manager``."""
    options = options or ImageReflectorOptions()
    store = TagStore(options.storage_path or storage_path)
    recorder = manager.event_recorder(REFLECTOR)
    concurrent = options.concurrent or manager.options.concurrent
    grace = manager.options.graceful_shutdown_timeout

    repos = await manager.informer(API_VERSION, REPOSITORY_KIND)
    repo_reconciler = ImageRepositoryReconciler(
        repos, manager.objects, store, recorder,
        StatusPatcher(manager.objects, repos.mapping, REFLECTOR))
    repo_controller = Controller(REPOSITORY_KIND, repos, repo_reconciler, concurrent=concurrent,
                                 metrics=manager.metrics, grace_period=grace)
    manager.add_controller(repo_controller)

    policies = await manager.informer(API_VERSION, POLICY_KIND)
    policies.add_index(REPOSITORY_INDEX, repository_keys)
    policy_reconciler = ImagePolicyReconciler(
        policies, repos, manager.objects, store, recorder,
        StatusPatcher(manager.objects, policies.mapping, REFLECTOR),
        no_cross_namespace_refs=options.no_cross_namespace_refs,
        requeue_dependency=options.requeue_dependency)
    policy_controller = Controller(POLICY_KIND, policies, policy_reconciler,
                                   concurrent=concurrent, metrics=manager.metrics,
                                   grace_period=grace)
    policy_controller.watch(repos, policy_reconciler.requests_for_repository)
    manager.add_controller(policy_controller)
    return repo_controller, policy_controller
