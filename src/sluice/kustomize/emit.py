"""Printing objects exactly as ``kubectl kustomize`` prints them.

kustomize prints each object by encoding it to JSON and converting that JSON
to YAML with go-yaml v2 (``sigs.k8s.io/yaml``), so the output is not the
input's layout: keys sorted in go-yaml's natural order, comments gone, whole
floats as integers, long strings folded at column 80, quoting by go-yaml's
rules. ``sluice.core.goyaml`` reimplements that encoder (flux's ``--export``
shares it); what is kustomize's own is how objects are joined: each document
as the encoder writes it, a ``---`` line between documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.core import goyaml

__all__ = ["dump_documents", "dump_object"]


def dump_object(obj: Mapping[str, Any]) -> str:
    """One document as kustomize's ``Resource.AsYAML`` writes it."""
    return goyaml.dump(obj)


def dump_documents(objects: list[dict[str, Any]]) -> str:
    """Objects joined with ``---`` lines, as ``kubectl kustomize`` prints them."""
    return "---\n".join(dump_object(obj) for obj in objects)
