"""Errors raised while building a kustomization.

A build reads an untrusted folder (a Git artifact), so every failure names the
file and, where it can, the field at fault, in words close to the ones
``kustomize build`` prints, so that a Flux user recognises them in a
Kustomization's ``Ready=False`` message.

    BuildError                    (any failure of a build; ``path`` names the file)
    ├── ResourceNotFound          a resource, patch, component or generator file is missing
    ├── InvalidKustomization      a kustomization file or one of its fields is malformed
    ├── InvalidYAML               a file is not YAML, or a document is not a Kubernetes object
    │   └── MalformedYAML         a file does not parse (one line: ``failed to parse <file>: yaml: ...``)
    ├── PathEscape                a path leaves the build root (``../..``, absolute, symlink)
    ├── RemoteBaseRefused         a resource is a URL (http, git, ssh): remote bases are off
    ├── IdConflict                two resources share group/version/kind/namespace/name
    ├── PatchError                a patch does not apply (no target, bad JSON6902 op, ...)
    ├── GeneratorError            a configMapGenerator/secretGenerator entry is wrong
    └── ReplacementError          a replacement's source or target cannot be resolved
"""

from __future__ import annotations

from pathlib import Path


class BuildError(Exception):
    """A kustomization could not be built; ``path`` is the file at fault, if known."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ResourceNotFound(BuildError):
    """A file or folder named by the kustomization does not exist."""


class InvalidKustomization(BuildError):
    """A kustomization file (or a field of it) is malformed."""


class InvalidYAML(BuildError):
    """A file does not parse as YAML, or a document lacks apiVersion/kind/name."""


class MalformedYAML(InvalidYAML):
    """A file does not parse as YAML.

    The message already names the file (``failed to parse app/deploy.yaml: yaml:
    line 6: did not find expected ',' or ']'``), so it is the whole text.
    """

    def __init__(self, detail: str, *, path: Path | str) -> None:
        super().__init__(f"failed to parse {path}: {detail}", path=path)

    def __str__(self) -> str:
        return self.message


class PathEscape(BuildError):
    """A path points outside the build root."""


class RemoteBaseRefused(BuildError):
    """A resource is a remote URL; builds only read the local artifact."""


class IdConflict(BuildError):
    """Two resources have the same id (group, version, kind, namespace, name)."""


class PatchError(BuildError):
    """A strategic-merge or JSON 6902 patch cannot be applied."""


class GeneratorError(BuildError):
    """A ConfigMap or Secret generator entry is invalid."""


class ReplacementError(BuildError):
    """A replacement (or its source or target selector) cannot be resolved."""
