"""The one way a controller reacts to the ConfigMaps and Secrets its objects read.

Flux's helm-controller (``valuesFrom``) and kustomize-controller
(``postBuild.substituteFrom``) reconcile a consumer as soon as a ConfigMap or
Secret it references changes, but only for those labelled
``reconcile.fluxcd.io/watch: Enabled`` (``--watch-configs-label-selector``);
any other change waits for the consumer's interval. `watch_configs` wires that
on a manager for one controller:

* the controller's primary informer gets an index from each referenced
  ConfigMap/Secret (``ConfigMap/<ns>/<name>``) to the objects naming it, from
  a ``refs`` function the controller supplies (references are always in the
  consumer's namespace, as in Flux);
* two informers (v1 ConfigMap and Secret) list only the labelled objects, so
  the process never caches every Secret of the cluster; they are shared by
  all the controllers that call this;
* a labelled object created, deleted, or whose ``data``/``stringData``/
  ``binaryData`` changed enqueues each consumer by the index; a change of
  labels or annotations only does not (Flux compares the data too).

A controller calls it in its setup, next to its other watches; nothing else
in the controller changes (it reads the referenced object as before).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sluice.kube.objects import Obj
from sluice.runtime.controller import Controller
from sluice.runtime.informer import MODIFIED, Informer
from sluice.runtime.manager import Manager
from sluice.runtime.reconciler import Request

__all__ = ["CONFIG_INDEX", "WATCH_LABEL", "config_key", "requests_for_config", "watch_configs"]

WATCH_LABEL = "reconcile.fluxcd.io/watch"
CONFIG_INDEX = "configRefs"

# A consumer's references: (kind, name) pairs, kind "ConfigMap" or "Secret".
RefsFunc = Callable[[Obj], Iterable[tuple[str, str]]]

_DATA_FIELDS = ("data", "stringData", "binaryData")


def config_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def _index(refs: RefsFunc) -> Callable[[Obj], Iterable[str]]:
    def keys(obj: Obj) -> Iterable[str]:
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        for kind, name in refs(obj):
            if kind in ("ConfigMap", "Secret") and name:
                yield config_key(kind, namespace, name)

    return keys


def requests_for_config(consumers: Informer, kind: str
                        ) -> Callable[[str, Obj | None, Obj], list[Request]]:
    """Map a change of a watched ConfigMap/Secret to the consumers that reference it."""

    def map_fn(etype: str, old: Obj | None, new: Obj) -> list[Request]:
        if etype == MODIFIED and old is not None and all(
                old.get(f) == new.get(f) for f in _DATA_FIELDS):
            return []
        meta = new.get("metadata") or {}
        key = config_key(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        out = []
        for consumer in consumers.by_index(CONFIG_INDEX, key):
            cmeta = consumer.get("metadata") or {}
            out.append(Request(str(cmeta.get("namespace") or ""), str(cmeta.get("name") or "")))
        return out

    return map_fn


async def watch_configs(manager: Manager, controller: Controller, consumers: Informer,
                        refs: RefsFunc) -> None:
    """Reconcile ``controller``'s objects when a labelled ConfigMap/Secret they name changes."""
    consumers.add_index(CONFIG_INDEX, _index(refs))
    selector = manager.options.watch_configs_label_selector
    for kind in ("ConfigMap", "Secret"):
        informer = await manager.informer("v1", kind, label_selector=selector)
        controller.watch(informer, requests_for_config(consumers, kind))
