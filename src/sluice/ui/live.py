"""Shared watches on every Flux kind and on Events, fanned out to the open tabs.

The UI never polls. One `Informer` per Flux kind (and one for Events, one for
the controllers' Deployments) keeps a current copy of the cluster; every change
marks the object's key dirty in each subscribed tab. A tab's SSE stream waits
for its dirty set, renders the fragments of what changed and sends them, so a
burst of 1,000 changes costs one render per object per tab, not one per event,
and a slow tab only ever holds one pending mark per object (bounded memory).

Kinds whose CRD is missing (a real cluster without image automation, say) are
left out and listed in `missing_kinds`, never an error.

A Provider may hold its address in a Secret (``spec.secretRef``, keys
``address``, ``proxy``, ``token``, ``password``) rather than in its spec; an
older notification-controller's delivery error can still quote it. The UI
does not watch Secrets (it would hold every Secret of the cluster), so it
reads each Provider's Secret when the Provider is seen: all of them before
`start` returns (the first page already knows them), then again on each change
of the Provider. Every page, fragment and SSE batch waits for the reads in
flight (`secrets_settled`, bounded) before it renders, so an Event quoting the
address cannot overtake the read. A Secret the UI may not read is skipped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sluice.api.kinds import ALL_KINDS
from sluice.api.resource import Resource
from sluice.kube.errors import KubeError
from sluice.kube.objects import Obj, Objects
from sluice.runtime.informer import Informer
from sluice.ui.redact import MIN_SECRET, Redactor, sensitive_values

__all__ = ["EVENTS_KEPT", "Key", "LiveState", "Subscription"]

log = logging.getLogger("sluice.ui.live")

Key = tuple[str, str, str]  # (kind, namespace, name)
EVENTS_KEPT = 500
COMPONENTS_NAMESPACE = "flux-system"
# The keys of a Provider's Secret that are credentials (notification-controller's names).
PROVIDER_SECRET_KEYS = ("address", "proxy", "token", "password")


@dataclass(eq=False)  # identity: each tab is its own subscriber
class Subscription:
    """One tab: the keys changed since it last rendered, and a wake-up."""

    dirty: set[Key] = field(default_factory=set)
    events_changed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self) -> tuple[set[Key], bool]:
        keys, events = self.dirty, self.events_changed
        self.dirty, self.events_changed = set(), False
        self.wake.clear()
        return keys, events


class LiveState:
    """Informers for the UI, started once per process and shared by every tab."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.informers: dict[str, Informer] = {}
        self.kinds: dict[str, type[Resource]] = {}
        self.missing_kinds: list[str] = []
        self.events: deque[Obj] = deque(maxlen=EVENTS_KEPT)
        # Webhook addresses and paths seen on Providers and Receivers: every page is
        # scrubbed of them (see `redact`). Fed before the version bump, so no render
        # can see an object whose secrets are not yet known.
        self.redactor = Redactor()
        self.components: Informer | None = None
        self._subscribers: set[Subscription] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._secret_reads: dict[tuple[str, str], asyncio.Task[None]] = {}
        # Bumped on every change, so views computed from the whole state (all rows, the
        # counts) are computed once per change and shared by every tab.
        self.version = 0

    async def start(self) -> None:
        for cls in ALL_KINDS:
            kind = cls.info.kind
            try:
                mapping = await self.objects.mapping(cls.info.api_version, kind)
            except KubeError:
                self.missing_kinds.append(kind)
                continue
            informer = Informer(self.objects, mapping)
            informer.add_handler(self._on_change(kind))
            self.informers[kind] = informer
            self.kinds[kind] = cls
        events = Informer(self.objects, await self.objects.mapping("v1", "Event"))
        events.add_handler(self._on_event)
        deployments = Informer(self.objects, await self.objects.mapping("apps/v1", "Deployment"),
                               namespace=COMPONENTS_NAMESPACE)
        deployments.add_handler(lambda *_: self._mark_events())
        self.components = deployments
        for name, informer in [*self.informers.items(), ("Event", events),
                               ("Deployment", deployments)]:
            self._tasks.append(asyncio.create_task(informer.run(), name=f"ui-watch-{name}"))
        async with asyncio.timeout(30):
            await asyncio.gather(*(i.wait_synced() for i in
                                   [*self.informers.values(), events, deployments]))
            await asyncio.gather(*list(self._secret_reads.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for read in list(self._secret_reads.values()):
            read.cancel()

    # ------------------------------------------------------------------ fan-out
    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def _on_change(self, kind: str) -> Any:
        def handler(event: str, old: Obj | None, new: Obj) -> None:
            meta = new.get("metadata") or {}
            key = (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            self.redactor.observe(kind, new)
            if kind == "Provider" and event != "DELETED":
                self._read_provider_secret(new)
            self.version += 1
            for sub in self._subscribers:
                sub.dirty.add(key)
                sub.wake.set()
        return handler

    async def secrets_settled(self, limit: float = 2.0) -> None:
        """Wait (up to ``limit`` s) for the Provider Secrets being read: call before a render."""
        if not self._secret_reads:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                await asyncio.gather(*list(self._secret_reads.values()),
                                     return_exceptions=True)

    def _read_provider_secret(self, provider: Obj) -> None:
        name = str(((provider.get("spec") or {}).get("secretRef") or {}).get("name") or "")
        namespace = str((provider.get("metadata") or {}).get("namespace") or "")
        key = (namespace, name)
        if not name or key in self._secret_reads:
            return  # one read at a time per Secret: it reads the latest data anyway
        task = asyncio.create_task(self._remember_secret(namespace, name),
                                   name=f"ui-provider-secret-{namespace}/{name}")
        self._secret_reads[key] = task
        task.add_done_callback(lambda _: self._secret_reads.pop(key, None))

    async def _remember_secret(self, namespace: str, name: str) -> None:
        try:
            mapping = await self.objects.mapping("v1", "Secret")
            secret = await self.objects.get_or_none(mapping, name, namespace)
        except KubeError as exc:  # RBAC on a real cluster: the UI may not read Secrets
            log.debug("ui: cannot read Provider Secret %s/%s: %s", namespace, name, exc)
            return
        values: dict[str, str] = {}
        for key in PROVIDER_SECRET_KEYS:
            raw = ((secret or {}).get("data") or {}).get(key)
            try:
                text = base64.b64decode(str(raw), validate=True).decode() if raw else ""
            except (binascii.Error, UnicodeDecodeError):
                continue
            if text.strip():
                values[key] = text.strip()
        spec = {k: values[k] for k in ("address", "proxy") if k in values}
        found = sensitive_values("Provider", {"spec": spec})
        found += [values[k] for k in ("token", "password")
                  if len(values.get(k, "")) >= MIN_SECRET]
        if found:
            self.redactor.remember(found)
            self.version += 1  # cached renders made before this are stale

    def _on_event(self, event: str, old: Obj | None, new: Obj) -> None:
        if event == "DELETED":
            return
        involved = new.get("involvedObject") or {}
        if involved.get("kind") not in self.kinds:
            return
        self.events.append(new)
        self._mark_events()
        kind = str(involved.get("kind"))
        key = (kind, str(involved.get("namespace") or ""), str(involved.get("name") or ""))
        for sub in self._subscribers:
            sub.dirty.add(key)

    def _mark_events(self) -> None:
        for sub in self._subscribers:
            sub.events_changed = True
            sub.wake.set()

    # ------------------------------------------------------------------ reading
    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        informer = self.informers.get(kind)
        return informer.get(namespace, name) if informer else None

    def of_kind(self, kind: str) -> list[Obj]:
        informer = self.informers.get(kind)
        return informer.list() if informer else []

    def all_objects(self) -> Iterator[tuple[str, Obj]]:
        for kind, informer in self.informers.items():
            for obj in informer.list():
                yield kind, obj

    def events_for(self, kind: str, namespace: str, name: str, limit: int = 30) -> list[Obj]:
        found = [e for e in self.events
                 if (e.get("involvedObject") or {}).get("kind") == kind
                 and (e.get("involvedObject") or {}).get("name") == name
                 and (e.get("involvedObject") or {}).get("namespace") == namespace]
        return list(reversed(found))[:limit]

    def recent_events(self, limit: int = 15) -> list[Obj]:
        return list(reversed(self.events))[:limit]
