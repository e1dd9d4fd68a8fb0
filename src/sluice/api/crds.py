"""CustomResourceDefinitions for the Flux kinds, as Flux ships them.

Each CRD is generated from the kind's model (`sluice.api.schema`) and its
`KindInfo`: ``<plural>.<group>`` name, Flux's install labels, the
``kustomize.toolkit.fluxcd.io/substitute: disabled`` annotation (so a
Kustomization applying CRDs never substitutes ``${...}`` in their
descriptions), names with short names and categories, one entry per served
version with its schema (the same for most kinds), the status subresource and the printer columns
``kubectl get`` shows. The embedded cluster installs them at start-up and
``sluice install`` writes them out for a real cluster.
"""

from __future__ import annotations

import copy
from typing import Any

from sluice.api.kinds import ALL_KINDS, kind_class
from sluice.api.resource import Resource

__all__ = ["FLUX_INSTANCE", "all_crds", "crd_for", "crd_for_kind"]

FLUX_INSTANCE = "flux-system"


def _version_entry(cls: type[Resource], version: str, schema: dict[str, Any]) -> dict[str, Any]:
    info = cls.info
    entry: dict[str, Any] = {"name": version}
    columns = cls.version_columns(version)
    if columns:
        entry["additionalPrinterColumns"] = [c.to_dict() for c in columns]
    deprecations = dict(info.deprecated)
    if version in deprecations:
        entry["deprecated"] = True
        entry["deprecationWarning"] = deprecations[version]
    entry["schema"] = {"openAPIV3Schema": copy.deepcopy(schema)}
    entry["served"] = True
    entry["storage"] = version == info.storage_version
    if info.has_status:
        entry["subresources"] = {"status": {}}
    return entry


_CACHE: dict[str, dict[str, Any]] = {}


def _build(cls: type[Resource]) -> dict[str, Any]:
    info = cls.info
    cached = _CACHE.get(info.crd_name)
    if cached is not None:
        return cached
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": info.list_kind,
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    if info.categories:
        names["categories"] = list(info.categories)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {
                "app.kubernetes.io/component": info.component,
                "app.kubernetes.io/instance": FLUX_INSTANCE,
                "app.kubernetes.io/part-of": "flux",
            },
            "annotations": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"},
        },
        "spec": {
            "group": info.group,
            "names": names,
            "scope": info.scope,
            "versions": [_version_entry(cls, v, cls.version_schema(v)) for v in info.versions],
        },
    }
    _CACHE[info.crd_name] = crd
    return crd


def crd_for_kind(cls: type[Resource]) -> dict[str, Any]:
    """The CRD of a model class (a fresh copy the caller may modify)."""
    return copy.deepcopy(_build(cls))


def crd_for(group: str, kind: str) -> dict[str, Any]:
    """The CRD of ``kind`` in ``group``; `KeyError` when it is not a Flux kind."""
    return crd_for_kind(kind_class(group, kind))


def all_crds() -> list[dict[str, Any]]:
    """Every CRD Sluice serves, in a stable order (sources first)."""
    return [crd_for_kind(cls) for cls in ALL_KINDS]
