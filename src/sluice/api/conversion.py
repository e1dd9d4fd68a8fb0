"""Conversions between served versions of the Flux kinds, by group and kind.

The embedded cluster stores one version of each kind and serves the others
through these functions, as kube-apiserver does through a CRD's conversion
webhook. Kinds without an entry convert by identity (only ``apiVersion``
changes), which is what ``conversion.strategy: None`` means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice.api.image import GROUP as IMAGE_GROUP
from sluice.api.image import convert_image_policy

__all__ = ["CONVERTERS", "convert"]

Converter = Callable[[dict[str, Any], str], dict[str, Any]]

CONVERTERS: dict[tuple[str, str], Converter] = {
    (IMAGE_GROUP, "ImagePolicy"): convert_image_policy,
}


def convert(group: str, kind: str, obj: dict[str, Any], to_version: str) -> dict[str, Any] | None:
    """``obj`` as ``group/to_version`` serves it, or None when the kind converts by identity."""
    fn = CONVERTERS.get((group, kind))
    return fn(obj, to_version) if fn is not None else None
