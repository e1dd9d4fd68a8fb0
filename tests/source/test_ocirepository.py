"""OCIRepository against Debian's docker-registry holding Flux-style artifacts.

Artifacts are pushed as ``flux push artifact`` does: a Flux config blob, one
tar+gzip content layer, the OCI source/revision annotations. The controller
runs for real; what users see is asserted: Flux's revisions
(``<tag>@sha256:…``, ``sha256:…`` for digests), the Ready message, the
extracted artifact (ignore rules applied), layer selection, and failures
that keep the last artifact without showing the registry password.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.source.helm_harness import Sources, condition, running_sources

from sluice.controllers.source.ocirepository import setup_ocirepository_controller
from sluice.testing.registry import OCI_MANIFEST, DockerRegistry, push_image

USER = "oci-user"
PASSWORD = "oci-Pa55-never-shown"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
OTHER = "application/vnd.example.other.v1"


def _tgz(files: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_artifact(registry: DockerRegistry, tag: str, files: dict[str, str],
                  extra_layer: bytes | None = None) -> tuple[str, bytes]:
    """Push a Flux artifact; (manifest digest, content layer)."""
    config, layer = b"{}", _tgz(files)
    layers = [{"mediaType": FLUX_CONTENT, "digest": _digest(layer), "size": len(layer)}]
    blobs = [config, layer]
    if extra_layer is not None:
        layers.insert(0, {"mediaType": OTHER, "digest": _digest(extra_layer),
                          "size": len(extra_layer)})
        blobs.append(extra_layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": FLUX_CONFIG, "digest": _digest(config), "size": len(config)},
        "layers": layers,
        "annotations": {"org.opencontainers.image.source": "https://github.com/example/app",
                        "org.opencontainers.image.revision": f"{tag}@sha1:abcdef0123"}},
        sort_keys=True).encode()
    digest = push_image(registry.url, "manifests/app", tag, auth=registry.auth,
                        manifest=manifest, blobs=blobs)
    return digest, layer


@pytest.fixture
async def sources(kubeconfig: Path, namespace: str, tmp_path: Path) -> AsyncIterator[Sources]:
    async with running_sources(kubeconfig, namespace, tmp_path,
                               [setup_ocirepository_controller], ["OCIRepository"],
                               concurrent=4) as s:
        yield s


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


async def test_oci_artifacts_by_tag_semver_and_digest(sources: Sources, tmp_path: Path) -> None:
    s = sources
    async with DockerRegistry(tmp_path / "reg", username=USER, password=PASSWORD) as registry:
        files = {"deploy/app.yaml": "kind: ConfigMap\n", "docs/README.md": "# docs\n"}
        d635, _ = await asyncio.to_thread(push_artifact, registry, "6.3.5", files)
        d640, _ = await asyncio.to_thread(push_artifact, registry, "6.4.0",
                                          {**files, "deploy/new.yaml": "kind: Secret\n"})
        await asyncio.to_thread(push_artifact, registry, "7.0.0", files)
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        await s.secret("regcred", {".dockerconfigjson": json.dumps(
            {"auths": {registry.host: {"auth": auth}}})}, type_="kubernetes.io/dockerconfigjson")
        url = f"oci://{registry.host}/manifests/app"
        await s.create("OCIRepository", "app", {
            "url": url, "ref": {"tag": "6.3.5"}, "insecure": True,
            "secretRef": {"name": "regcred"}, "ignore": "docs/"})
        obj = await s.ready("OCIRepository", "app", f"6.3.5@{d635}")
        assert condition(obj, "Ready")["message"] == f"stored artifact for digest '6.3.5@{d635}'"
        art = obj["status"]["artifact"]
        assert art["path"].endswith(f"/{d635[7:]}.tar.gz")
        assert art["metadata"]["org.opencontainers.image.source"] == "https://github.com/example/app"
        data = await s.download(art["url"])
        assert _digest(data) == art["digest"]
        assert _members(data) == {"deploy/app.yaml": b"kind: ConfigMap\n"}  # docs/ ignored
        events = await s.event_list("OCIRepository", "app")
        assert any(e["reason"] == "NewArtifact" and e["message"] == (
            f"stored artifact with revision '6.3.5@{d635}' from '{url}', origin source "
            "'https://github.com/example/app', origin revision '6.3.5@sha1:abcdef0123'")
            for e in events)

        # semver takes precedence over tag; 7.0.0 is out of range.
        await s.patch("OCIRepository", "app", {"spec": {"ref": {"semver": ">=6.0.0 <7.0.0"}}})
        obj = await s.ready("OCIRepository", "app", f"6.4.0@{d640}")
        assert set(_members(await s.download(obj["status"]["artifact"]["url"]))) == {
            "deploy/app.yaml", "deploy/new.yaml"}

        # A digest wins over everything, and is the revision by itself.
        await s.patch("OCIRepository", "app", {"spec": {"ref": {"digest": d635}}})
        await s.ready("OCIRepository", "app", d635)

        # An unknown tag fails, keeping the artifact, and never shows the password.
        kept = await s.get("OCIRepository", "app")
        await s.patch("OCIRepository", "app", {"spec": {"ref": {"digest": None, "semver": None,
                                                                "tag": "9.9.9"}}})
        bad = await s.failed("OCIRepository", "app", "OCIArtifactPullFailed")
        assert condition(bad, "Ready")["message"].startswith("failed to determine artifact digest: ")
        assert bad["status"]["artifact"] == kept["status"]["artifact"]
        everything = json.dumps(bad) + json.dumps(await s.event_list("OCIRepository", "app"))
        assert PASSWORD not in everything and auth not in everything


async def test_layer_selector(sources: Sources, tmp_path: Path) -> None:
    s = sources
    async with DockerRegistry(tmp_path / "reg") as registry:
        digest, layer = await asyncio.to_thread(push_artifact, registry, "v1",
                                                {"a.yaml": "a: 1\n"}, b"not a tarball")
        url = f"oci://{registry.host}/manifests/app"
        # Without a selector the first layer is used: here it is not tar+gzip.
        await s.create("OCIRepository", "first", {"url": url, "ref": {"tag": "v1"},
                                                  "insecure": True})
        first = await s.failed("OCIRepository", "first", "OCIArtifactLayerOperationFailed")
        assert condition(first, "Ready")["message"].startswith(
            "failed to extract layer contents from artifact: ")
        await s.create("OCIRepository", "copy", {
            "url": url, "ref": {"tag": "v1"}, "insecure": True,
            "layerSelector": {"mediaType": FLUX_CONTENT, "operation": "copy"}})
        copied = await s.ready("OCIRepository", "copy", f"v1@{digest}")
        assert copied["status"]["artifact"]["path"].endswith(f"/{digest[7:]}.tgz")
        assert await s.download(copied["status"]["artifact"]["url"]) == layer
        assert copied["status"]["observedLayerSelector"] == {"mediaType": FLUX_CONTENT,
                                                             "operation": "copy"}
        await s.create("OCIRepository", "missing", {
            "url": url, "ref": {"tag": "v1"}, "insecure": True,
            "layerSelector": {"mediaType": "application/x-nothing"}})
        missing = await s.failed("OCIRepository", "missing", "OCIArtifactLayerOperationFailed")
        assert condition(missing, "Ready")["message"] == (
            "failed to find layer with media type 'application/x-nothing' in OCI artifact")
