"""The ImageRepository reconciler: list a registry's tags, keep them, summarise them in status.

Flux's steps, in order:

1. deleted -> drop the stored tags, remove the finalizer; add the
   finalizer first otherwise; ``spec.suspend`` stops here (a pending
   ``requestedAt`` is still acknowledged);
2. ``Reconciling`` ``reconciliation in progress`` (``processing object: new
   generation <a> -> <b>`` written at once for a new generation);
3. parse ``spec.image`` (Stalled ``ImageURLInvalid`` on a scheme or tag);
4. auth options from the Secrets (``AuthenticationFailed`` ``failed to
   configure authentication options: ...``);
5. scan only when Flux would (`scan_reason`): never scanned, a new
   ``requestedAt``, a new canonical name, another exclusion list (as a set),
   no tags on disk, the interval elapsed, or (not in Flux) the last scan
   failed, so a retry scans again instead of reporting the old result as
   current; otherwise the next scan is due
   at ``lastScanResult.scanTime + interval``;
6. scan within ``spec.timeout`` (the interval when unset): every page of
   tags, exclusions dropped, sorted, stored (`tagstore`), ``lastScanResult``
   set (`scanning`); a failure is ``ReadOperationFailed`` ``scan failed:
   ...`` and keeps the previous result and tags;
7. ``canonicalImageName``, ``observedExclusionList``, Ready
   ``successful scan: found <N> tags with checksum <revision>``, the event
   (`outcome`), requeue when the next scan is due.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sluice.api.image import READ_OPERATION_FAILED, ImageRepository, ScanResult
from sluice.api.meta import PROGRESSING
from sluice.controllers.image_reflector.auth import client_options
from sluice.controllers.image_reflector.errors import (
    AuthOptionsFailed,
    ImageURLInvalid,
    ReflectorError,
    ScanFailed,
)
from sluice.controllers.image_reflector.outcome import finish, notify
from sluice.controllers.image_reflector.scanning import compile_exclusions, summarise
from sluice.controllers.image_reflector.tagstore import TagStore
from sluice.core.deadlines import call_deadline
from sluice.core.durations import SECOND, format_duration, seconds_or
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Objects
from sluice.oci.client import ClientOptions, RegistryClient
from sluice.oci.errors import InvalidReference, OCIError
from sluice.oci.names import Repository, parse_image
from sluice.runtime import conditions
from sluice.runtime.informer import Informer
from sluice.runtime.reconciler import Request, Result, TerminalError
from sluice.runtime.status import (
    StatusPatcher,
    has_finalizer,
    is_deleting,
    is_suspended,
    record_reconcile_request,
    requested_at,
)

__all__ = ["KIND", "ImageRepositoryReconciler", "scan_reason"]

log = logging.getLogger("sluice.controllers.image_reflector.repository")

KIND = "ImageRepository"

NEVER_SCANNED = "first scan"
RECONCILE_REQUESTED = "reconcile requested"
NEW_IMAGE_NAME = "new image name"
UPDATED_EXCLUSION_LIST = "updated exclusion list"
EMPTY_DATABASE = "no tags in database"
INTERVAL = "triggered by interval"
# Not in Flux: after a failed scan Flux's retry finds nothing due (the last result
# is kept, the interval has not elapsed) and turns Ready back to True while the
# registry is still failing. Sluice retries the scan itself.
RETRY_FAILED = "previous scan failed"


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Due:
    scan: bool
    reason: str
    # Seconds until the next scan (the interval after a scan).
    next_in: float


def scan_reason(obj: ImageRepository, canonical: str, stored: int, now: float) -> _Due:
    """Whether to scan now and why (Flux's ``shouldScan``), or when the next scan is due."""
    interval = seconds_or(obj.spec.interval, 300.0)
    last = obj.status.last_scan_result
    if last is None:
        return _Due(True, NEVER_SCANNED, interval)
    requested = requested_at(obj)
    if requested is not None and requested != obj.status.last_handled_reconcile_at:
        return _Due(True, RECONCILE_REQUESTED, interval)
    if canonical != obj.status.canonical_image_name:
        return _Due(True, NEW_IMAGE_NAME, interval)
    if set(obj.exclusion_list()) != set(obj.status.observed_exclusion_list or []) or \
            len(obj.exclusion_list()) != len(obj.status.observed_exclusion_list or []):
        return _Due(True, UPDATED_EXCLUSION_LIST, interval)
    if stored == 0:
        return _Due(True, EMPTY_DATABASE, interval)
    ready = obj.status.condition("Ready")
    if ready is not None and ready.status == "False" and ready.reason == READ_OPERATION_FAILED:
        return _Due(True, RETRY_FAILED, interval)
    scanned = _parse_time(last.scan_time)
    when = interval - (now - scanned) if scanned is not None else 0.0
    if when < 1.0:
        return _Due(True, INTERVAL, interval)
    return _Due(False, "", when)


class ImageRepositoryReconciler:
    def __init__(self, informer: Informer, objects: Objects, store: TagStore,
                 recorder: EventRecorder, patcher: StatusPatcher) -> None:
        self.informer = informer
        self.objects = objects
        self.store = store
        self.recorder = recorder
        self.patcher = patcher

    async def reconcile(self, request: Request) -> Result:
        raw = self.informer.get(request.namespace, request.name)
        if raw is None:
            return Result()
        obj = ImageRepository.from_dict(raw)
        if is_deleting(obj):
            await asyncio.to_thread(self.store.delete, obj.namespace, obj.name)
            if has_finalizer(obj):
                try:
                    await self.patcher.remove_finalizer(obj)
                except KubeError as exc:
                    if not is_not_found(exc):
                        raise
            return Result()
        if not has_finalizer(obj):
            await self.patcher.add_finalizer(obj)
        before = obj.status.to_dict()
        if is_suspended(obj):
            record_reconcile_request(obj)
            await self.patcher.patch_status(obj, before)
            log.info("%s %s: reconciliation is suspended for this object", KIND, request)
            return Result(outcome="suspended")

        written = before
        gen = obj.metadata.generation
        status = obj.status

        async def write() -> None:
            nonlocal written
            await self.patcher.patch_status(obj, written)
            written = status.to_dict()

        failure: ReflectorError | None = None
        trace = ""
        when = seconds_or(obj.spec.interval, 300.0)
        try:
            conditions.mark_progressing(status, PROGRESSING, "reconciliation in progress", gen)
            if gen != status.observed_generation:
                conditions.mark_progressing(
                    status, PROGRESSING,
                    f"processing object: new generation {status.observed_generation} -> {gen}",
                    gen)
                await write()
            elif requested_at(obj) != status.last_handled_reconcile_at:
                await write()
            registry = self._parse(obj)
            conditions.delete(status, "Stalled")
            timeout = seconds_or(obj.spec.timeout, when)
            try:
                opts = await client_options(self.objects, obj, registry, timeout)
            except AuthOptionsFailed as exc:
                raise AuthOptionsFailed(
                    f"failed to configure authentication options: {exc}") from None
            stored = await asyncio.to_thread(self.store.read, obj.namespace, obj.name)
            due = scan_reason(obj, str(registry), len(stored), time.time())
            when = due.next_in
            if due.scan:
                conditions.mark_progressing(status, PROGRESSING, f"scanning: {due.reason}", gen,
                                            overwrite_ready=due.reason == EMPTY_DATABASE)
                await write()
                old_revision = (status.last_scan_result.revision
                                if status.last_scan_result else None)
                await self._scan(obj, registry, opts)
                trace = f"next scan in {format_duration(int(when * SECOND))}"
                new = status.last_scan_result
                if old_revision is not None and new is not None and new.revision == old_revision:
                    trace = "tags did not change, " + trace
                else:
                    trace = "successful scan, " + trace
            else:
                trace = ("no change in repository configuration since last scan, next scan "
                         f"in {format_duration(int(when * SECOND))}")
            status.canonical_image_name = str(registry)
            status.observed_exclusion_list = obj.exclusion_list()
        except ReflectorError as exc:
            failure = exc
        last = status.last_scan_result
        message = (f"successful scan: found {last.tag_count if last else 0} tags with checksum "
                   f"{(last.revision if last else '') or ''}")
        finish(status, gen, failure, message)
        record_reconcile_request(obj)
        await write()
        await notify(self.recorder, log, obj.to_dict(), before, status, trace)
        if failure is not None:
            if failure.stalls:
                raise TerminalError(failure.message)
            raise failure
        return Result(requeue_after=max(when, 1.0))

    @staticmethod
    def _parse(obj: ImageRepository) -> Repository:
        try:
            return parse_image(obj.spec.image, insecure=bool(obj.spec.insecure))
        except InvalidReference as exc:
            raise ImageURLInvalid(str(exc)) from None

    async def _scan(self, obj: ImageRepository, registry: Repository,
                    opts: ClientOptions) -> None:
        # The whole scan (every page) must finish within spec.timeout
        # (`sluice.core.deadlines`).
        try:
            exclusions = compile_exclusions(obj.exclusion_list())
        except ValueError as exc:
            raise ScanFailed(f"scan failed: {exc}") from None
        try:
            async with call_deadline(opts.timeout), RegistryClient(registry, opts) as client:
                tags = await client.list_tags()
        except TimeoutError:
            raise ScanFailed(f"scan failed: GET {registry.api_host}/v2/{registry.path}/tags/list:"
                             " context deadline exceeded") from None
        except OCIError as exc:
            raise ScanFailed(f"scan failed: {exc}") from None
        scan = await asyncio.to_thread(summarise, tags, exclusions)
        try:
            await asyncio.to_thread(self.store.write, obj.namespace, obj.name, scan.tags)
        except OSError as exc:
            raise ScanFailed(f"scan failed: failed to set tags for \"{registry}\": "
                             f"{exc.strerror or exc}") from None
        obj.status.last_scan_result = ScanResult(revision=scan.revision,
                                                 tag_count=len(scan.tags),
                                                 scan_time=_rfc3339(time.time()),
                                                 latest_tags=scan.latest_tags)
