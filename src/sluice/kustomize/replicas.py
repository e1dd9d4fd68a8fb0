"""The ``replicas:`` field: set ``spec.replicas`` of named workloads.

An entry names the object as the base did (the name before any prefix), and
applies to Deployments, ReplicaSets, ReplicationControllers and StatefulSets.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidKustomization
from .fieldspecs import REPLICAS_SPECS, apply_specs
from .resources import ResMap


def apply_replicas(resources: ResMap, replicas: list[dict[str, Any]], source: str) -> None:
    for entry in replicas:
        if not isinstance(entry, dict) or "name" not in entry:
            raise InvalidKustomization("replicas entries need a name and a count", path=source)
        name = str(entry["name"])
        count = entry.get("count", 0)
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidKustomization(f"replicas[{name}].count must be an integer", path=source)

        def set_count(parent: dict[str, Any], key: str, count: int = count) -> None:
            parent[key] = count

        found = False
        for res in resources:
            if any(rid.name == name for rid in res.all_ids()) and any(
                spec.selects(res) for spec in REPLICAS_SPECS
            ):
                found = True
                apply_specs(res, REPLICAS_SPECS, set_count)
        if not found:
            kinds = " ".join(f"{s.kind}.[noVer].[noGrp]" for s in REPLICAS_SPECS)
            raise InvalidKustomization(
                f"resource with name {name} does not match a config with the following GVK "
                f"[{kinds}]",
                path=source,
            )
