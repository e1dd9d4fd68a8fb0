"""Change events and the watchers that follow them.

Every write produces one event (ADDED, MODIFIED, DELETED) stamped with the
revision of the write. Events stay in a bounded in-memory history so that a
watch can start from any recent ``resourceVersion``; asking for one older
than the history gives ``410 Gone`` (reason Expired), which tells clients to
list again, exactly as they do with a compacted etcd. After a restart the
history starts empty at the stored revision.

A watcher sees the events of one resource, optionally one namespace, passing
its selectors. When a change moves an object into or out of a selector, the
watcher gets ADDED or DELETED, as the API server's watch cache does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sluice.apiserver.errors import Gone

Obj = dict[str, Any]


@dataclass(frozen=True)
class Event:
    type: str  # ADDED, MODIFIED, DELETED
    key: tuple[str, str]
    namespace: str
    obj: Obj
    old: Obj | None
    rv: int


@dataclass(eq=False)
class Watcher:
    key: tuple[str, str]
    namespace: str | None
    match: Callable[[Obj], bool]
    queue: asyncio.Queue[tuple[str, Obj, int] | None] = field(default_factory=asyncio.Queue)
    # Highest revision delivered; events at or below it are duplicates of the replay.
    sent_rv: int = 0
    # A watcher that falls this far behind is ended rather than buffered without bound;
    # its client watches again from the last revision it saw and the history replays it.
    limit: int = 10_000
    overflowed: bool = False

    def offer(self, ev: Event) -> None:
        if ev.key != self.key or ev.rv <= self.sent_rv:
            return
        if self.namespace is not None and ev.namespace != self.namespace:
            return
        now = self.match(ev.obj)
        before = ev.old is not None and self.match(ev.old)
        kind = ev.type
        obj = ev.obj
        if kind == "MODIFIED":
            if now and not before:
                kind = "ADDED"
            elif before and not now and ev.old is not None:
                # Leaving the selector: like the watch cache, send the object as the watcher
                # last matched it, stamped with this event's revision.
                kind = "DELETED"
                obj = {**ev.old, "metadata": {**(ev.old.get("metadata") or {}),
                                              "resourceVersion": str(ev.rv)}}
            elif not now:
                return
        elif not now:
            return
        if self.overflowed:
            return
        if self.queue.qsize() >= self.limit:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.sent_rv = ev.rv
        self.queue.put_nowait((kind, obj, ev.rv))

    def close(self) -> None:
        self.queue.put_nowait(None)


class EventLog:
    """Recent events, and the live watchers they are fanned out to."""

    def __init__(self, start_rv: int, capacity: int = 100_000) -> None:
        self._history: deque[Event] = deque(maxlen=capacity)
        # Any watch from a revision below this one cannot be served from history.
        self._floor = start_rv
        self._watchers: set[Watcher] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def add_listener(self, fn: Callable[[Event], None]) -> None:
        """In-process subscribers (garbage collector, workload simulator) see every event."""
        self._listeners.append(fn)

    def publish(self, ev: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(ev)
        for w in list(self._watchers):
            w.offer(ev)
        for fn in self._listeners:
            fn(ev)

    def subscribe(self, key: tuple[str, str], namespace: str | None,
                  match: Callable[[Obj], bool], since: int | None) -> tuple[Watcher, list[Event]]:
        """Register a watcher and return the history it must replay first (after ``since``)."""
        if since is not None and since < self._floor:
            raise Gone(f"too old resource version: {since} ({self._floor})")
        w = Watcher(key, namespace, match)
        replay = [] if since is None else [e for e in self._history if e.rv > since]
        self._watchers.add(w)
        return w, replay

    def unsubscribe(self, w: Watcher) -> None:
        self._watchers.discard(w)

    def close_all(self) -> None:
        for w in list(self._watchers):
            w.close()
        self._watchers.clear()

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)
