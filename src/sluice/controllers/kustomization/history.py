"""``status.history``: the last reconciliations of a Kustomization, by desired state.

kustomize-controller (Flux 2.7) keeps up to five snapshots, newest first, each
naming a digest of the built manifests, when that state was first and last
reconciled, how long the last run took, how it ended (the Ready reason) and the
source revision. A run that ends the same way on the same digest updates its
snapshot (``totalReconciliations`` counts up) and moves it to the front; anything
else is a new snapshot. UIs (Sluice's included) show it as a reconcile history.

The digest is ``sha256:`` over the canonical JSON of the built objects, not over
kustomize's YAML text as in Flux, so it is stable for Sluice but not byte-equal
to Flux's value for the same manifests. A reconcile Sluice skips because nothing
changed (`nochange`) writes no status, so it does not count here either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sluice.api.meta import HistorySnapshot
from sluice.core.durations import format_seconds
from sluice.runtime.conditions import now

__all__ = ["MAX_HISTORY", "build_digest", "upsert"]

# fluxcd/pkg apis/meta HistoryMaxSize.
MAX_HISTORY = 5


def build_digest(objects: Iterable[Mapping[str, Any]]) -> str:
    """The desired state's checksum, ``sha256:<hex>``."""
    hasher = hashlib.sha256()
    for obj in objects:
        hasher.update(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())
        hasher.update(b"\n")
    return f"sha256:{hasher.hexdigest()}"


def upsert(history: list[HistorySnapshot] | None, digest: str, took: float, status: str,
           metadata: dict[str, str]) -> list[HistorySnapshot]:
    """The history with this run recorded, as fluxcd/pkg's ``History.Upsert``."""
    snapshots = list(history or [])
    stamp, took_text = now(), format_seconds(took)
    for i, snap in enumerate(snapshots):
        if snap.digest == digest and snap.last_reconciled_status == status:
            snap = dataclasses.replace(
                snap, last_reconciled=stamp, last_reconciled_duration=took_text,
                total_reconciliations=snap.total_reconciliations + 1, metadata=metadata)
            return [snap, *snapshots[:i], *snapshots[i + 1:]][:MAX_HISTORY]
    fresh = HistorySnapshot(digest=digest, first_reconciled=stamp, last_reconciled=stamp,
                            last_reconciled_duration=took_text, last_reconciled_status=status,
                            total_reconciliations=1, metadata=metadata)
    return [fresh, *snapshots][:MAX_HISTORY]
