"""Applying created objects to a cluster and waiting for them: the one gap.

Without ``--export``, ``flux create`` upserts the generated objects, then
polls until each reports ``Ready`` and prints the revision it reached. That
needs the Kubernetes client layer (``sluice.kube``), which does not exist
yet, so every ``sluice create`` command funnels its objects through
:func:`apply_and_wait` and this is the only place to fill in later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sluice.cli.failing import CommandError
from sluice.cli.options import Globals

__all__ = ["apply_and_wait"]


def apply_and_wait(objects: Sequence[dict[str, Any]], globals_: Globals) -> None:
    """Upsert ``objects`` (in order) in ``globals_.namespace``'s cluster and wait for Ready.

    ``objects`` are plain JSON-shaped Kubernetes objects (apiVersion, kind,
    metadata, ...), the same dicts ``--export`` prints.
    """
    kinds = ", ".join(str(obj.get("kind", "object")) for obj in objects)
    raise CommandError(
        f"applying {kinds} to a cluster is not implemented yet, use --export")
