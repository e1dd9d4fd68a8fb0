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


# What a watcher queues: (type, object, revision, the object's JSON if encoded already).
Item = tuple[str, Obj, int, bytes | None]


@dataclass(eq=False)
class Watcher:
    key: tuple[str, str]
    namespace: str | None
    match: Callable[[Obj], bool]
    queue: asyncio.Queue[Item | None] = field(default_factory=asyncio.Queue)
    # How this watcher's client gets objects (the served version's JSON), and a name
    # for that form shared by the watchers that get the same bytes ("apps/v1/Deployment"):
    # an event is then encoded once for all of them, not once per watcher.
    encode: Callable[[Obj], bytes] | None = None
    form: str = ""
    # Highest revision delivered; events at or below it are duplicates of the replay.
    sent_rv: int = 0
    # A watcher that falls this far behind is ended rather than buffered without bound;
    # its client watches again from the last revision it saw and the history replays it.
    limit: int = 10_000
    overflowed: bool = False

    def offer(self, ev: Event, encoded: dict[str, bytes] | None = None) -> None:
        """Queue ``ev`` if this watcher sees it; ``encoded`` holds the event object's
        encodings by form, shared by the watchers of one publish."""
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
        raw = None
        if self.encode is not None:
            if obj is ev.obj and encoded is not None:
                raw = encoded.get(self.form)
                if raw is None:
                    raw = encoded[self.form] = self.encode(obj)
            else:
                raw = self.encode(obj)
        self.queue.put_nowait((kind, obj, ev.rv, raw))

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

    def publish(self, ev: Event, body: str | None = None) -> None:
        """Record ``ev`` and hand it to the watchers; ``body`` is its object's stored JSON."""
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(ev)
        # The stored text is what watchers of the storage version are sent.
        encoded: dict[str, bytes] = {}
        if body is not None and self._watchers:
            encoded[f"{ev.obj.get('apiVersion')}/{ev.obj.get('kind')}"] = body.encode()
        for w in list(self._watchers):
            w.offer(ev, encoded)
        for fn in self._listeners:
            fn(ev)

    def subscribe(self, key: tuple[str, str], namespace: str | None,
                  match: Callable[[Obj], bool], since: int | None,
                  encode: Callable[[Obj], bytes] | None = None,
                  form: str = "") -> tuple[Watcher, list[Event]]:
        """Register a watcher and return the history it must replay first (after ``since``).

        ``encode`` and ``form``: see :class:`Watcher` (an HTTP watch passes its
        served version's encoder; in-process subscribers pass none).
        """
        if since is not None and since < self._floor:
            raise Gone(f"too old resource version: {since} ({self._floor})")
        w = Watcher(key, namespace, match, encode=encode, form=form)
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
