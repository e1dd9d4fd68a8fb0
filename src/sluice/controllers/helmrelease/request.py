"""What one reconcile of a HelmRelease carries through its steps.

`ReleaseRequest` bundles the typed object (whose status the steps edit in
place), the chart and values resolved by the outer loop, the release's
coordinates, and the controller's collaborators (Helm runner, storage
reader, event recorder, status writer). `AtomicRelease` and the actions take
one and nothing else, as helm-controller's ``reconcile.Request`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sluice.api.helm import API_VERSION, DEFAULT_TIMEOUT, GROUP, HelmRelease
from sluice.core.durations import seconds_or
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Objects
from sluice.runtime.status import StatusPatcher

from .runner import HelmRunner
from .storage import ReleaseStorage

__all__ = ["LoadedChart", "ReleaseRequest"]

REVISION_KEY = f"{GROUP}/revision"
TOKEN_KEY = f"{GROUP}/token"
APP_VERSION_KEY = f"{GROUP}/app-version"


@dataclass
class LoadedChart:
    """The chart to release: archive bytes (Helm loads them per action) and its metadata."""

    name: str
    version: str
    app_version: str
    digest: str
    data: bytes = field(repr=False)
    # Non-CRD files found in crds/ (ignored, as Flux 1.5.5), and the CRDs themselves.
    crds: list[dict[str, Any]] = field(default_factory=list)
    # From an OCIRepository: the artifact's OCI digest (``version`` then carries its
    # first 12 hex digits as build metadata; see `chart_version`).
    oci_digest: str | None = None


@dataclass
class ReleaseRequest:
    raw: dict[str, Any]
    hr: HelmRelease
    chart: LoadedChart
    values: dict[str, Any]
    config_digest: str
    release_name: str
    release_namespace: str
    storage_namespace: str
    runner: HelmRunner
    storage: ReleaseStorage
    recorder: EventRecorder
    patcher: StatusPatcher
    # Impersonated user (spec.serviceAccountName), None for the controller's own.
    user: str | None = None
    # The client acting on the release's objects (CRDs, drift) as that user; None:
    # the controller's own (``storage.objects``).
    kube: Objects | None = None
    # Status as last written, for the merge patch of the next write.
    written: dict[str, Any] = field(default_factory=dict)
    forced: bool = False
    post_renderer_args: list[str] | None = None

    @property
    def acting(self) -> Objects:
        """The client for the release's objects: impersonating, or the controller's."""
        return self.kube if self.kube is not None else self.storage.objects

    @property
    def generation(self) -> int | None:
        return self.hr.metadata.generation

    def timeout(self, action_timeout: str | None = None) -> float:
        return seconds_or(action_timeout or self.hr.spec.timeout, seconds_or(DEFAULT_TIMEOUT, 300.0))

    def event_metadata(self) -> dict[str, str]:
        meta = {REVISION_KEY: self.chart.version, TOKEN_KEY: self.config_digest}
        if self.chart.app_version:
            meta[APP_VERSION_KEY] = self.chart.app_version
        return meta

    async def event(self, warning: bool, reason: str, message: str) -> None:
        if warning:
            await self.recorder.warning(self.raw, reason, message, self.event_metadata())
        else:
            await self.recorder.normal(self.raw, reason, message, self.event_metadata())

    async def write(self) -> None:
        await self.patcher.patch_status(self.hr, self.written)
        self.written = self.hr.status.to_dict()

    @property
    def api_version(self) -> str:
        return API_VERSION
