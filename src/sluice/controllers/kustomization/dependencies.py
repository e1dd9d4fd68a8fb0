"""``spec.dependsOn``: a Kustomization waits until the ones it names are ready.

Users order a fleet with ``dependsOn`` (CRDs before the custom resources,
infrastructure before apps). kustomize-controller checks, for every listed
Kustomization (its namespace defaults to the dependent's):

1. it exists;
2. it has conditions and its ``status.observedGeneration`` equals its
   ``metadata.generation`` (the controller has seen its latest spec);
3. it is ``Ready=True``;
4. when it builds from the same source (same kind, name and namespace as
   the dependent's ``sourceRef``), its ``status.lastAppliedRevision`` is
   the revision the dependent is about to apply: a fleet applied from one
   commit is applied in dependency order at that commit.

The first failing check becomes the ``DependencyNotReady`` message, with
Flux's words (``dependency 'flux-system/infra' is not ready``); the
reconciler then retries after ``--requeue-dependency`` (30 s).

The check reads dependencies from the informer cache (a function passed
in), so it costs no API call. CEL ``readyExpr`` expressions are not
evaluated: the built-in check applies to every dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sluice.api.kustomize import GROUP, Kustomization
from sluice.api.meta import READY, TRUE

__all__ = ["DependencyNotReady", "check_dependencies", "dependency_keys", "source_key"]

Obj = dict[str, Any]
Lookup = Callable[[str, str], "Obj | None"]


class DependencyNotReady(Exception):
    """A dependency is missing, not ready, or behind the shared source's revision."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def source_key(kind: str, namespace: str, name: str) -> str:
    """Index value naming a source: ``GitRepository/flux-system/flux-system``."""
    return f"{kind}/{namespace}/{name}"


def _source_of(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    return (str(ref.get("kind") or ""), str(ref.get("namespace") or meta.get("namespace") or ""),
            str(ref.get("name") or ""))


def dependency_keys(obj: Mapping[str, Any]) -> Iterable[str]:
    """Index values: ``namespace/name`` of every Kustomization ``obj`` depends on."""
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    for dep in (obj.get("spec") or {}).get("dependsOn") or []:
        if isinstance(dep, Mapping) and dep.get("name"):
            yield f"{dep.get('namespace') or ns}/{dep['name']}"


def _ready(status: Mapping[str, Any]) -> bool:
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == READY:
            return cond.get("status") == TRUE
    return False


def check_dependencies(obj: Kustomization, lookup: Lookup, revision: str | None) -> None:
    """Raise `DependencyNotReady` for the first dependency that is not ready.

    ``lookup(namespace, name)`` returns a Kustomization as a dict (or None);
    ``revision`` is the artifact revision ``obj`` is about to apply.
    """
    own = obj.to_dict()
    own_source = _source_of(own)
    for dep in obj.spec.depends_on or []:
        ns = dep.namespace or obj.namespace or ""
        name = f"{ns}/{dep.name}"
        found = lookup(ns, dep.name)
        if found is None:
            raise DependencyNotReady(
                f"unable to get '{name}' dependency: kustomizations.{GROUP} \"{dep.name}\" "
                "not found")
        meta = found.get("metadata") or {}
        status = found.get("status") or {}
        if not status.get("conditions") or meta.get("generation") != status.get(
                "observedGeneration"):
            raise DependencyNotReady(f"dependency '{name}' is not ready")
        if not _ready(status):
            raise DependencyNotReady(f"dependency '{name}' is not ready")
        if (revision is not None and _source_of(found) == own_source
                and status.get("lastAppliedRevision") != revision):
            raise DependencyNotReady(f"dependency '{name}' revision is not up to date")
