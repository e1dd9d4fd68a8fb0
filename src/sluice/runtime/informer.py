"""Informers: a local, always-current copy of one kind's objects, with change events.

Controllers never poll the API for the objects they reconcile. An informer
lists them once, then follows a watch from the list's resourceVersion,
keeping a cache that reconcilers read and calling handlers (which enqueue
work) on every change. It behaves like client-go's reflector + indexer:

* the watch is re-opened from the last seen resourceVersion when the server
  ends it or the connection drops (bookmarks keep that version fresh), with
  a capped exponential delay between failed attempts;
* ``410 Gone`` (the version fell out of the server's history, e.g. after an
  API server restart) triggers a fresh list; the cache is then diffed
  against the list, so objects deleted while we were not watching produce
  DELETED events and nothing is missed;
* one informer per kind (and namespace/selector) is shared by every
  controller of the process (`sluice.runtime.manager`);
* named indexes answer "which objects refer to X" in O(1), e.g. the
  Kustomizations whose ``sourceRef`` is a given GitRepository.

Handlers run synchronously on the event loop and must only record work
(enqueue keys); cached objects are shared and must not be mutated.

``strip_managed_fields`` drops ``metadata.managedFields`` from what is kept
(controller-runtime's ``TransformStripManagedFields``, which controllers
built on it commonly set): reconcilers never read field ownership from their
cache, and it was 45% of a Kustomization's cached copy (15.5 -> 8.5 KiB each
with 1,000 of them). The controllers' shared informers (`sluice.runtime.manager`)
strip; an informer whose users show whole objects keeps them.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Iterable
from typing import Any

import httpx2

from sluice.kube.errors import KubeError, is_gone
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects

__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "EventHandler",
    "IndexFunc",
    "Informer",
    "namespaced_name",
    "object_key",
]

log = logging.getLogger("sluice.runtime.informer")

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

Key = tuple[str, str]
# (event type, previous object or None, current object; the last state for DELETED)
EventHandler = Callable[[str, Obj | None, Obj], None]
IndexFunc = Callable[[Obj], Iterable[str]]

_MIN_RETRY = 0.1
_MAX_RETRY = 10.0


def object_key(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    """List + watch cache of one resource, with indexes and handlers."""

    def __init__(self, objects: Objects, mapping: ResourceMapping, *,
                 namespace: str | None = None, label_selector: str | None = None,
                 watch_timeout: int = 300, strip_managed_fields: bool = False) -> None:
        self.objects = objects
        self.strip_managed_fields = strip_managed_fields
        self.mapping = mapping
        self.namespace = namespace
        self.label_selector = label_selector
        self.watch_timeout = watch_timeout
        self._cache: dict[Key, Obj] = {}
        self._handlers: list[EventHandler] = []
        self._index_funcs: dict[str, IndexFunc] = {}
        self._index: dict[str, dict[str, set[Key]]] = {}
        self._indexed: dict[str, dict[Key, tuple[str, ...]]] = {}
        self._synced = asyncio.Event()
        self.resource_version = ""
        # How many times the informer listed (1 + relists); watch re-opens.
        self.list_count = 0
        self.watch_count = 0

    @property
    def name(self) -> str:
        return f"{self.mapping.plural}.{self.mapping.group}" if self.mapping.group \
            else self.mapping.plural

    # ------------------------------------------------------------ subscribers
    def add_handler(self, handler: EventHandler) -> None:
        """Call ``handler`` on every change; replays ADDED for objects already cached."""
        self._handlers.append(handler)
        for obj in list(self._cache.values()):
            self._call(handler, ADDED, None, obj)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Maintain index ``name``: each object is filed under the values ``fn`` returns."""
        if name in self._index_funcs:
            return
        self._index_funcs[name] = fn
        self._index[name] = {}
        self._indexed[name] = {}
        for key, obj in self._cache.items():
            self._index_one(name, key, obj)

    # ---------------------------------------------------------------- reading
    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._cache.get((namespace, name))

    def list(self, namespace: str | None = None) -> builtins.list[Obj]:
        return [o for (ns, _), o in self._cache.items() if namespace is None or ns == namespace]

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        keys = self._index.get(index, {}).get(value, set())
        return [self._cache[k] for k in sorted(keys) if k in self._cache]

    def __len__(self) -> int:
        return len(self._cache)

    # ---------------------------------------------------------------- running
    async def run(self) -> None:
        """List and watch until cancelled."""
        delay = _MIN_RETRY
        while True:
            try:
                await self._list()
                delay = _MIN_RETRY
                await self._watch_until_gone()
                log.info("%s: resourceVersion %s expired, listing again", self.name,
                         self.resource_version)
            except asyncio.CancelledError:
                raise
            except (KubeError, httpx2.HTTPError, ValueError) as exc:
                log.warning("%s: list failed (%s), retrying in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY)

    async def _list(self) -> None:
        items, rv = await self.objects.list(self.mapping, self.namespace,
                                            label_selector=self.label_selector)
        self.list_count += 1
        self.resource_version = rv
        self._replace(items)
        self._synced.set()

    async def _watch_until_gone(self) -> None:
        """Follow the watch, reconnecting, until the server answers 410 Gone."""
        delay = _MIN_RETRY
        while True:
            started = asyncio.get_running_loop().time()
            try:
                self.watch_count += 1
                async for etype, obj in self.objects.watch(
                        self.mapping, self.namespace, resource_version=self.resource_version,
                        label_selector=self.label_selector, timeout_seconds=self.watch_timeout):
                    delay = _MIN_RETRY
                    rv = _rv(obj)
                    if rv:
                        self.resource_version = rv
                    if etype == "BOOKMARK":
                        continue
                    self._apply(etype, obj)
            except asyncio.CancelledError:
                raise
            except KubeError as exc:
                if is_gone(exc):
                    return
                log.warning("%s: watch failed (%s), retrying in %.1fs", self.name, exc, delay)
            except (httpx2.HTTPError, ValueError) as exc:
                log.info("%s: watch interrupted (%s), reconnecting in %.1fs", self.name,
                         type(exc).__name__, delay)
            else:
                # The server closed the stream (timeoutSeconds): re-open at
                # once, unless it keeps closing right away (shutting down).
                if asyncio.get_running_loop().time() - started > 1.0:
                    continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY)

    # ---------------------------------------------------------- cache updates
    def _replace(self, items: builtins.list[Obj]) -> None:
        fresh = {object_key(o): o for o in items}
        for key in [k for k in self._cache if k not in fresh]:
            gone = self._cache.pop(key)
            self._unindex(key)
            self._emit(DELETED, gone, gone)
        for key, obj in fresh.items():
            old = self._cache.get(key)
            if old is not None and _rv(old) == _rv(obj):
                continue
            self._store(key, obj)
            self._emit(ADDED if old is None else MODIFIED, old, obj)

    def _apply(self, etype: str, obj: Obj) -> None:
        key = object_key(obj)
        old = self._cache.get(key)
        if etype == DELETED:
            if old is not None:
                self._cache.pop(key)
                self._unindex(key)
            self._emit(DELETED, old, obj)
            return
        self._store(key, obj)
        self._emit(ADDED if old is None else MODIFIED, old, obj)

    def _store(self, key: Key, obj: Obj) -> None:
        if self.strip_managed_fields:
            meta = obj.get("metadata")
            if isinstance(meta, dict):
                meta.pop("managedFields", None)
        self._cache[key] = obj
        for name in self._index_funcs:
            self._index_one(name, key, obj)

    def _index_one(self, name: str, key: Key, obj: Obj) -> None:
        try:
            values = tuple(sorted(set(self._index_funcs[name](obj))))
        except Exception:  # a malformed object must not break the informer
            log.exception("%s: index %s failed for %s/%s", self.name, name, *key)
            values = ()
        old = self._indexed[name].get(key, ())
        if old == values:
            return
        table = self._index[name]
        for v in old:
            bucket = table.get(v)
            if bucket is not None:
                bucket.discard(key)
                if not bucket:
                    del table[v]
        for v in values:
            table.setdefault(v, set()).add(key)
        self._indexed[name][key] = values

    def _unindex(self, key: Key) -> None:
        for name in self._index_funcs:
            for v in self._indexed[name].pop(key, ()):
                bucket = self._index[name].get(v)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del self._index[name][v]

    def _emit(self, etype: str, old: Obj | None, new: Obj) -> None:
        for handler in list(self._handlers):
            self._call(handler, etype, old, new)

    def _call(self, handler: EventHandler, etype: str, old: Obj | None, new: Obj) -> None:
        try:
            handler(etype, old, new)
        except Exception:
            log.exception("%s: event handler failed", self.name)


def namespaced_name(obj: Any) -> str:
    """``namespace/name`` of an object dict, the usual index value."""
    ns, name = object_key(obj)
    return f"{ns}/{name}"
