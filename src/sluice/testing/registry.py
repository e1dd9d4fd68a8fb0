"""Loopback OCI registries for tests: Debian's ``docker-registry`` and a small fixture registry.

Image scanning (ImageRepository) and Helm OCI sources need a registry that
answers the OCI distribution API on loopback, without network access. This
module offers two:

* :class:`DockerRegistry` launches Debian's ``docker-registry`` (CNCF
  distribution 2.8) on a free loopback port: plain HTTP, filesystem storage
  in a temporary folder, optional htpasswd Basic auth (``htpasswd -B``, the
  only hash distribution accepts). It is the real thing for pushing and
  pulling; :func:`push_image` uploads a tiny image (config blob, one layer,
  an OCI manifest) under a tag and returns the manifest digest.
* :class:`FixtureRegistry`, an aiohttp server covering what distribution 2.8
  lacks or what cannot be provoked on it: ``tags/list`` paging through
  ``n``/``last`` with a ``Link`` header (distribution 2.8 ignores both), the
  anonymous Bearer token challenge real registries answer (registry.k8s.io,
  ghcr.io, Docker Hub) with its token endpoint, optional credentials on that
  endpoint, and configurable failures (``500``, garbage bodies, slow
  answers, refused tokens). It counts requests so tests can tell whether a
  scan happened.

Both are ``async with`` services (:class:`AsyncService`); ``DockerRegistry``
also works as a plain ``with`` for synchronous tests::

    async with DockerRegistry(tmp_path, username="user", password="s3cret") as reg:
        digest = await reg.push_image("e2e/agnhost", "2.10")

    async with FixtureRegistry(bearer=True) as reg:
        reg.set_tags("e2e/agnhost", ["2.10", "2.57", "latest"])
        reg.page_size = 2   # the registry's own page limit when the client asks for more
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx
from aiohttp import web

from sluice.core.lifecycle import AsyncService

__all__ = [
    "OCI_MANIFEST",
    "DockerRegistry",
    "Failure",
    "FixtureRegistry",
    "free_port",
    "push_image",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

DOCKER_REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_parts(tag: str, *, layer: bytes | None = None,
                config: dict[str, Any] | None = None) -> tuple[bytes, bytes, bytes]:
    """A tiny image: ``(config, layer, manifest)`` bytes, distinct per tag unless given."""
    layer = layer if layer is not None else f"layer of {tag}\n".encode()
    config_bytes = json.dumps(config or {"architecture": "amd64", "os": "linux",
                                         "config": {"Labels": {"tag": tag}}},
                              sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": _digest(config_bytes),
                   "size": len(config_bytes)},
        "layers": [{"mediaType": OCI_LAYER, "digest": _digest(layer), "size": len(layer)}],
    }
    return config_bytes, layer, json.dumps(manifest, sort_keys=True).encode()


def push_image(base_url: str, name: str, tag: str, *, auth: tuple[str, str] | None = None,
               layer: bytes | None = None, config: dict[str, Any] | None = None,
               manifest: bytes | None = None, media_type: str = OCI_MANIFEST,
               blobs: Iterable[bytes] = ()) -> str:
    """Push an image to ``base_url`` (``http://host:port``) as ``name:tag``; return its digest.

    Without ``manifest``, a tiny OCI image (config + one layer) is built; with it,
    ``blobs`` are uploaded first and ``manifest`` is put as is (Helm charts, indexes).
    Synchronous (tests call it from threads or with :func:`asyncio.to_thread`).
    """
    if manifest is None:
        config_bytes, layer_bytes, manifest = image_parts(tag, layer=layer, config=config)
        blobs = [config_bytes, layer_bytes]
    with httpx.Client(base_url=base_url, auth=auth, timeout=30) as client:
        for blob in blobs:
            _upload_blob(client, name, blob)
        resp = client.put(f"/v2/{name}/manifests/{tag}", content=manifest,
                          headers={"Content-Type": media_type})
        resp.raise_for_status()
    return _digest(manifest)


def _upload_blob(client: httpx.Client, name: str, blob: bytes) -> None:
    digest = _digest(blob)
    if client.head(f"/v2/{name}/blobs/{digest}").status_code == 200:
        return
    start = client.post(f"/v2/{name}/blobs/uploads/")
    start.raise_for_status()
    location = start.headers["Location"]
    # httpx's params= would replace the upload URL's ``_state`` query, which
    # distribution then refuses (BLOB_UPLOAD_INVALID): append the digest by hand.
    sep = "&" if "?" in location else "?"
    put = client.put(f"{location}{sep}digest={quote(digest)}", content=blob,
                     headers={"Content-Type": "application/octet-stream"})
    put.raise_for_status()


class DockerRegistry(AsyncService):
    """Debian's ``docker-registry`` on a free loopback port, storage in ``root``."""

    def __init__(self, root: Path | None = None, *, username: str | None = None,
                 password: str | None = None, realm: str = "sluice-test-registry") -> None:
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="sluice-reg-"))
        self.username = username
        self.password = password
        self.realm = realm
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, the registry host as image references spell it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    def _config(self) -> str:
        storage = self.root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            # Distribution refuses to start without a secret when it cannot
            # share one; any value does for a single instance.
            "  secret: sluice-test-secret",
        ]
        if self.auth is not None:
            htpasswd = self.root / "htpasswd"
            subprocess.run([HTPASSWD, "-Bbc", str(htpasswd), self.username or "",
                            self.password or ""], check=True, capture_output=True)
            lines += ["auth:", "  htpasswd:", f"    realm: {self.realm}", f"    path: {htpasswd}"]
        return "\n".join(lines) + "\n"

    def start_sync(self, timeout: float = 20.0) -> None:
        """Start the registry and wait until ``/v2/`` answers (200, or 401 with auth)."""
        if self._proc is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):  # another process may grab the free port first
            self.port = free_port()
            cfg = self.root / "config.yml"
            cfg.write_text(self._config(), encoding="utf-8")
            self._log = open(self.log_path, "ab")  # closed in stop_sync
            self._proc = subprocess.Popen([DOCKER_REGISTRY, "serve", str(cfg)],
                                          stdout=self._log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL,
                                          env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
            if self._wait_ready(timeout):
                return
            self.stop_sync()
        raise RuntimeError(f"docker-registry did not start; see {self.log_path}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return False
            try:
                resp = httpx.get(f"{self.url}/v2/", timeout=1)
                if resp.status_code in (200, 401):
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def stop_sync(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def push_image(self, name: str, tag: str, **kwargs: Any) -> str:
        """Push a tiny image as ``name:tag`` (see :func:`push_image`); return its digest."""
        kwargs.setdefault("auth", self.auth)
        return push_image(self.url, name, tag, **kwargs)

    async def apush_image(self, name: str, tag: str, **kwargs: Any) -> str:
        """:meth:`push_image` in a worker thread, for async tests."""
        return await asyncio.to_thread(self.push_image, name, tag, **kwargs)

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    async def close(self) -> None:
        await asyncio.to_thread(self.stop_sync)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start_sync()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_sync()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)


Failure = Literal["500", "garbage", "slow", "refuse-token", "404"] | None


class FixtureRegistry(AsyncService):
    """An aiohttp OCI registry with paging, Bearer/Basic challenges and injectable failures.

    * ``set_tags(name, tags)``: the repository's tags; manifests are synthesised
      per tag (the digest changes when ``set_tags`` is given a new ``revision``).
    * ``page_size``: the most tags one ``tags/list`` page holds, whatever ``n``
      the client asks for (real registries cap ``n``: Docker Hub at 100,
      GHCR at 1000); ``None`` means the client's ``n`` or everything.
    * ``bearer=True``: every ``/v2/`` request without a valid token gets
      ``401`` and ``WWW-Authenticate: Bearer realm=<token url>,service=...,scope=...``;
      the token endpoint checks ``username``/``password`` when set (Basic),
      else hands out anonymous tokens. ``bearer=False`` with credentials is
      plain Basic auth.
    * ``failure``: ``"500"``, ``"garbage"`` (200 with a non-JSON body),
      ``"slow"`` (answers after ``slow_seconds``), ``"refuse-token"`` (the token
      endpoint answers 401), ``"404"`` (repository unknown), or ``None``.
    * ``requests``: a Counter of ``(method, path)`` served, ``tag_list_calls``
      the number of ``tags/list`` pages served.
    """

    def __init__(self, *, bearer: bool = False, username: str | None = None,
                 password: str | None = None, page_size: int | None = None,
                 service: str = "sluice-fixture-registry") -> None:
        self.bearer = bearer
        self.username = username
        self.password = password
        self.page_size = page_size
        self.service = service
        self.failure: Failure = None
        self.slow_seconds = 5.0
        self.port = 0
        self.requests: Counter[tuple[str, str]] = Counter()
        self.tag_list_calls = 0
        self.authorizations: list[str] = []  # Authorization headers seen on /v2/ (tests check leaks)
        self._repos: dict[str, list[str]] = {}
        self._revisions: dict[str, str] = {}
        self._token = "tok-" + hashlib.sha256(os.urandom(16)).hexdigest()[:24]
        self._runner: web.AppRunner | None = None

    # -- configuration -----------------------------------------------------------------------
    def set_tags(self, name: str, tags: Iterable[str], revision: str = "1") -> None:
        """Serve ``tags`` for repository ``name`` (kept in lexical order, as distribution does)."""
        self._repos[name] = sorted(set(tags))
        self._revisions[name] = revision

    def add_tag(self, name: str, tag: str) -> None:
        self.set_tags(name, [*self._repos.get(name, []), tag], self._revisions.get(name, "1"))

    def manifest(self, name: str, tag: str) -> bytes:
        """The manifest served for ``name:tag`` (its digest is what a HEAD reports)."""
        return image_parts(f"{name}:{tag}@{self._revisions.get(name, '1')}")[2]

    def digest(self, name: str, tag: str) -> str:
        return _digest(self.manifest(name, tag))

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/token", self._token_endpoint)
        app.router.add_route("*", "/v2/{tail:.*}", self._v2)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- auth --------------------------------------------------------------------------------
    def _basic_ok(self, header: str) -> bool:
        if self.username is None:
            return True
        if not header.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(
            pw, self.password or "")

    def _challenge(self, scope: str | None) -> web.Response:
        if self.bearer:
            value = f'Bearer realm="{self.url}/token",service="{self.service}"'
            if scope:
                value += f',scope="{scope}"'
        else:
            value = 'Basic realm="sluice-fixture-registry"'
        body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required",
                            "detail": None}]}
        return web.json_response(body, status=401, headers={"WWW-Authenticate": value})

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.bearer:
            return hmac.compare_digest(header, f"Bearer {self._token}")
        if self.username is not None:
            return self._basic_ok(header)
        return True

    async def _token_endpoint(self, request: web.Request) -> web.Response:
        self.requests[("GET", "/token")] += 1
        if self.failure == "refuse-token" or not self._basic_ok(
                request.headers.get("Authorization", "")):
            return web.json_response({"details": "incorrect username or password"}, status=401)
        return web.json_response({"token": self._token, "access_token": self._token,
                                  "expires_in": 300})

    # -- distribution API --------------------------------------------------------------------
    async def _v2(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        self.requests[(request.method, request.path)] += 1
        if "Authorization" in request.headers:
            self.authorizations.append(request.headers["Authorization"])
        name, kind, ref = _split(tail)
        scope = f"repository:{name}:pull" if name else None
        if not self._authorized(request):
            return self._challenge(scope)
        if self.failure == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.failure == "500":
            return web.json_response({"errors": [{"code": "UNKNOWN", "message": "boom"}]},
                                     status=500)
        if tail == "":
            return web.json_response({})
        if self.failure == "404" or name not in self._repos:
            return web.json_response({"errors": [{"code": "NAME_UNKNOWN",
                                                  "message": "repository name not known to registry",
                                                  "detail": {"name": name}}]}, status=404)
        if kind == "tags":
            return self._tags(request, name)
        if kind == "manifests" and request.method in ("GET", "HEAD"):
            return self._manifest(request, name, ref)
        return web.json_response({"errors": [{"code": "UNSUPPORTED"}]}, status=405)

    def _tags(self, request: web.Request, name: str) -> web.Response:
        self.tag_list_calls += 1
        if self.failure == "garbage":
            return web.Response(body=b"<html>not a registry</html>", content_type="text/html")
        tags = self._repos[name]
        last = request.query.get("last")
        if last:
            tags = [t for t in tags if t > last]
        limit: int | None = None
        if "n" in request.query:
            with contextlib.suppress(ValueError):
                limit = int(request.query["n"])
        if self.page_size is not None:
            limit = self.page_size if limit is None else min(limit, self.page_size)
        headers: dict[str, str] = {}
        if limit is not None and len(tags) > limit:
            tags = tags[:limit]
            headers["Link"] = (f'</v2/{name}/tags/list?last={quote(tags[-1], safe="")}'
                               f'&n={limit}>; rel="next"')
        return web.json_response({"name": name, "tags": tags}, headers=headers)

    def _manifest(self, request: web.Request, name: str, ref: str) -> web.Response:
        if ref.startswith("sha256:"):
            tag = next((t for t in self._repos[name] if self.digest(name, t) == ref), None)
        else:
            tag = ref if ref in self._repos[name] else None
        if tag is None:
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN",
                                                  "message": "manifest unknown"}]}, status=404)
        body = self.manifest(name, tag)
        headers = {"Docker-Content-Digest": _digest(body), "Content-Type": OCI_MANIFEST}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return web.Response(status=200, headers=headers)
        return web.Response(body=body, headers=headers)


def _split(tail: str) -> tuple[str, str, str]:
    """``e2e/agnhost/tags/list`` -> ``(e2e/agnhost, tags, list)``; ``''`` -> ``('', '', '')``."""
    for kind in ("tags", "manifests", "blobs"):
        marker = f"/{kind}/"
        if marker in tail:
            name, _, ref = tail.rpartition(marker)
            return name, kind, ref
    return "", "", ""
