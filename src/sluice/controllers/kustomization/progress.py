"""What one Kustomization reconcile carries from step to step, and how a step stops it.

The reconciler (`reconciler`) runs Flux's steps in order; each reads and
updates one `ReconcileState` (the object, its status as last written, the
source revision, the build) and stops the reconcile by raising `StepFailed`
once it has set the Ready condition that says why. Durations are read and
printed the way Flux does (``10m``, ``1h0m0s``), falling back to a default
when a field is unset or unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sluice.api.kustomize import Kustomization
from sluice.kube.objects import Obj

__all__ = ["ReconcileState", "StepFailed"]


class StepFailed(Exception):
    """A failed step; the conditions already say why."""

    def __init__(self, reason: str, message: str, *, event: bool = True,
                 requeue: float | None = None, outcome: str = "error") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.event = event
        self.requeue = requeue
        # "dependency": a wait on something else (a source with no artifact yet), which
        # kustomize-controller logs at info level, not a failure of this object.
        self.outcome = outcome


@dataclass
class ReconcileState:
    raw: Obj
    obj: Kustomization
    written: dict[str, Any] = field(default_factory=dict)
    revision: str = ""
    origin_revision: str = ""
    built: bytes = b""  # the build's objects, packed (`drift.pack`)

    @property
    def status(self) -> Any:
        return self.obj.status

    @property
    def generation(self) -> int | None:
        return self.obj.metadata.generation
