"""Image names as Flux reads them (go-containerregistry's ``name`` package rules).

``alpine`` is ``index.docker.io/library/alpine``, ``stefanprodan/podinfo``
is ``index.docker.io/stefanprodan/podinfo``, ``docker.io`` is spelled
``index.docker.io``, and a first path element with a ``.`` or a ``:`` (or
``localhost``) is a registry host. `parse_image` adds the checks the image
reflector makes on ``ImageRepository.spec.image``: no URL scheme, no tag.

Plain HTTP: a registry is reached over HTTPS unless ``insecure`` is set;
like go-containerregistry, loopback and ``.local``/``localhost`` hosts may
fall back to plain HTTP when HTTPS does not answer (see `Repository.schemes`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from sluice.oci.errors import InvalidReference

__all__ = [
    "DEFAULT_REGISTRY",
    "ImageReference",
    "Repository",
    "canonical_registry",
    "parse_image",
    "parse_reference",
    "parse_repository",
]

DEFAULT_REGISTRY = "index.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_REPO_CHARS = re.compile(r"^[a-z0-9_./-]+$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def canonical_registry(host: str) -> str:
    """The registry host as go-containerregistry names it (Docker Hub's aliases folded)."""
    host = host.lower() if host.lower() in _DOCKER_HUB_ALIASES else host
    return DEFAULT_REGISTRY if host in _DOCKER_HUB_ALIASES else host


def _is_local(host: str) -> bool:
    bare = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:host.find("]")]
    if bare == "localhost" or bare.endswith((".localhost", ".local")):
        return True
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


@dataclass(frozen=True)
class Repository:
    """A registry repository: ``registry/path``, e.g. ``registry.k8s.io/e2e-test-images/agnhost``."""

    registry: str
    path: str
    insecure: bool = False

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"

    @property
    def api_host(self) -> str:
        """The host answering the API: Docker Hub's API lives on ``registry-1.docker.io``."""
        return "registry-1.docker.io" if self.registry == DEFAULT_REGISTRY else self.registry

    def schemes(self) -> tuple[str, ...]:
        """URL schemes to try, in order (HTTPS first, HTTP only where go-containerregistry allows)."""
        if self.insecure or _is_local(self.registry):
            return ("https", "http")
        return ("https",)


@dataclass(frozen=True)
class ImageReference:
    """A repository plus a tag or a digest."""

    repository: Repository
    tag: str = ""
    digest: str = ""

    @property
    def identifier(self) -> str:
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or 'latest'}"


def parse_repository(text: str, *, insecure: bool = False) -> Repository:
    """Parse ``[registry/]path`` (no tag, no digest) into a canonical `Repository`."""
    registry, path = DEFAULT_REGISTRY, text
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = canonical_registry(first), rest
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if not path or not _REPO_CHARS.match(path) or "//" in path or path.startswith("/") \
            or path.endswith("/") or len(path) > 255:
        raise InvalidReference(
            "repository can only contain the characters "
            f"`abcdefghijklmnopqrstuvwxyz0123456789_-./`: {path}")
    return Repository(registry, path, insecure)


def parse_reference(text: str, *, insecure: bool = False) -> ImageReference:
    """Parse ``repository[:tag][@digest]``; any error is ``could not parse reference``."""
    try:
        name, digest = text, ""
        if "@" in text:
            name, _, digest = text.partition("@")
            if not _DIGEST.match(digest):
                raise InvalidReference(text)
        tag = ""
        slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > slash:
            name, tag = name[:colon], name[colon + 1:]
            if not _TAG.match(tag):
                raise InvalidReference(text)
        return ImageReference(parse_repository(name, insecure=insecure), tag, digest)
    except InvalidReference:
        raise InvalidReference(f"could not parse reference: {text}") from None


def parse_image(image: str, *, insecure: bool = False) -> Repository:
    """``ImageRepository.spec.image`` to a `Repository`, with the image reflector's checks."""
    scheme, sep, _ = image.partition("://")
    if sep:
        raise InvalidReference(f"image '{image}' should not include URL scheme; remove '{scheme}://'")
    ref = parse_reference(image, insecure=insecure)
    # The name after the registry host must have no ':' (a tag, or a digest's algorithm).
    registry = ref.repository.registry
    remainder = image[len(registry):] if image.startswith(registry) else image
    parts = remainder.split(":")
    if len(parts) > 1:
        raise InvalidReference(f"image '{image}' should not include a tag; remove ':{parts[1]}'")
    return ref.repository
