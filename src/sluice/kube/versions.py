"""Ordering resourceVersions, where it can be known.

Kubernetes calls a resourceVersion opaque: a client may only compare two
for equality. Yet etcd's (and the embedded cluster's) are one counter, and
several client-side caches need "is this copy older than that one?" to keep
a stale copy from winning over a newer one (the live state of applied
objects, the newest copies health checks read, the status patcher's own
last write). They all ask here, and all treat a version that is not a
number as "order unknown", each choosing what that means for it.
"""

from __future__ import annotations

__all__ = ["known_older", "number"]


def number(rv: object) -> int | None:
    """``rv`` as the counter it is on etcd and the embedded cluster; None if not a number."""
    text = str(rv or "")
    return int(text) if text.isdigit() else None


def known_older(rv: object, than: object) -> bool:
    """Is ``rv`` known to be older than ``than``? An unknown order answers no."""
    a, b = number(rv), number(than)
    return a is not None and b is not None and a < b
