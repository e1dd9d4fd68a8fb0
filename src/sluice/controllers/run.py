"""Assembling the controllers of one process: manager, artifact storage and server, controllers.

Both ``sluice controllers run`` (against any cluster) and ``sluice up``
(against the embedded cluster in the same process) call `Controllers.create`
with a connection and `ControllerSettings`, then `Controllers.run` until
asked to stop. Creating:

1. starts the artifact server on ``artifact_addr`` (it serves even on a
   standby replica, like source-controller's storage server) and sets up
   `Storage` under ``storage_path``, advertising ``storage_adv_addr`` or, by
   default, the address the server actually bound (loopback for ``sluice
   up``; in a cluster, pass the Service address);
2. builds the `Manager` with the shared flags;
3. registers every available controller (`CONTROLLERS`; controllers of
   later kinds are appended there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sluice.controllers.helmrelease.controller import setup_helmrelease_controller
from sluice.controllers.helmrelease.reconciler import HelmReleaseOptions
from sluice.controllers.image_automation.controller import setup_image_automation_controller
from sluice.controllers.image_automation.reconciler import AutomationOptions
from sluice.controllers.image_reflector.controller import (
    ImageReflectorOptions,
    setup_image_reflector,
)
from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.reconciler import KustomizationOptions
from sluice.controllers.notification.controller import (
    NotificationOptions,
    setup_notification_controller,
)
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.controllers.source.helmchart import setup_helmchart_controller
from sluice.controllers.source.helmrepository import setup_helmrepository_controller
from sluice.controllers.source.ocirepository import setup_ocirepository_controller
from sluice.controllers.unserved import unserved_kinds_watcher
from sluice.kube.config import Connection
from sluice.runtime.heartbeat import add_component_heartbeat
from sluice.runtime.manager import Manager, ManagerOptions, parse_address

__all__ = ["CONTROLLERS", "ControllerSettings", "ControllerSetup", "Controllers"]

log = logging.getLogger("sluice.controllers")


@dataclass
class ControllerSettings:
    """Process-wide settings (``sluice controllers run`` flags)."""

    storage_path: Path
    # --storage-addr in Flux: where the artifact server listens.
    artifact_addr: str = ":9090"
    # --storage-adv-addr: the host:port put in artifact URLs.
    storage_adv_addr: str | None = None
    manager: ManagerOptions = field(default_factory=ManagerOptions)
    kustomization: KustomizationOptions = field(default_factory=KustomizationOptions)
    image_automation: AutomationOptions = field(default_factory=AutomationOptions)
    helmrelease: HelmReleaseOptions = field(default_factory=HelmReleaseOptions)
    # Tags of ImageRepositories; by default `image-reflector` beside the artifact storage
    # (never below it: the artifact server serves everything there).
    image_reflector: ImageReflectorOptions = field(default_factory=ImageReflectorOptions)
    notification: NotificationOptions = field(default_factory=NotificationOptions)
    # `--controllers`: which groups this process runs (one Deployment each in a cluster);
    # None runs them all, as `sluice up` does.
    controllers: frozenset[str] | None = None
    # Only `sluice up`, alone with its cluster, may say that no controller serves a kind
    # (see `sluice.controllers.unserved`); in a real cluster another Deployment may.
    mark_unserved: bool = False


ControllerSetup = Callable[[Manager, Storage, ControllerSettings], Awaitable[object]]


async def _gitrepository(manager: Manager, storage: Storage, settings: ControllerSettings) -> object:
    return await setup_gitrepository_controller(manager, storage)


async def _helmrepository(manager: Manager, storage: Storage,
                          settings: ControllerSettings) -> object:
    return await setup_helmrepository_controller(manager, storage)


async def _helmchart(manager: Manager, storage: Storage, settings: ControllerSettings) -> object:
    return await setup_helmchart_controller(manager, storage)


async def _ocirepository(manager: Manager, storage: Storage,
                         settings: ControllerSettings) -> object:
    return await setup_ocirepository_controller(manager, storage)


async def _kustomization(manager: Manager, storage: Storage,
                         settings: ControllerSettings) -> object:
    return await setup_kustomization_controller(manager, settings.kustomization)


async def _image_automation(manager: Manager, storage: Storage,
                            settings: ControllerSettings) -> object:
    return await setup_image_automation_controller(manager, settings.image_automation)
async def _image_reflector(manager: Manager, storage: Storage,
                           settings: ControllerSettings) -> object:
    default = settings.storage_path.resolve().parent / "image-reflector"
    return await setup_image_reflector(manager, default, settings.image_reflector)


async def _helmrelease(manager: Manager, storage: Storage,
                       settings: ControllerSettings) -> object:
    return await setup_helmrelease_controller(manager, settings.helmrelease)


async def _notification(manager: Manager, storage: Storage,
                        settings: ControllerSettings) -> object:
    return await setup_notification_controller(manager, settings.notification)


# (kind, the `--controllers` group it belongs to, setup)
CONTROLLERS: list[tuple[str, str, ControllerSetup]] = [
    ("GitRepository", "source", _gitrepository),
    ("HelmRepository", "source", _helmrepository),
    ("HelmChart", "source", _helmchart),
    ("OCIRepository", "source", _ocirepository),
    ("Kustomization", "kustomize", _kustomization),
    ("ImageRepository+ImagePolicy", "image-reflector", _image_reflector),
    ("ImageUpdateAutomation", "image-automation", _image_automation),
    ("HelmRelease", "helm", _helmrelease),
    ("Receiver", "notification", _notification),
]

# Kinds a group serves with no reconciling controller of their own: v1beta3 Alerts and
# Providers have no status; the notification group's dispatcher reads them per event.
SERVED_WITHOUT_CONTROLLER: dict[str, tuple[str, ...]] = {"notification": ("Alert", "Provider")}


def served_kinds(manager: Manager, groups: set[str]) -> set[str]:
    """The Flux kinds this process answers for: what `unserved` must leave alone."""
    served = {c.kind for c in manager.controllers}
    for group in groups:
        served.update(SERVED_WITHOUT_CONTROLLER.get(group, ()))
    return served


class Controllers:
    """The manager with its controllers and the artifact server, ready to run."""

    def __init__(self, manager: Manager, storage: Storage, server: ArtifactServer) -> None:
        self.manager = manager
        self.storage = storage
        self.artifact_server = server

    @property
    def artifact_url(self) -> str:
        return self.storage.url_for("").rstrip("/")

    @classmethod
    async def create(cls, connection: Connection, settings: ControllerSettings) -> Controllers:
        host, port = parse_address(settings.artifact_addr)
        settings.storage_path.mkdir(parents=True, exist_ok=True)
        server = ArtifactServer(settings.storage_path, host, port)
        await server.start()
        try:
            advertised = settings.storage_adv_addr
            if not advertised:
                shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
                shown = f"[{shown}]" if ":" in shown else shown
                advertised = f"{shown}:{server.port}"
            storage = Storage(settings.storage_path, advertised)
            manager = Manager(connection, settings.manager)
            groups: set[str] = set()
            for kind, group, setup in CONTROLLERS:
                if settings.controllers is not None and group not in settings.controllers:
                    continue
                await setup(manager, storage, settings)
                groups.add(group)
                log.debug("registered the %s controller", kind)
            # On the embedded cluster, what runs is announced (`sluice.runtime.heartbeat`).
            await add_component_heartbeat(manager, groups)
        except BaseException:
            await server.close()
            raise
        manager.add_runnable("artifact-server", _closer(server))
        if settings.mark_unserved:
            manager.add_runnable("unserved-kinds", unserved_kinds_watcher(
                manager.objects, served_kinds(manager, groups), manager.event_recorder("sluice")))
        ctrls = cls(manager, storage, server)
        log.info("artifact server on %s, advertised as %s", server.url, ctrls.artifact_url)
        return ctrls

    async def run(self) -> None:
        """Run until `stop` (or a failure, re-raised); always shuts down cleanly."""
        try:
            await self.manager.run()
        finally:
            await self.artifact_server.close()

    def stop(self) -> None:
        self.manager.stop()


def _closer(server: ArtifactServer) -> Callable[[], Awaitable[None]]:
    """A runnable that keeps the (already started) server open until cancelled."""

    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    return hold
