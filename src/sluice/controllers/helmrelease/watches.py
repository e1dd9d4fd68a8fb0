"""What besides a HelmRelease's own changes makes it reconcile now.

helm-controller watches the chart sources: when a HelmChart (or
OCIRepository) publishes an artifact with a new revision or digest, every
HelmRelease taking its chart from it is enqueued (indexed by `SOURCE_INDEX`
so this is a lookup). HelmReleases that ``dependsOn`` one that just became
Ready are enqueued too (`DEPENDS_INDEX`), so an ordered fleet converges
without waiting out ``--requeue-dependency``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sluice.api.meta import READY
from sluice.kube.objects import Obj
from sluice.runtime.informer import MODIFIED, Informer
from sluice.runtime.reconciler import Request

__all__ = ["DEPENDS_INDEX", "SOURCE_INDEX", "requests_for_dependents", "requests_for_source",
           "source_keys"]

SOURCE_INDEX = "chartSource"
DEPENDS_INDEX = "dependsOn"

MapFunc = Callable[[str, Obj | None, Obj], list[Request]]


def source_keys(obj: Obj) -> Iterable[str]:
    """Index values: ``Kind/ns/name`` of the object the HelmRelease's chart comes from."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ns = str(meta.get("namespace") or "")
    ref = spec.get("chartRef")
    if isinstance(ref, dict) and ref.get("name"):
        yield f"{ref.get('kind')}/{ref.get('namespace') or ns}/{ref['name']}"
        return
    source = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
    yield f"HelmChart/{source.get('namespace') or ns}/{ns}-{meta.get('name') or ''}"


def _artifact(obj: Obj | None) -> dict[str, Any] | None:
    art = ((obj or {}).get("status") or {}).get("artifact")
    return art if isinstance(art, dict) else None


def _ready(obj: Obj | None) -> bool:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == READY:
            return cond.get("status") == "True"
    return False


def _request(obj: Obj) -> Request:
    meta = obj.get("metadata") or {}
    return Request(str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def requests_for_source(releases: Informer, kind: str) -> MapFunc:
    def map_fn(etype: str, old: Obj | None, new: Obj) -> list[Request]:
        art, before = _artifact(new), _artifact(old)
        if art is None:
            return []
        if etype == MODIFIED and before is not None and before.get("revision") == art.get(
                "revision") and before.get("digest") == art.get("digest") and _ready(old) == \
                _ready(new):
            return []
        meta = new.get("metadata") or {}
        key = f"{kind}/{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        return [_request(hr) for hr in releases.by_index(SOURCE_INDEX, key)]

    return map_fn


def requests_for_dependents(releases: Informer) -> MapFunc:
    def map_fn(etype: str, old: Obj | None, new: Obj) -> list[Request]:
        if etype != MODIFIED or not _ready(new) or _ready(old):
            return []
        meta = new.get("metadata") or {}
        key = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        return [_request(hr) for hr in releases.by_index(DEPENDS_INDEX, key)]

    return map_fn
