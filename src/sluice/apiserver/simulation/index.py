"""In-memory indexes the simulated controllers query instead of listing storage.

A ReplicaSet needs its pods, a Service the pods its selector matches; listing
every pod of the cluster for each would make a thousand Deployments cost a
million comparisons per pass. The simulator keeps these indexes up to date
from the cluster's event listener (each event touches a few set entries) and
rebuilds them from storage when it starts:

- controlled objects by controller uid (the ``controller: true`` ownerReference),
- pods by namespace and by each of their labels,
- Services with a selector, by namespace and by one anchor label of the selector,
- ReplicaSets and pods without a controller, which a controller whose selector
  matches them adopts (as after ``kubectl delete --cascade=orphan`` and a re-apply).
"""

from __future__ import annotations

from typing import Any

from sluice.apiserver.simulation.shapes import controller_ref, labels_of, meta
from sluice.apiserver.store.storage import Storage
from sluice.apiserver.store.watch import Event

Obj = dict[str, Any]
StorageKey = tuple[str, str]
Ref = tuple[StorageKey, str, str]  # storage key, namespace, name

PODS: StorageKey = ("", "pods")
SERVICES: StorageKey = ("", "services")
ADOPTABLE = {PODS, ("apps", "replicasets")}


def _selector(svc: Obj) -> dict[str, str]:
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return {}
    sel = spec.get("selector")
    if not isinstance(sel, dict):
        return {}
    return {str(k): str(v) for k, v in sel.items()}


class Index:
    """What controllers look up by owner, label or selector."""

    def __init__(self) -> None:
        self._controlled: dict[str, set[Ref]] = {}
        self._pods_by_label: dict[tuple[str, str, str], set[str]] = {}
        self._svc_selector: dict[tuple[str, str], dict[str, str]] = {}
        self._svc_by_anchor: dict[tuple[str, str, str], set[str]] = {}
        self._orphans: dict[tuple[StorageKey, str], set[str]] = {}

    def rebuild(self, storage: Storage) -> None:
        for index in (self._controlled, self._pods_by_label, self._svc_selector,
                      self._svc_by_anchor, self._orphans):
            index.clear()
        for key in storage.keys():
            for obj in storage.list(key):
                self._add(key, obj)

    def observe(self, ev: Event) -> None:
        if ev.old is not None:
            self._remove(ev.key, ev.old)
        if ev.type != "DELETED":
            self._add(ev.key, ev.obj)

    # ------------------------------------------------------------- queries
    def controlled(self, uid: str, key: StorageKey) -> list[Ref]:
        return sorted(r for r in self._controlled.get(uid, ()) if r[0] == key)

    def orphans(self, key: StorageKey, namespace: str) -> list[str]:
        """Names of objects of ``key`` in ``namespace`` that no controller owns."""
        return sorted(self._orphans.get((key, namespace), ()))

    def pods_matching(self, namespace: str, selector: dict[str, str]) -> list[str]:
        """Names of pods in ``namespace`` that carry every label of ``selector``."""
        if not selector:
            return []
        sets = [self._pods_by_label.get((namespace, k, v), set()) for k, v in selector.items()]
        smallest = min(sets, key=len)
        return sorted(n for n in smallest if all(n in s for s in sets))

    def services_selecting(self, namespace: str, labels: dict[str, str]) -> set[str]:
        """Services in ``namespace`` whose selector matches these labels."""
        found: set[str] = set()
        for k, v in labels.items():
            for name in self._svc_by_anchor.get((namespace, k, v), ()):
                sel = self._svc_selector.get((namespace, name), {})
                if all(labels.get(sk) == sv for sk, sv in sel.items()):
                    found.add(name)
        return found

    # ------------------------------------------------------------ updates
    def _add(self, key: StorageKey, obj: Obj) -> None:
        m = meta(obj)
        ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
        ref = controller_ref(obj)
        if ref and ref.get("uid"):
            self._controlled.setdefault(str(ref["uid"]), set()).add((key, ns, name))
        elif key in ADOPTABLE:
            self._orphans.setdefault((key, ns), set()).add(name)
        if key == PODS:
            for k, v in labels_of(obj).items():
                self._pods_by_label.setdefault((ns, k, str(v)), set()).add(name)
        elif key == SERVICES:
            sel = _selector(obj)
            if sel:
                self._svc_selector[(ns, name)] = sel
                k, v = min(sel.items())
                self._svc_by_anchor.setdefault((ns, k, v), set()).add(name)

    def _remove(self, key: StorageKey, obj: Obj) -> None:
        m = meta(obj)
        ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
        ref = controller_ref(obj)
        if ref and ref.get("uid"):
            _discard(self._controlled, str(ref["uid"]), (key, ns, name))
        elif key in ADOPTABLE:
            _discard(self._orphans, (key, ns), name)
        if key == PODS:
            for k, v in labels_of(obj).items():
                _discard(self._pods_by_label, (ns, k, str(v)), name)
        elif key == SERVICES:
            sel = self._svc_selector.pop((ns, name), None)
            if sel:
                k, v = min(sel.items())
                _discard(self._svc_by_anchor, (ns, k, v), name)


def _discard(index: dict[Any, set[Any]], key: Any, value: Any) -> None:
    bucket = index.get(key)
    if bucket is None:
        return
    bucket.discard(value)
    if not bucket:
        del index[key]

