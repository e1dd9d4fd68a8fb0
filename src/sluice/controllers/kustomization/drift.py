"""Drift correction: put back only the objects that drifted.

When the live-state watches (`sluice.runtime.livestate`) report that some of
a Kustomization's objects changed in the cluster (``kubectl scale``,
``kubectl delete``) and nothing else did (same generation, revision and
build inputs: `nochange.same_inputs`), a full reconcile would re-build the
artifact and dry-run every object to find the one or two that differ: 4.4 s
for 1,000 objects. Flux does exactly that, at its next interval. Sluice
re-applies the drifted objects alone, at once, from the last build:

* `BuildCache` keeps, per Kustomization, the objects its last successful
  build produced (after substitution and ``commonMetadata``), as compressed
  JSON, keyed by the build's inputs digest so a stale build is never used.
  The cache has a byte budget (least recently used builds go first); a
  Kustomization whose build is not there (evicted, or the controller
  restarted) takes the full path, which is always correct. The build may
  hold Secrets, with values substituted from Secrets: it stays in this
  process's memory, like the informers' copies, and is never logged.
* `drifted_objects` picks the drifted objects out of that build; any drifted
  object the build does not hold sends the reconcile down the full path.

The reconciler then applies those objects through the same staged
server-side apply (a dry run and a write each), reports Flux's change-set
event (``Deployment/ns/web configured``), waits for health if ``wait`` or
``healthChecks`` asks for it, and records them in the live state with a
partial commit. Inventory and prune are untouched: the set of objects is
the same.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sluice.kube.objects import Obj
from sluice.kube.ordering import ObjectRef
from sluice.runtime.livestate import Drift

__all__ = ["BuildCache", "drifted_objects", "pack"]

Key = tuple[str, str]  # (namespace, name) of the Kustomization


def pack(objects: Sequence[Obj]) -> bytes:
    """A build's objects as compressed JSON (run it in a worker thread: CPU work)."""
    return zlib.compress(json.dumps(objects, separators=(",", ":")).encode(), 6)


def _unpack(blob: bytes) -> list[Obj]:
    out: Any = json.loads(zlib.decompress(blob))
    return out if isinstance(out, list) else []


class BuildCache:
    """The last build of each Kustomization, compressed, within ``budget`` bytes."""

    def __init__(self, budget: int = 64 << 20) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[Key, tuple[bytes, bytes]] = OrderedDict()  # inputs, blob

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: Key, inputs: bytes, blob: bytes) -> None:
        self.drop(key)
        if len(blob) > self.budget // 4:
            return  # one huge build must not evict everybody else's
        self._entries[key] = (inputs, blob)
        self.size += len(blob)
        while self.size > self.budget and self._entries:
            _, (_, old) = self._entries.popitem(last=False)
            self.size -= len(old)

    def get(self, key: Key, inputs: bytes) -> list[Obj] | None:
        """The objects built from ``inputs``, or None (not kept, or built from others)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != inputs:
            return None
        self._entries.move_to_end(key)
        return _unpack(entry[1])

    def drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= len(entry[1])


def drifted_objects(built: Sequence[Obj], drift: Sequence[Drift]) -> list[Obj] | None:
    """The objects of ``built`` that drifted, in build order; None if one is missing."""
    wanted = {ObjectRef(d.group, d.kind, d.namespace, d.name) for d in drift}
    out = [obj for obj in built if ObjectRef.of(obj) in wanted]
    return out if len(out) == len(wanted) else None
