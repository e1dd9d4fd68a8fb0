"""From an extracted artifact to the objects a Kustomization applies.

The steps, in kustomize-controller's order:

1. `resolve_path`: ``spec.path`` inside the artifact, joined securely (a
   path cannot leave the artifact, even through a symlink); a missing
   folder is ``kustomization path not found: ...`` (reason ArtifactFailed);
2. `kustomization_for`: the folder's own kustomization file, or the one Flux
   generates for a folder without one, with the spec merged in:
   ``targetNamespace`` -> ``namespace``, ``namePrefix``, ``nameSuffix``,
   ``patches`` appended, ``components`` appended (missing ones dropped with
   ``ignoreMissingComponents``), ``images`` merged by name (an entry for the
   same image replaces the file's). The result is handed to the build
   engine; the artifact on disk is never modified;
3. `build_manifests`: the kustomize build (`sluice.kustomize`);
4. post-build substitution (`substitution`);
5. `set_common_metadata`: ``commonMetadata`` labels and annotations on every
   object.

Failures of steps 2-3 raise `BuildFailure` (reason BuildFailed) with the
message users see on the Kustomization; nothing has been applied then.
"""

from __future__ import annotations

import copy
import os
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sluice.api.kustomize import KustomizationSpec
from sluice.api.meta import CommonMetadata
from sluice.core.sourceignore import load_ignore_rules
from sluice.kustomize import BuildError, build
from sluice.kustomize.generator import generate_kustomization, has_kustomization
from sluice.kustomize.loader import Loader

__all__ = [
    "BuildFailure",
    "PathNotFound",
    "build_manifests",
    "ignore_filter",
    "kustomization_for",
    "merge_spec",
    "resolve_path",
    "set_common_metadata",
]

Obj = dict[str, Any]

SOPS_KEY = "sops"


class BuildFailure(Exception):
    """The manifests could not be built (reason BuildFailed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PathNotFound(Exception):
    """``spec.path`` does not exist in the artifact (reason ArtifactFailed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------ the folder


def resolve_path(root: Path, path: str | None) -> Path:
    """``spec.path`` joined to the artifact root, never leaving it.

    Like Flux's secure join, the root acts as ``/``: ``../x`` is ``x`` and a
    symlink pointing outside the artifact is refused.
    """
    base = root.resolve()
    clean = posixpath.normpath("/" + (path or "").replace(os.sep, "/")).lstrip("/")
    target = base / clean if clean else base
    resolved = target.resolve()
    if resolved != base and base not in resolved.parents:
        raise PathNotFound(f"kustomization path not found: '{path}' leaves the artifact")
    if not resolved.is_dir():
        raise PathNotFound(f"kustomization path not found: stat {target}: "
                           "no such file or directory")
    return resolved


def ignore_filter(root: Path) -> Callable[[Path], bool]:
    """The artifact's ignore rules (defaults and ``.sourceignore`` files) as a path filter."""
    root = root.resolve()
    rules = load_ignore_rules(root)

    def ignored(p: Path) -> bool:
        try:
            rel = p.resolve().relative_to(root).as_posix()
        except ValueError:
            return True
        return rules.is_ignored(rel, p.is_dir())

    return ignored


def kustomization_for(folder: Path, root: Path, spec: KustomizationSpec,
                      ignored: Callable[[Path], bool] | None = None) -> Obj:
    """The kustomization to build ``folder`` with: its own (or Flux's generated) + the spec."""
    try:
        if has_kustomization(folder):
            data, _ = Loader(root).load_kustomization(folder)
            data = copy.deepcopy(data)
        else:
            generated = generate_kustomization(folder, ignored)
            data = generated if generated is not None else {}
    except BuildError as exc:
        raise BuildFailure(f"kustomize build failed: {exc}") from None
    return merge_spec(data, spec, folder)


def merge_spec(data: Obj, spec: KustomizationSpec, folder: Path) -> Obj:
    """Flux's merge of a Kustomization's spec into a kustomization file's content."""
    out = dict(data)
    if spec.target_namespace:
        out["namespace"] = spec.target_namespace
    if spec.name_prefix:
        out["namePrefix"] = spec.name_prefix
    if spec.name_suffix:
        out["nameSuffix"] = spec.name_suffix
    if spec.patches:
        patches = list(out.get("patches") or [])
        patches.extend(p.to_dict() for p in spec.patches)
        out["patches"] = patches
    if spec.components:
        components = list(out.get("components") or [])
        for component in spec.components:
            if spec.ignore_missing_components and not (folder / component).exists():
                continue
            components.append(component)
        out["components"] = components
    if spec.images:
        images = [dict(i) for i in out.get("images") or [] if isinstance(i, dict)]
        for image in spec.images:
            entry = image.to_dict()
            for i, existing in enumerate(images):
                if existing.get("name") == image.name:
                    images[i] = entry
                    break
            else:
                images.append(entry)
        out["images"] = images
    if spec.build_metadata:
        out["buildMetadata"] = list(spec.build_metadata)
    return out


def build_manifests(root: Path, folder: Path, spec: KustomizationSpec,
                    ignored: Callable[[Path], bool] | None = None) -> list[Obj]:
    """Build ``folder`` (inside the extracted artifact ``root``) with the spec merged in.

    ``ignored`` is the artifact's `ignore_filter` (computed when not given).
    Runs the kustomize engine synchronously; call it in a worker thread.
    """
    if ignored is None:
        ignored = ignore_filter(root)
    data = kustomization_for(folder, root.resolve(), spec, ignored)
    try:
        objects = build(folder, root=root.resolve(), ignored=ignored, kustomization=data)
    except BuildError as exc:
        raise BuildFailure(f"kustomize build failed: {exc}") from None
    for obj in objects:
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        if not obj.get("apiVersion") or not obj.get("kind") or not meta.get("name"):
            raise BuildFailure("kustomize build failed: failed to decode Kubernetes apiVersion "
                               f"and kind for object '{meta.get('name', '')}'")
        if SOPS_KEY in obj:
            _check_sops(obj, spec)
    return objects


def _check_sops(obj: Obj, spec: KustomizationSpec) -> None:
    """SOPS-encrypted objects: Flux refuses encrypted Secrets without ``spec.decryption``."""
    name = (obj.get("metadata") or {}).get("name", "")
    if spec.decryption is None:
        if obj.get("kind") != "Secret":
            return
        raise BuildFailure(f"'{obj.get('kind')}/{name}' is SOPS encrypted, configuring "
                           "decryption is required for this object to be reconciled")
    raise BuildFailure(f"'{obj.get('kind')}/{name}' is SOPS encrypted: SOPS decryption is "
                       "not supported by Sluice yet")


def set_common_metadata(objects: Sequence[Obj], common: CommonMetadata | None) -> None:
    """Add ``commonMetadata`` labels and annotations to every object (in place)."""
    if common is None or not (common.labels or common.annotations):
        return
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if common.labels:
            meta["labels"] = {**(meta.get("labels") or {}), **common.labels}
        if common.annotations:
            meta["annotations"] = {**(meta.get("annotations") or {}), **common.annotations}
