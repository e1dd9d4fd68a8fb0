"""Saying so when no controller in the process serves a kind, instead of silence.

Under ``sluice up`` every controller runs in one process, so a Flux object of a
kind none of them serves (a Bucket, say, or a HelmRelease when ``sluice
controllers run --controllers source,kustomize`` was asked for the whole
cluster) would otherwise sit with ``observedGeneration: -1`` forever and
``sluice reconcile`` would wait its full timeout. This watcher gives such
objects ``Ready=Unknown`` with reason `CONTROLLER_NOT_RUNNING` and a message
naming what does run; `sluice reconcile` fails fast on that reason. Kinds
without a status subresource (v1beta3 Alert and Provider) get a Warning Event
instead.

It is only enabled where the process knows it is alone (`ControllerSettings.
mark_unserved`, set by ``sluice up``): in a real cluster another Deployment
may serve the kind, and writing its status would fight that controller. The
condition is written only while no other controller has written a Ready
condition, so a controller started later takes over cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from sluice.api.kinds import ALL_KINDS
from sluice.kube.errors import KubeError
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Obj, Objects
from sluice.runtime.conditions import now
from sluice.runtime.informer import DELETED, Informer

__all__ = ["CONTROLLER_NOT_RUNNING", "unserved_kinds_watcher"]

log = logging.getLogger("sluice.controllers.unserved")

CONTROLLER_NOT_RUNNING = "ControllerNotRunning"


def _message(kind: str, served: Iterable[str]) -> str:
    running = ", ".join(sorted(served)) or "none"
    return (f"no controller for {kind} objects runs in this sluice process "
            f"(it runs controllers for: {running})")


def _ours_or_none(obj: Obj) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("reason") == CONTROLLER_NOT_RUNNING)
    return True


def unserved_kinds_watcher(objects: Objects, served: Iterable[str],
                           recorder: EventRecorder) -> Callable[[], Awaitable[None]]:
    """A runnable marking every object of a kind outside `served`."""
    served = frozenset(served)

    async def run() -> None:
        queue: asyncio.Queue[tuple[str, bool, Obj]] = asyncio.Queue()
        tasks = []
        for cls in ALL_KINDS:
            kind = cls.info.kind
            if kind in served:
                continue
            try:
                mapping = await objects.mapping(cls.info.api_version, kind)
            except KubeError:
                continue
            informer = Informer(objects, mapping)
            has_status = cls.info.has_status

            def handler(event: str, old: Obj | None, new: Obj, kind: str = kind,
                        has_status: bool = has_status) -> None:
                if event != DELETED and (old is None or has_status):
                    queue.put_nowait((kind, has_status, new))

            informer.add_handler(handler)
            tasks.append(asyncio.create_task(informer.run(), name=f"unserved-{kind}"))
        try:
            while True:
                kind, has_status, obj = await queue.get()
                try:
                    await _mark(objects, recorder, kind, has_status, obj, served)
                except KubeError as exc:
                    log.debug("cannot mark %s %s: %s", kind,
                              (obj.get("metadata") or {}).get("name"), exc)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    return run


async def _mark(objects: Objects, recorder: EventRecorder, kind: str, has_status: bool,
                obj: Obj, served: frozenset[str]) -> None:
    meta = obj.get("metadata") or {}
    message = _message(kind, served)
    if not has_status:
        await recorder.warning(obj, CONTROLLER_NOT_RUNNING, message)
        return
    if not _ours_or_none(obj):
        return  # a real controller reports on it
    status = obj.get("status") or {}
    current = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"),
                   None)
    if current is not None and current.get("message") == message:
        return
    mapping = await objects.mapping(str(obj.get("apiVersion")), kind)
    await objects.patch_status(mapping, str(meta.get("name")), {"status": {"conditions": [{
        "type": "Ready", "status": "Unknown", "reason": CONTROLLER_NOT_RUNNING,
        "message": message, "lastTransitionTime": now(),
        "observedGeneration": meta.get("generation") or 0}]}}, str(meta.get("namespace") or ""))
    log.warning("%s %s/%s: %s", kind, meta.get("namespace"), meta.get("name"), message)
