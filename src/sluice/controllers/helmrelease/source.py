"""The chart to release: the source's artifact, downloaded, verified and read by Helm.

Steps 9 and 11 of helm-controller's reconcile:

* the source is the generated HelmChart (``status.helmChart``) or the
  ``chartRef`` (HelmChart or OCIRepository), read from the informer cache; it
  must have reconciled its latest generation and be Ready with an artifact,
  else ``SourceNotReady`` ``<Kind> '<ns>/<name>' is not ready: <reason>``;
* the artifact is downloaded from ``status.artifact.url`` (retried on
  connection errors and 5xx, not on 404: the source moved on) and checked
  against ``status.artifact.digest`` before Helm reads a byte of it;
* Helm's loader (`HelmRunner.load_chart`) reads it, which validates
  ``Chart.yaml``; name, version and appVersion are kept.

Archives and their metadata are cached by digest (a handful, LRU), so a
reconcile that finds nothing new downloads nothing and calls Helm zero times.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections import OrderedDict
from typing import Any

import httpx

from sluice.api.meta import READY, TRUE
from sluice.runtime.informer import Informer

from .chart_version import with_version
from .errors import ArtifactMissing, ChartLoadError
from .request import LoadedChart
from .runner import HelmRunner

__all__ = ["ChartCache", "SourceNotReady", "source_ready", "verify_digest"]

_ALGORITHMS = ("sha256", "sha384", "sha512")
MAX_CHART_BYTES = 64 << 20


class SourceNotReady(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def source_ready(kind: str, obj: dict[str, Any] | None, namespace: str,
                 name: str) -> dict[str, Any]:
    """The source's artifact, or `SourceNotReady` with Flux's message."""
    where = f"{kind} '{namespace}/{name}' is not ready"
    if obj is None:
        raise SourceNotReady(f"{where}: not found")
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if meta.get("generation") != status.get("observedGeneration"):
        raise SourceNotReady(f"{where}: latest generation of object has not been reconciled")
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == READY), None)
    if ready is None or ready.get("status") != TRUE:
        reason = (ready or {}).get("message") or "latest generation of object has not been " \
                                                  "reconciled"
        raise SourceNotReady(f"{where}: {reason}")
    artifact = status.get("artifact")
    if not isinstance(artifact, dict) or not artifact.get("url"):
        raise SourceNotReady(f"{where}: does not have an artifact")
    return artifact


def lookup(informers: dict[str, Informer], kind: str, namespace: str,
           name: str) -> dict[str, Any] | None:
    informer = informers.get(kind)
    return informer.get(namespace, name) if informer is not None else None


class ChartCache:
    """Downloaded, verified and loaded charts by artifact digest."""

    def __init__(self, runner: HelmRunner, *, retries: int = 9, size: int = 32) -> None:
        self.runner = runner
        self.retries = retries
        self.size = size
        self._charts: OrderedDict[str, LoadedChart] = OrderedDict()
        self._client: httpx.AsyncClient | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, artifact: dict[str, Any]) -> LoadedChart:
        url = str(artifact.get("url") or "")
        digest = str(artifact.get("digest") or "")
        key = digest or url
        cached = self._charts.get(key)
        if cached is not None:
            self._charts.move_to_end(key)
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._charts.get(key)
            if cached is not None:
                return cached
            data = await self._download(url, digest)
            chart = await self._load(data, digest)
            self._charts[key] = chart
            while len(self._charts) > self.size:
                self._charts.popitem(last=False)
        self._locks.pop(key, None)
        return chart

    async def with_version(self, chart: LoadedChart, version: str,
                           oci_digest: str) -> LoadedChart:
        """``chart`` re-packed with ``version`` (OCI digest tracking), loaded and cached."""
        key = f"{chart.digest or chart.name}|{version}"
        cached = self._charts.get(key)
        if cached is None:
            data = await asyncio.to_thread(with_version, chart.data, chart.name, version)
            cached = await self._load(data, chart.digest)
            self._charts[key] = cached
            while len(self._charts) > self.size:
                self._charts.popitem(last=False)
        else:
            self._charts.move_to_end(key)
        return dataclasses.replace(cached, oci_digest=oci_digest)

    async def _download(self, url: str, digest: str) -> bytes:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30.0, follow_redirects=True)
        wait = 0.5
        last = ""
        for attempt in range(self.retries + 1):
            try:
                resp = await self._client.get(url)
            except httpx.HTTPError as exc:
                last = f"failed to download artifact from {url}: {type(exc).__name__}"
            else:
                if resp.status_code == 404:
                    raise ArtifactMissing("Source not ready: artifact not found. Retrying in 30s")
                if resp.status_code < 400:
                    data = resp.content
                    if len(data) > MAX_CHART_BYTES:
                        raise ChartLoadError(f"Could not load chart: artifact from {url} is "
                                             f"larger than {MAX_CHART_BYTES >> 20} MiB")
                    verify_digest(data, digest)
                    return data
                last = f"failed to download artifact from {url}: status {resp.status_code}"
                if resp.status_code < 500:
                    break
            if attempt < self.retries:
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5.0)
        raise ChartLoadError(f"Could not load chart: {last}")

    async def _load(self, data: bytes, digest: str) -> LoadedChart:
        chart = await self.runner.load_chart(data)
        try:
            meta: dict[str, Any] = chart.metadata
            crds = list(chart.crds or [])
        finally:
            chart.close()
        return LoadedChart(str(meta.get("name") or ""), str(meta.get("version") or ""),
                           str(meta.get("appVersion") or ""), digest, data, crds)


def verify_digest(data: bytes, digest: str) -> None:
    """`ChartLoadError` unless ``data`` matches ``digest`` (``<algo>:<hex>``; empty: no check)."""
    if not digest:
        return
    algo, _, expected = digest.partition(":")
    if algo not in _ALGORITHMS:
        raise ChartLoadError(f"Could not load chart: unsupported digest algorithm '{algo}'")
    actual = hashlib.new(algo, data).hexdigest()
    if actual != expected:
        raise ChartLoadError(f"Could not load chart: failed to verify artifact: computed "
                             f"digest doesn't match '{digest}'")
