"""Sluice's own component pods are Ready only while their controller really runs.

On the embedded cluster no container runs, so the pods of the component
Deployments applied from ``gotk-components.yaml`` would otherwise turn Running
and Ready like any other and prove nothing: ``kubectl -n flux-system get pods``
would show a helm-controller at 1/1 that no process runs. A Sluice process
announces each component it runs with a Lease ``kube-system/sluice-<component>``
(`sluice.core.components`). The kubelet asks `ComponentPods` before it starts a
component pod's containers and whenever such a Lease changes or runs out: with
no live Lease the containers wait with reason ``ControllerNotRunning`` (``0/1``
in ``kubectl get pods``, the Deployment unavailable), and they become ready
again as soon as a process renews the Lease.
"""

from __future__ import annotations

from collections.abc import Iterator

from sluice.apiserver.simulation.context import PODS, Sim, Work
from sluice.apiserver.simulation.index import StorageKey
from sluice.apiserver.simulation.pod_subresources import component_of
from sluice.apiserver.simulation.shapes import meta
from sluice.core.components import (
    COMPONENTS_NAMESPACE,
    HEARTBEAT_NAMESPACE,
    component_of_lease,
    lease_name,
    lease_remaining,
)

__all__ = ["LEASES", "NOT_RUNNING", "ComponentPods", "not_running_message"]

LEASES: StorageKey = ("coordination.k8s.io", "leases")
NOT_RUNNING = "ControllerNotRunning"


def not_running_message(component: str) -> str:
    return (f"no Sluice process runs {component} against this cluster (start `sluice up`, "
            f"or `sluice controllers run` with its group)")


class ComponentPods:
    """Which component pods may run, from the heartbeat Leases."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def remaining(self, component: str) -> float:
        """Seconds the component's Lease still holds (<= 0: not running)."""
        lease = self.sim.get(LEASES, HEARTBEAT_NAMESPACE, lease_name(component))
        return lease_remaining(lease.get("spec") or {}) if lease is not None else 0.0

    def pods_for_lease(self, namespace: str, name: str) -> Iterator[Work]:
        """The pod work items a change of Lease ``namespace/name`` concerns."""
        component = component_of_lease(name) if namespace == HEARTBEAT_NAMESPACE else None
        if component is None:
            return
        for pod in self.sim.cluster.storage.list(PODS, COMPONENTS_NAMESPACE):
            if component_of(pod) == component:
                yield ("pod", COMPONENTS_NAMESPACE, str(meta(pod).get("name")))
