"""A kustomize-compatible build engine.

``build_yaml(folder)`` prints what ``kubectl kustomize folder`` prints,
byte for byte, for the features Flux users rely on: resources and nested
kustomizations, components, namespace, name prefix/suffix with reference
fixing, labels and annotations, images, replicas, strategic-merge and JSON
6902 patches, ConfigMap/Secret generators with hash suffixes, replacements
and kustomize's default ordering. A folder without a kustomization file is
built from the kustomization Flux would generate for it. Builds read only
files inside ``root`` (the folder itself by default) and never fetch remote
bases. The engine depends on nothing above ``sluice.api``/``sluice.core``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .emit import dump_documents
from .errors import BuildError
from .generator import Ignored, generate_kustomization, has_kustomization
from .loader import Loader
from .target import Builder

__all__ = ["BuildError", "build", "build_yaml", "dump_documents", "generate_kustomization"]


def build(
    path: Path,
    *,
    root: Path | None = None,
    ignored: Ignored | None = None,
    kustomization: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Builds the kustomization at ``path``; returns the objects in output order.

    ``root`` bounds what the build may read (defaults to ``path``); ``ignored``
    filters files when a kustomization has to be generated (see ``generator``).
    ``kustomization``, when given, is used instead of the folder's own file (a
    controller merging a Flux Kustomization's spec into it passes the result
    here rather than writing into the artifact); paths in it are relative to
    ``path``.
    """
    folder = Path(path).resolve()
    loader = Loader(Path(root) if root is not None else folder)
    loader.resolve(folder, ".", field="path", source=folder)
    override = kustomization
    if override is None and not has_kustomization(folder):
        override = generate_kustomization(folder, ignored)
    builder = Builder(loader, override)
    resources = builder.build_dir(folder, top=True)
    data = override if override is not None else loader.load_kustomization(folder)[0]
    return [res.obj for res in builder.finish(resources, data)]


def build_yaml(path: Path, *, root: Path | None = None, ignored: Ignored | None = None) -> str:
    """The build rendered as ``kubectl kustomize`` prints it (``---`` separated)."""
    return dump_documents(build(path, root=root, ignored=ignored))
