"""Which Sluice components truly run against the embedded cluster: one Lease per component.

On a real cluster each controller is a Deployment, and its status says
whether it runs. On Sluice's embedded cluster no container runs: the
component Deployments applied from ``gotk-components.yaml`` get simulated
pods, so their status proves nothing. What runs is whatever controller
process (``sluice up``, ``sluice controllers run``, a test's manager) is
connected. So each such process keeps, for every component it runs
(``source-controller`` for the ``source`` group, ...), a Lease
``kube-system/sluice-<component>`` renewed every few seconds, the way
kube-controller-manager keeps its Lease in ``kube-system``; it deletes them
when it stops. `sluice.kube.components.running_components` reads them back: a component runs when
its Lease was renewed within its ``leaseDurationSeconds``. ``sluice check``
and ``bootstrap`` report a component healthy only then.

Only the embedded cluster gets these Leases (`is_embedded`): on a real
cluster the Deployments speak for themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from sluice.core.components import (
    HEARTBEAT_LABEL,
    HEARTBEAT_NAMESPACE,
    lease_name,
    micro_time,
)
from sluice.kube.components import is_embedded
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.objects import Obj, Objects
from sluice.runtime.leader import default_identity
from sluice.runtime.manager import Manager

__all__ = ["add_component_heartbeat", "component_for_group", "heartbeat"]

log = logging.getLogger("sluice.runtime.heartbeat")

_DURATION = 15
_PERIOD = 5.0


def component_for_group(group: str) -> str:
    """The Deployment name of a ``--controllers`` group: ``source`` -> ``source-controller``."""
    return f"{group}-controller"


def _lease(component: str, identity: str) -> Obj:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": lease_name(component), "namespace": HEARTBEAT_NAMESPACE,
                         "labels": {HEARTBEAT_LABEL: "true",
                                    "app.kubernetes.io/component": component}},
            "spec": {"holderIdentity": identity, "leaseDurationSeconds": _DURATION,
                     "renewTime": micro_time()}}


async def _beat(objects: Objects, components: Iterable[str], identity: str) -> None:
    mapping = await objects.mapping("coordination.k8s.io/v1", "Lease")
    for component in components:
        lease = _lease(component, identity)
        name = lease["metadata"]["name"]
        try:
            await objects.merge_patch(mapping, name, {"spec": lease["spec"]},
                                      HEARTBEAT_NAMESPACE)
        except KubeError as exc:
            if not is_not_found(exc):
                raise
            with contextlib.suppress(KubeError):
                await objects.create(mapping, lease, HEARTBEAT_NAMESPACE)


async def _release(objects: Objects, components: Iterable[str], identity: str) -> None:
    mapping = await objects.mapping("coordination.k8s.io/v1", "Lease")
    for component in components:
        name = lease_name(component)
        with contextlib.suppress(KubeError):
            live = await objects.get_or_none(mapping, name, HEARTBEAT_NAMESPACE)
            # Another process may have taken over the component meanwhile: leave its Lease.
            if live is not None and (live.get("spec") or {}).get("holderIdentity") == identity:
                await objects.delete(mapping, name, HEARTBEAT_NAMESPACE)


def heartbeat(objects: Objects, components: Iterable[str], identity: str,
              period: float = _PERIOD) -> Callable[[], Awaitable[None]]:
    """A runnable renewing the components' Leases until cancelled, then deleting them."""
    names = sorted(set(components))

    async def run() -> None:
        try:
            while True:
                try:
                    await _beat(objects, names, identity)
                except (KubeError, OSError) as exc:
                    # A missed beat is retried; the Lease outlives a few of them.
                    log.warning("component heartbeat failed: %s", exc)
                await asyncio.sleep(period)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(_release(objects, names, identity))

    return run


async def add_component_heartbeat(manager: Manager, groups: Iterable[str]) -> None:
    """Have `manager` keep the Leases of its ``--controllers`` groups (embedded cluster only)."""
    names = sorted({component_for_group(g) for g in groups})
    if names and await is_embedded(manager.objects):
        identity = default_identity()
        # The first beat before the manager starts: a command run right after start-up
        # already sees the components.
        with contextlib.suppress(KubeError, OSError):
            await _beat(manager.objects, names, identity)
        manager.add_runnable("component-heartbeat",
                             heartbeat(manager.objects, names, identity))
