"""kustomize-controller's flags, as `KustomizationOptions` (Flux's names and defaults).

`sluice controllers run` fills them from the command line; tests shorten the
waits. Kept apart from the reconciler that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sluice.api.kustomize import COMPONENT

__all__ = ["SOURCE_KINDS", "KustomizationOptions"]

# Source kinds a Kustomization can build from (ExternalArtifact is behind a
# feature gate in Flux and has no controller here yet).
SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket")


@dataclass
class KustomizationOptions:
    """kustomize-controller's flags (Flux's names and defaults in comments)."""

    # --concurrent [4]: reconciles in parallel (None: the manager's setting).
    concurrent: int | None = None
    # --concurrent-ssa [4]: applies in parallel within one reconcile.
    concurrent_ssa: int = 4
    # --requeue-dependency [30s]
    requeue_dependency: float = 30.0
    # --http-retry [9]: artifact download retries.
    http_retry: int = 9
    # Health checks poll every 5 s in Flux; the stage waits reuse it.
    health_poll: float = 5.0
    # A step's Reconciling message after the reconcile's first is written only if the
    # step lasts this long (`progress.StatusWriter`; Flux writes each at once).
    progress_delay: float = 1.0
    # Flux never waits less than 30 s (Kustomization.GetTimeout).
    min_timeout: float = 30.0
    # Feature gate StrictPostBuildSubstitutions (on by default).
    strict_substitutions: bool = True
    # --no-cross-namespace-refs
    no_cross_namespace_refs: bool = False
    # --default-service-account: impersonated when spec.serviceAccountName is unset.
    default_service_account: str | None = None
    # --custom-apply-stage-kinds, parsed (group, Kind).
    custom_stage_kinds: frozenset[tuple[str, str]] = frozenset()
    # --override-manager
    override_managers: tuple[str, ...] = ()
    field_manager: str = COMPONENT
    source_kinds: tuple[str, ...] = SOURCE_KINDS
    # Where artifacts are extracted, shared between Kustomizations (a fresh
    # temporary directory by default).
    work_dir: Path | None = None
    # First wait between artifact download attempts (doubling, capped at 5 s).
    artifact_retry_wait: float = 0.5
    # Bytes of compressed builds kept so drift is corrected without a rebuild (`drift`).
    build_cache_bytes: int = 64 << 20
    # Drift corrections let through at once within 30 s before backing off
    # (`sluice.runtime.drift_pacing`: something rewriting a field is not fought in a loop).
    drift_quick_corrections: int = 5
