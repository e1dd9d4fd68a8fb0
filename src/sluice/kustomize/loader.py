"""Reading the build's files, safely.

The folder being built comes from a Git repository or an OCI artifact that
anyone with push access controls, so every path a kustomization names is
resolved (symlinks included) and must stay inside the build root; URLs
(remote bases) are refused rather than fetched. This module also finds a
folder's kustomization file (``kustomization.yaml``, ``kustomization.yml``
or ``Kustomization``, exactly one of them) and turns resource files into
objects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .decode import load_documents, load_one, yaml_error_text
from .errors import (
    InvalidKustomization,
    InvalidYAML,
    MalformedYAML,
    PathEscape,
    RemoteBaseRefused,
    ResourceNotFound,
)
from .resources import Resource

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_REMOTE = re.compile(
    r"^([a-z][a-z0-9+.-]*://|git@|(github\.com|gitlab\.com|bitbucket\.org)[/:])", re.IGNORECASE
)


def is_remote(entry: str) -> bool:
    return bool(_REMOTE.match(entry)) or "?ref=" in entry


class Loader:
    """Resolves and reads paths below one root."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def resolve(self, base: Path, entry: str, *, field: str, source: Path) -> Path:
        if is_remote(entry):
            raise RemoteBaseRefused(
                f"{field}: remote resource {entry!r} is not allowed; "
                "only files inside the source artifact can be built",
                path=self.display(source),
            )
        candidate = (base / entry) if not Path(entry).is_absolute() else Path(entry)
        resolved = candidate.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise PathEscape(
                f"{field}: path {entry!r} is outside the build root {str(self.root)!r}",
                path=self.display(source),
            )
        if not resolved.exists():
            raise ResourceNotFound(
                f"{field}: {entry!r} does not exist (looked for {resolved})",
                path=self.display(source),
            )
        return resolved

    def display(self, path: Path) -> str:
        try:
            rel = path.resolve().relative_to(self.root)
        except ValueError:
            return str(path)
        return str(rel) if str(rel) != "." else "."

    def read_text(self, path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidYAML(f"not UTF-8 text: {exc}", path=self.display(path)) from exc

    def read_bytes(self, path: Path) -> bytes:
        return path.read_bytes()

    def find_kustomization_file(self, directory: Path) -> Path | None:
        found = [directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()]
        if len(found) > 1:
            raise InvalidKustomization(
                f"Found multiple kustomization files under: {directory}",
                path=self.display(directory),
            )
        return found[0] if found else None

    def load_kustomization(self, directory: Path) -> tuple[dict[str, Any], Path]:
        path = self.find_kustomization_file(directory)
        if path is None:
            raise ResourceNotFound(
                "unable to find one of 'kustomization.yaml', 'kustomization.yml' or "
                f"'Kustomization' in directory '{directory}'",
                path=self.display(directory),
            )
        text = self.read_text(path)
        try:
            data = load_one(text)
        except (yaml.YAMLError, ValueError) as exc:
            raise InvalidKustomization(f"invalid YAML: {yaml_error_text(exc, text)}",
                                       path=self.display(path)) from exc
        if data is None:
            raise InvalidKustomization("kustomization.yaml is empty", path=self.display(path))
        if not isinstance(data, dict):
            raise InvalidKustomization(
                "a kustomization must be a YAML map", path=self.display(path)
            )
        return data, path

    def load_objects(self, path: Path, text: str | None = None) -> list[Resource]:
        """Every Kubernetes object in a (multi-document) file; ``List`` kinds expanded."""
        display = self.display(path)
        if text is None:
            text = self.read_text(path)
        try:
            docs = list(load_documents(text))
        except (yaml.YAMLError, ValueError) as exc:
            raise MalformedYAML(yaml_error_text(exc, text), path=display) from exc
        return objects_from_documents(docs, display)


def objects_from_documents(docs: list[Any], display: str) -> list[Resource]:
    out: list[Resource] = []
    for doc in docs:
        if doc is None:
            continue  # a document holding only comments
        if not isinstance(doc, dict):
            raise InvalidYAML(
                f"expected a Kubernetes object (a YAML map), got {type(doc).__name__}",
                path=display,
            )
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out.extend(objects_from_documents(doc["items"], display))
            continue
        for field in ("apiVersion", "kind"):
            if not isinstance(doc.get(field), str) or not doc[field]:
                raise InvalidYAML(f"missing {field} in object", path=display)
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise InvalidYAML(
                f"missing metadata.name in object of kind {doc['kind']}", path=display
            )
        out.append(Resource(doc, source=display))
    return out
