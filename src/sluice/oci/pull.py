"""Pulling OCI artifacts: manifests and blobs, on top of the registry client.

The OCIRepository reconciler (and anything else that needs an artifact's
content, not only its tags) uses `PullClient`, the image reflector's
`RegistryClient` plus blob downloads checked against their digest, and
`parse_manifest`, which reads an OCI image manifest (or Docker v2 schema 2)
into its layers and annotations. An image index is refused with a clear
message: Flux artifacts (``flux push artifact``, Helm charts) are single
manifests.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sluice.oci.client import RegistryClient
from sluice.oci.errors import InvalidResponse

__all__ = ["Layer", "Manifest", "PullClient", "parse_manifest"]

INDEX_TYPES = frozenset({"application/vnd.oci.image.index.v1+json",
                         "application/vnd.docker.distribution.manifest.list.v2+json"})
# Artifacts bigger than this are refused (source-controller's default is unlimited for
# OCI, but a controller process must not hold gigabytes in memory).
MAX_BLOB_SIZE = 512 << 20


@dataclass(frozen=True)
class Layer:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    layers: tuple[Layer, ...]
    annotations: dict[str, str]
    config_media_type: str = ""


def parse_manifest(body: bytes, media_type: str, digest: str) -> Manifest:
    """The layers and annotations of an image manifest; an index is refused."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidResponse(f"manifest {digest} is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidResponse(f"manifest {digest} is not a JSON object")
    kind = str(doc.get("mediaType") or media_type or "")
    if kind in INDEX_TYPES or "manifests" in doc:
        raise InvalidResponse(f"manifest {digest} is an image index, not an artifact")
    layers = []
    for item in doc.get("layers") or []:
        if not isinstance(item, dict) or not item.get("digest"):
            raise InvalidResponse(f"manifest {digest} has a layer without digest")
        layers.append(Layer(str(item.get("mediaType") or ""), str(item["digest"]),
                            int(item.get("size") or 0),
                            {str(k): str(v) for k, v in (item.get("annotations") or {}).items()}))
    annotations = {str(k): str(v) for k, v in (doc.get("annotations") or {}).items()}
    config = doc.get("config") or {}
    return Manifest(digest, kind, tuple(layers), annotations,
                    str(config.get("mediaType") or "") if isinstance(config, dict) else "")


class PullClient(RegistryClient):
    """A registry client that also downloads blobs."""

    async def get_blob(self, digest: str, *, max_size: int = MAX_BLOB_SIZE) -> bytes:
        """The blob ``digest``, checked against it."""
        algorithm, _, expected = digest.partition(":")
        if algorithm != "sha256" or not expected:
            raise InvalidResponse(f"unsupported digest '{digest}'")
        resp = await self._get("GET", f"/v2/{self.repository.path}/blobs/{digest}")
        data = resp.content
        if len(data) > max_size:
            raise InvalidResponse(f"blob {digest} is larger than {max_size} bytes")
        got = hashlib.sha256(data).hexdigest()
        if got != expected:
            raise InvalidResponse(f"blob {digest} does not match its digest (got sha256:{got})")
        return data
