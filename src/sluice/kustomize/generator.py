"""Flux's generated kustomization for folders that have none.

Flux builds any folder: when ``spec.path`` holds no ``kustomization.yaml``
(``.yml``, ``Kustomization``), kustomize-controller writes one listing every
``.yaml``/``.yml`` file below it as a resource, in lexical walk order, except
that a sub-folder with its own kustomization file is listed as a folder and
not descended into. Ignored paths (``.sourceignore`` rules, given here as a
callable on absolute paths, folders included) are skipped; a file that is not
valid YAML fails the build, naming the file; files holding no Kubernetes
object (empty, comments only) are left out. An empty folder gets
``namespace: _placeholder`` so that kustomize accepts it; it builds to nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .decode import load_documents
from .errors import InvalidYAML
from .loader import KUSTOMIZATION_FILES

Ignored = Callable[[Path], bool]


def has_kustomization(directory: Path) -> bool:
    return any((directory / name).is_file() for name in KUSTOMIZATION_FILES)


def _holds_objects(path: Path, root: Path) -> bool:
    display = str(path.relative_to(root))
    try:
        docs = list(load_documents(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidYAML(f"failed to decode Kubernetes YAML: {exc}", path=display) from exc
    for doc in docs:
        if not isinstance(doc, dict):
            raise InvalidYAML(
                "failed to decode Kubernetes YAML: a document is not a map", path=display
            )
        if not doc.get("apiVersion") or not doc.get("kind"):
            raise InvalidYAML(
                "failed to decode Kubernetes YAML: a document has no apiVersion or kind",
                path=display,
            )
    return bool(docs)


def generate_kustomization(path: Path, ignored: Ignored | None = None) -> dict[str, Any] | None:
    """The kustomization Flux would write for ``path``; None if it has its own."""
    root = path.resolve()
    if has_kustomization(root):
        return None
    skip = ignored or (lambda _p: False)
    resources: list[str] = []

    def scan(directory: Path) -> None:
        for entry in sorted(directory.iterdir(), key=lambda p: p.name):
            if skip(entry):
                continue
            if entry.is_dir():
                if has_kustomization(entry):
                    resources.append("./" + entry.relative_to(root).as_posix())
                else:
                    scan(entry)
                continue
            if entry.suffix not in (".yaml", ".yml") or not entry.is_file():
                continue
            if _holds_objects(entry, root):
                resources.append("./" + entry.relative_to(root).as_posix())

    scan(root)
    generated: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    if not resources:
        generated["namespace"] = "_placeholder"
    return generated
