"""One Kustomization's manifests from an extracted artifact, outside the reconcile loop.

`sluice build`/`sluice diff` (from a local folder) and the UI's plan (from the
source's artifact) need exactly what the reconciler's build step produces:
kustomize build of ``spec.path``, ``postBuild`` substitution, ``commonMetadata``
and the owner labels the apply step would add. This is that pipeline as one
blocking function (run it in a worker thread); the reconciler keeps its own
memoized copy of the same steps for speed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sluice.api.kustomize import KustomizationSpec
from sluice.api.meta import KUSTOMIZE_NAME_LABEL, KUSTOMIZE_NAMESPACE_LABEL
from sluice.controllers.kustomization.building import build_manifests, set_common_metadata
from sluice.controllers.kustomization.substitution import (
    quoted_scalars,
    substitute_objects,
    substitutes,
)
from sluice.kube.objects import Obj

__all__ = ["render_manifests", "set_owner_labels"]


def set_owner_labels(objects: list[Obj], name: str, namespace: str) -> None:
    """The labels kustomize-controller writes on everything it applies."""
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), KUSTOMIZE_NAME_LABEL: name,
                          KUSTOMIZE_NAMESPACE_LABEL: namespace}


def render_manifests(root: Path, folder: Path, spec: KustomizationSpec,
                     variables: Mapping[str, str], *, strict: bool = False) -> list[Obj]:
    """Build `folder` (inside `root`) as the controller would; raises `BuildFailure`."""
    built = build_manifests(root, folder, spec)
    if substitutes(spec.post_build, variables):
        quoted = quoted_scalars(root, [p.patch for p in spec.patches or []])
        built = substitute_objects(built, variables, strict=strict, quoted=quoted)
    set_common_metadata(built, spec.common_metadata)
    return built
