"""The newest copy seen of each object an apply touched: health checks without GETs.

A Kustomization with ``wait: true`` checks the health of everything it just
applied. Reading each object back (kstatus' polling, what Flux does) costs
one GET per object per poll, although the apply has just been handed each
object by the server (its write's answer, or the live object its dry run
compared), and the controller's watches (`sluice.runtime.livestate`) then
see every later change, such as the status a Deployment's controller writes
a moment after. With 1,000 Kustomizations those GETs were a sixth of the
controllers' requests.

`LatestObjects` keeps, per object key (`ObjectRef.key`), the copy with the
highest resourceVersion offered so far (None once a watch reports it
deleted), numbered in arrival order so a waiter can tell news from what it
already judged, and wakes waiters on every offer.
`sluice.kube.health.wait_for_health` judges an object from it when it has
news and falls back to a GET when it has none for a whole poll interval, so
a source that misses an event (no watch yet for that kind, a reconnecting
stream) only costs the old polling, never a wrong verdict: every copy is a
real answer of the server, and the newest one wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sluice.kube.mapping import split_api_version
from sluice.kube.versions import known_older

__all__ = ["Latest", "LatestObjects", "object_key"]

Key = tuple[str, str, str, str]


def object_key(obj: Mapping[str, Any]) -> Key:
    """(group, kind, namespace, name), as `sluice.kube.ordering.ObjectRef.key`."""
    meta = obj.get("metadata") or {}
    group, _ = split_api_version(str(obj.get("apiVersion") or ""))
    return (group, str(obj.get("kind") or ""), str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


@dataclass(frozen=True, slots=True)
class Latest:
    """One object's newest copy (None: deleted) and its arrival number."""

    obj: Mapping[str, Any] | None
    rv: str
    seq: int


class LatestObjects:
    """Newest copies of objects by key, fed by answers and watch events."""

    def __init__(self) -> None:
        self._by_key: dict[Key, Latest] = {}
        self._seq = 0
        self._waiters: list[asyncio.Future[None]] = []
        # Set by whoever feeds watch events in (`LiveState.follow`): is this key's
        # every change on its way here? Only then is a copy that is not healthy yet
        # left to wait for the next event rather than read again at once.
        self.feeder: Callable[[Key], bool] | None = None

    def offer(self, obj: Mapping[str, Any], *, deleted: bool = False) -> None:
        """A copy the server gave (an answer, a watch event); kept if not older."""
        key, rv = object_key(obj), _rv(obj)
        if not key[1] or not key[3]:
            return
        known = self._by_key.get(key)
        if known is not None and ((rv == known.rv and (known.obj is None) == deleted)
                                  or known_older(rv, known.rv)):
            return  # the same copy again (our write's own watch event), or a stale one
        self._seq += 1
        self._by_key[key] = Latest(None if deleted else obj, rv, self._seq)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def get(self, key: Key) -> Latest | None:
        return self._by_key.get(key)

    def fed(self, key: Key) -> bool:
        """Does a watch currently bring every change of ``key`` here?"""
        return self.feeder is not None and self.feeder(key)

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 - a poll interval
        """Return at the next offer, or after ``timeout`` seconds."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, max(timeout, 0.0))
        except TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def __len__(self) -> int:
        return len(self._by_key)
