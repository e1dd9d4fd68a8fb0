"""``spec.dependsOn``: a HelmRelease waits until the HelmReleases it names are ready.

As helm-controller: each dependency (namespace defaulting to the
dependent's) must exist, have reconciled its latest generation and be
``Ready=True``; the first that is not becomes the ``DependencyNotReady``
message (``dependency '<ns>/<name>' is not ready``), retried after
``--requeue-dependency``. Dependencies are read from the informer cache.
CEL ``readyExpr`` is not evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sluice.api.helm import GROUP, HelmRelease
from sluice.api.meta import READY, TRUE

__all__ = ["DependencyNotReady", "check_dependencies", "dependency_keys"]

Lookup = Callable[[str, str], "dict[str, Any] | None"]


class DependencyNotReady(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def dependency_keys(obj: Mapping[str, Any]) -> Iterable[str]:
    """Index values: ``namespace/name`` of every HelmRelease ``obj`` depends on."""
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    for dep in (obj.get("spec") or {}).get("dependsOn") or []:
        if isinstance(dep, Mapping) and dep.get("name"):
            yield f"{dep.get('namespace') or ns}/{dep['name']}"


def check_dependencies(hr: HelmRelease, lookup: Lookup) -> None:
    for dep in hr.spec.depends_on or []:
        ns = dep.namespace or hr.namespace or ""
        name = f"{ns}/{dep.name}"
        found = lookup(ns, dep.name)
        if found is None:
            raise DependencyNotReady(f"could not get dependency '{name}': helmreleases.{GROUP} "
                                     f"\"{dep.name}\" not found")
        meta, status = found.get("metadata") or {}, found.get("status") or {}
        if meta.get("generation") != status.get("observedGeneration"):
            raise DependencyNotReady(f"dependency '{name}' is not ready")
        ready = any(c.get("type") == READY and c.get("status") == TRUE
                    for c in status.get("conditions") or [] if isinstance(c, Mapping))
        if not ready:
            raise DependencyNotReady(f"dependency '{name}' is not ready")
