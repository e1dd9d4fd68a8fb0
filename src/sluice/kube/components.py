"""Reading which of Sluice's components run against a cluster (the writer is the runtime).

`sluice.runtime.heartbeat` keeps one Lease per component a process runs on
the embedded cluster (names in `sluice.core.components`). Commands read them
back here, on the client layer alone, so that ``sluice get`` can warn about
kinds no process serves without importing the runtime (CLI start-up stays
short) and ``check``/``bootstrap`` report only what truly runs.
"""

from __future__ import annotations

from sluice.core.components import (
    HEARTBEAT_LABEL,
    HEARTBEAT_NAMESPACE,
    component_of_lease,
    lease_remaining,
)
from sluice.kube.objects import Objects

__all__ = ["is_embedded", "running_components"]


async def is_embedded(objects: Objects) -> bool:
    """Sluice's own cluster announces itself in its version (``v1.xx.0+sluice``)."""
    try:
        resp = await objects.connection.http.get("/version")
        return str(resp.json().get("gitVersion", "")).endswith("+sluice")
    except (ValueError, AttributeError, OSError):
        return False


async def running_components(objects: Objects) -> set[str]:
    """The components whose Lease was renewed within its duration."""
    mapping = await objects.mapping("coordination.k8s.io/v1", "Lease")
    items, _ = await objects.list(mapping, HEARTBEAT_NAMESPACE, label_selector=HEARTBEAT_LABEL)
    running: set[str] = set()
    for item in items:
        component = component_of_lease(str(item["metadata"]["name"]))
        if component is not None and lease_remaining(item.get("spec") or {}) > 0:
            running.add(component)
    return running
