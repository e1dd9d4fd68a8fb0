"""Sluice's components and how a process says it runs one: names every layer agrees on.

Flux ships six controllers, each a Deployment in ``flux-system`` whose pods
carry ``app: <component>``. On a real cluster those pods are the controllers.
On Sluice's embedded cluster nothing runs in a pod: a controller runs inside
whatever Sluice process is connected (``sluice up``, ``sluice controllers
run``), and that process renews one Lease per component it runs,
``kube-system/sluice-<component>`` (`sluice.runtime.heartbeat` writes them).
The embedded cluster's simulated kubelet reads the same Leases so the
component pods are Ready only while their controller really runs, and
``sluice check``/``bootstrap`` read them to report what runs. This module
holds what both sides must agree on, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["COMPONENTS_NAMESPACE", "COMPONENT_KINDS", "HEARTBEAT_LABEL", "HEARTBEAT_NAMESPACE",
           "LEASE_PREFIX", "component_of_lease", "lease_name", "lease_remaining",
           "micro_time"]

COMPONENTS_NAMESPACE = "flux-system"
HEARTBEAT_NAMESPACE = "kube-system"
LEASE_PREFIX = "sluice-"
HEARTBEAT_LABEL = "sluice.dev/component-heartbeat"

# Which kinds each component serves (Flux's split of the APIs between controllers).
COMPONENT_KINDS: dict[str, frozenset[str]] = {
    "source-controller": frozenset({"GitRepository", "HelmRepository", "HelmChart",
                                    "OCIRepository", "Bucket"}),
    "kustomize-controller": frozenset({"Kustomization"}),
    "helm-controller": frozenset({"HelmRelease"}),
    "notification-controller": frozenset({"Alert", "Provider", "Receiver"}),
    "image-reflector-controller": frozenset({"ImageRepository", "ImagePolicy"}),
    "image-automation-controller": frozenset({"ImageUpdateAutomation"}),
}

_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def lease_name(component: str) -> str:
    """``source-controller`` -> ``sluice-source-controller``."""
    return f"{LEASE_PREFIX}{component}"


def component_of_lease(name: str) -> str | None:
    """The component a heartbeat Lease stands for, or None for any other Lease."""
    if not name.startswith(LEASE_PREFIX):
        return None
    component = name.removeprefix(LEASE_PREFIX)
    return component if component in COMPONENT_KINDS else None


def micro_time(at: datetime | None = None) -> str:
    """A Kubernetes MicroTime (what Lease ``renewTime`` holds)."""
    return (at or datetime.now(UTC)).strftime(_MICRO_TIME)


def lease_remaining(spec: Mapping[str, Any], now: datetime | None = None) -> float:
    """Seconds the Lease still holds (renewTime + leaseDurationSeconds - now); <= 0 expired.

    A Lease with no or an unreadable ``renewTime`` counts as expired: a
    component is running only on positive evidence.
    """
    try:
        renewed = datetime.strptime(str(spec.get("renewTime")), _MICRO_TIME).replace(tzinfo=UTC)
        duration = float(spec.get("leaseDurationSeconds") or 0)
    except (TypeError, ValueError):
        return 0.0
    return duration - ((now or datetime.now(UTC)) - renewed).total_seconds()
