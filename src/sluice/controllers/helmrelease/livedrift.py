"""HelmRelease drift from watches: noticed the moment it happens, no dry run while none.

helm-controller finds drift (``spec.driftDetection.mode: enabled|warn``) by
dry-running the release's manifest at every reconcile (`drift.detect_drift`),
so a ``kubectl scale`` waits for the next interval and every interval costs a
dry run per object. `ReleaseLiveState` puts the same live-state watches the
Kustomization controller uses (`sluice.runtime.livestate`, Helm's field
managers: `helm_managers`; objects labelled ``helm.toolkit.fluxcd.io/name``)
in front of it:

* after a detection that found no drift, the release's objects (those
  detection checks: hooks and ``driftDetection: disabled`` ones excluded) are
  recorded, as read *before* the dry run, so a change racing the check is
  seen at commit and not taken for the baseline;
* an object changed or deleted afterwards enqueues its HelmRelease at once
  (paced by `sluice.runtime.drift_pacing`), and detection then runs the dry
  run as before and reports or corrects as Flux does;
* while the records are of the release's current revision and nothing
  changed, detection answers "no drift" without a request.

Correctness first: an object Helm did not write with server-side apply
(``serverSideApply: false``: an Update entry, whose ownership cannot be read) or that cannot be read leaves the release unrecorded, so
every reconcile dry-runs as before; so does a controller restart (records
are in memory) and any failed or drifted detection. A field that an
``ignore`` rule excludes still counts as a change here: it costs one dry run
(which finds no drift), never a missed one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx2

from sluice.api.meta import HELM_NAME_LABEL
from sluice.kube.diff import DiffReport
from sluice.kube.errors import KubeError
from sluice.kube.inventory import any_in_metadata
from sluice.kube.objects import Objects
from sluice.kube.ordering import ObjectRef
from sluice.runtime.drift_pacing import DriftPacer
from sluice.runtime.informer import Informer
from sluice.runtime.livestate import LiveState, Observer
from sluice.runtime.reconciler import Request
from sluice.runtime.workqueue import WorkQueue

from .drift import DRIFT_ANNOTATION, HELM_FIELD_MANAGER, DriftReport, detect_drift, manifest_objects
from .request import ReleaseRequest
from .storage import StoredRelease

__all__ = ["ReleaseLiveState", "owner_key"]

log = logging.getLogger("sluice.controllers.helmrelease")

_PREFIX = "HelmRelease/"


def owner_key(namespace: str, name: str) -> str:
    """The `LiveState` owner name of a HelmRelease."""
    return f"{_PREFIX}{namespace}/{name}"


def helm_managers() -> tuple[str, ...]:
    """The field managers Helm's writes carry in this process.

    Helm's SDK, with no manager set, names itself after the executable
    (``filepath.Base(os.Args[0])``: ``python`` here); drift correction
    applies as ``helm`` (`drift`).
    """
    argv0 = sys.orig_argv[0] if sys.orig_argv else ""
    return tuple(sorted({HELM_FIELD_MANAGER, os.path.basename(argv0) or "unknown"}))


def _applied_by(obj: Mapping[str, Any], managers: tuple[str, ...]) -> bool:
    """Does ``obj`` carry an ``Apply`` entry of one of ``managers``?"""
    return any(isinstance(e, dict) and e.get("manager") in managers
               and e.get("operation") == "Apply" and not e.get("subresource")
               for e in (obj.get("metadata") or {}).get("managedFields") or [])


class ReleaseLiveState:
    """Watches released objects for drift detection; see the module docs."""

    def __init__(self, objects: Objects, *, concurrency: int = 8, quick_corrections: int = 5
                 ) -> None:
        self.managers = helm_managers()
        self.live = LiveState(objects, self.managers, selector=HELM_NAME_LABEL)
        self.concurrency = concurrency
        self.pacer = DriftPacer(free=quick_corrections)
        self._recorded: dict[str, int] = {}  # owner -> release version recorded
        self._tasks: set[asyncio.Task[None]] = set()
        # Detections answered from the watches, without a dry run (tests, logs).
        self.skipped = 0

    def enqueue_on_drift(self, queue: WorkQueue[Request], informer: Informer) -> None:
        """Drift enqueues its HelmRelease on ``queue``; a HelmRelease gone is forgotten."""

        def drifted(owner: str) -> None:
            if not owner.startswith(_PREFIX):
                return
            namespace, _, name = owner[len(_PREFIX):].partition("/")
            if informer.get(namespace, name) is None:
                task = asyncio.get_running_loop().create_task(self.forget(namespace, name))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
            delay = self.pacer.delay(owner, time.monotonic())
            if delay:
                queue.add_after(Request(namespace, name), delay)
            else:
                queue.add(Request(namespace, name))

        self.live.on_drift = drifted

    async def detect(self, req: ReleaseRequest,
                     current: StoredRelease | None) -> DriftReport | None:
        """`drift.detect_drift`, skipped while the watches show nothing changed."""
        hr = req.hr
        if current is None:
            return await detect_drift(req, current)
        owner = owner_key(hr.namespace or "", hr.name or "")
        if self._recorded.get(owner) == current.version and self.live.is_clean(owner):
            self.skipped += 1
            log.debug("HelmRelease %s/%s: no live change since the last drift check",
                      hr.namespace, hr.name)
            return DriftReport(DiffReport())
        self._recorded.pop(owner, None)
        observe = self.live.begin(owner)
        try:
            refs = await self._read(req, current, observe)
            report = await detect_drift(req, current)
        except BaseException:
            self.live.abort(owner)
            raise
        if refs is None or report is None or report.changed:
            self.live.abort(owner)
            return report
        await self.live.commit(owner, refs)
        self._recorded[owner] = current.version
        return report

    async def _read(self, req: ReleaseRequest, current: StoredRelease,
                    observe: Observer) -> list[ObjectRef] | None:
        """Read the objects detection checks; None if one cannot be tracked."""
        wanted = [o for o in manifest_objects(current.manifest, req.release_namespace)
                  if not any_in_metadata(o, DRIFT_ANNOTATION, "disabled")]
        client = req.acting
        gate = asyncio.Semaphore(self.concurrency)

        async def read(obj: dict[str, Any]) -> ObjectRef | None:
            meta = obj.get("metadata") or {}
            async with gate:
                mapping = await client.mapping(str(obj.get("apiVersion") or ""),
                                               str(obj.get("kind") or ""))
                live = await client.get_or_none(
                    mapping, str(meta.get("name") or ""),
                    str(meta.get("namespace") or "") if mapping.namespaced else None)
            if live is None or not _applied_by(live, self.managers):
                return None
            live.setdefault("apiVersion", obj.get("apiVersion"))
            live.setdefault("kind", obj.get("kind"))
            observe(live)
            return ObjectRef.of(live)

        try:
            refs = await asyncio.gather(*(read(o) for o in wanted))
        except (KubeError, httpx2.HTTPError) as exc:
            log.info("HelmRelease %s/%s: objects not tracked for drift: %s",
                     req.hr.namespace, req.hr.name, exc)
            return None
        if not refs or any(r is None for r in refs):
            return None
        return [r for r in refs if r is not None]

    async def forget(self, namespace: str, name: str) -> None:
        owner = owner_key(namespace, name)
        self._recorded.pop(owner, None)
        await self.live.forget(owner)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.live.close()
