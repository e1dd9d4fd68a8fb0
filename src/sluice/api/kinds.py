"""Index of the Flux kinds Sluice serves, by group/kind and apiVersion/kind.

Controllers, the CLI and the embedded cluster use it to turn an arbitrary
object (a dict from the API or a YAML file) into its typed model, and to know
which versions of which kinds exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.api import helm, image, kustomize, notification, source, source_bucket
from sluice.api.resource import Resource

__all__ = ["ALL_KINDS", "is_flux_kind", "kind_class", "model_for", "parse"]

ALL_KINDS: tuple[type[Resource], ...] = (
    # source-controller's kinds in Flux's order (CRDs, `sluice check` and install list them so).
    source.GitRepository,
    source.OCIRepository,
    source.HelmRepository,
    source.HelmChart,
    *source_bucket.KINDS,
    source.ExternalArtifact,
    *kustomize.KINDS,
    *helm.KINDS,
    *image.KINDS,
    *notification.KINDS,
)

_BY_GROUP_KIND: dict[tuple[str, str], type[Resource]] = {
    (cls.info.group, cls.info.kind): cls for cls in ALL_KINDS
}


def kind_class(group: str, kind: str) -> type[Resource]:
    """The model class of ``kind`` in ``group``; `KeyError` when unknown."""
    try:
        return _BY_GROUP_KIND[(group, kind)]
    except KeyError:
        raise KeyError(f"no Flux kind {kind} in group {group!r}") from None


def model_for(api_version: str, kind: str) -> type[Resource]:
    """The model class for an ``apiVersion``/``kind`` pair, if that version is served."""
    group, _, version = api_version.rpartition("/")
    cls = kind_class(group, kind)
    if version not in cls.info.versions:
        raise KeyError(f"{kind} is not served as {api_version}")
    return cls


def is_flux_kind(api_version: str, kind: str) -> bool:
    try:
        model_for(api_version, kind)
    except KeyError:
        return False
    return True


def parse(obj: Mapping[str, Any]) -> Resource:
    """Build the typed model of a Flux object from its JSON form.

    The object keeps its ``apiVersion`` (a v1beta2 image object stays
    v1beta2 when serialized back).
    """
    cls = model_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    return cls.from_dict(obj)
