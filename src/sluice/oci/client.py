"""An async client for one registry repository: ping, auth challenge, tags, digests.

What the image reflector needs from the OCI distribution API, done the way
go-containerregistry (Flux's client) does it:

* **ping** ``GET /v2/`` first; HTTPS, falling back to plain HTTP only for
  ``insecure`` repositories and loopback/private hosts (`Repository.schemes`);
* **auth**: the ping's ``401`` carries ``WWW-Authenticate``. ``Bearer
  realm=...,service=...`` means fetching a token from the realm for
  ``scope=repository:<path>:pull`` (anonymously, or with Basic credentials
  when some are configured: registry.k8s.io, ghcr.io and Docker Hub all hand
  anonymous tokens out); ``Basic`` means sending the credentials with every
  request. A ``401``/``403`` after that is `AuthenticationFailed`;
* **tags**: ``GET /v2/<name>/tags/list?n=<page>`` and every next page from
  the ``Link: <...>; rel="next"`` header (relative or absolute), until
  there is none; registries cap ``n`` as they like (Docker Hub 100, GHCR
  1000), so the header, not the page size, decides the end;
* **digests**: ``HEAD /v2/<name>/manifests/<ref>`` and its
  ``Docker-Content-Digest``, with ``GET`` (digest computed from the body) for
  registries that answer HEAD without it.

Errors carry go-containerregistry's wording (``GET <url>: UNAUTHORIZED:
authentication required``, ``unexpected status code 500 Internal Server
Error: ...``) so Flux users recognise them; URLs never hold credentials and
every message is scrubbed of the configured secrets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import ssl
import tempfile
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin

import httpx

from sluice.oci.credentials import ANONYMOUS, Credentials
from sluice.oci.errors import (
    AuthenticationFailed,
    CredentialsError,
    InvalidResponse,
    OCIError,
    RegistryError,
    TransportError,
)
from sluice.oci.names import Repository

__all__ = ["DEFAULT_PAGE_SIZE", "MANIFEST_ACCEPT", "ClientOptions", "RegistryClient"]

DEFAULT_PAGE_SIZE = 1000
USER_AGENT = "sluice-image-reflector"
MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
))
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


@dataclass
class ClientOptions:
    """How to reach a registry: credentials, TLS material, proxy, per-request timeout."""

    credentials: Credentials = ANONYMOUS
    ca_pem: bytes | None = field(default=None, repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    # Full proxy URL, credentials included (``http://user:pass@host:port``).
    proxy: str | None = field(default=None, repr=False)
    proxy_secrets: tuple[str, ...] = field(default=(), repr=False)
    timeout: float = 30.0
    user_agent: str = USER_AGENT

    def secrets(self) -> tuple[str, ...]:
        return (*self.credentials.secrets(), *self.proxy_secrets)


def _ssl_context(opts: ClientOptions) -> ssl.SSLContext | bool:
    if opts.ca_pem is None and opts.cert_pem is None:
        return True
    ctx = ssl.create_default_context()
    try:
        if opts.ca_pem is not None:
            ctx.load_verify_locations(cadata=opts.ca_pem.decode())
        if opts.cert_pem is not None or opts.key_pem is not None:
            if opts.cert_pem is None or opts.key_pem is None:
                raise CredentialsError("a client certificate needs both 'tls.crt' and 'tls.key'")
            # The ssl module loads key pairs from files only: write them, private, briefly.
            with tempfile.TemporaryDirectory(prefix="sluice-oci-tls-") as tmp:
                cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
                for path, data in ((cert, opts.cert_pem), (key, opts.key_pem)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(data)
                ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"invalid TLS material: {exc}") from None
    return ctx


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ``("bearer", {"realm": "x", "service": "y"})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): (m[2] if m[2] is not None else m[3])
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


def _status_text(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _diagnostics(body: bytes) -> str | None:
    """The registry's ``{"errors": [...]}`` as go-containerregistry prints them."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    parts = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        text = f"{err.get('code', 'UNKNOWN')}: {err.get('message', '')}"
        parts.append(text)
    return "; ".join(parts) or None


def _refused(exc: BaseException) -> bool:
    """Whether a connection error comes from a refused connection (httpx hides the errno)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _json_error(body: bytes) -> str:
    """Go's ``encoding/json`` wording for a body that is not JSON (users see this for HTML)."""
    text = body.lstrip()
    if not text:
        return "unexpected end of JSON input"
    first = chr(text[0])
    return f"invalid character '{first}' looking for beginning of value"


class RegistryClient:
    """Talks to one repository of one registry; use as ``async with``."""

    def __init__(self, repository: Repository, options: ClientOptions | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.repository = repository
        self.options = options or ClientOptions()
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._base: str | None = None
        self._authorization: str | None = None
        self._challenge: tuple[str, dict[str, str]] | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def open(self) -> None:
        if self._http is not None:
            return
        verify = await asyncio.to_thread(_ssl_context, self.options)
        self._http = httpx.AsyncClient(
            verify=verify, proxy=self.options.proxy, transport=self._transport,
            timeout=self.options.timeout, follow_redirects=True, trust_env=False,
            headers={"User-Agent": self.options.user_agent})

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ----------------------------------------------------------------- errors
    def _scrub(self, text: str) -> str:
        for secret in self.options.secrets():
            text = text.replace(secret, "***")
        if self._authorization:
            text = text.replace(self._authorization, "***")
        return text

    def _transport_error(self, method: str, url: str, exc: Exception) -> TransportError:
        if isinstance(exc, httpx.TimeoutException):
            reason = "context deadline exceeded"
        elif isinstance(exc, httpx.ConnectError) and _refused(exc):
            reason = "connect: connection refused"
        else:
            reason = str(exc) or type(exc).__name__
        return TransportError(self._scrub(f'{method.capitalize()} "{url}": {reason}'))

    def _status_error(self, resp: httpx.Response) -> RegistryError:
        method, url = resp.request.method, str(resp.request.url)
        code = resp.status_code
        detail = _diagnostics(resp.content)
        if detail is None:
            body = resp.content.decode("utf-8", "replace").strip()[:512]
            detail = f"unexpected status code {code} {_status_text(code)}"
            if body:
                detail += f": {body}"
            elif method == "HEAD":
                detail += " (HEAD responses have no body, use GET for details)"
        message = self._scrub(f"{method} {url}: {detail}")
        if code in (401, 403):
            return AuthenticationFailed(message, code)
        return RegistryError(message, code)

    # -------------------------------------------------------------- transport
    async def _send(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                    auth: tuple[str, str] | None = None,
                    params: dict[str, str] | None = None) -> httpx.Response:
        assert self._http is not None, "RegistryClient used outside 'async with'"
        try:
            return await self._http.request(method, url, headers=headers, auth=auth,
                                            params=params)
        except httpx.HTTPError as exc:
            raise self._transport_error(method, url, exc) from None

    async def _ping(self) -> None:
        """Find the scheme that answers ``/v2/`` and how it wants us to authenticate."""
        last: OCIError | None = None
        for scheme in self.repository.schemes():
            base = f"{scheme}://{self.repository.api_host}"
            try:
                resp = await self._send("GET", f"{base}/v2/")
            except TransportError as exc:
                last = exc
                continue
            self._base = base
            if resp.status_code == 401:
                header = resp.headers.get("WWW-Authenticate", "")
                self._challenge = parse_challenge(header) if header else ("basic", {})
            elif resp.status_code >= 400 and resp.status_code != 404:
                # Some registries answer /v2/ with 404; the real request tells more.
                raise self._status_error(resp)
            return
        assert last is not None
        raise last

    async def _authenticate(self, scope: str) -> None:
        creds = self.options.credentials
        assert self._challenge is not None
        scheme, params = self._challenge
        if scheme == "bearer" and params.get("realm"):
            query = {"scope": scope}
            if params.get("service"):
                query["service"] = params["service"]
            auth = None if creds.anonymous else (creds.username, creds.password)
            resp = await self._send("GET", params["realm"], params=query, auth=auth)
            if resp.status_code >= 400:
                raise self._status_error(resp)
            try:
                doc = resp.json()
                token = doc.get("token") or doc.get("access_token")
            except (ValueError, AttributeError):
                token = None
            if not isinstance(token, str) or not token:
                raise InvalidResponse(self._scrub(
                    f"GET {params['realm']}: no token in the token service's answer"))
            self._authorization = f"Bearer {token}"
        elif not creds.anonymous:
            raw = f"{creds.username}:{creds.password}".encode()
            self._authorization = "Basic " + base64.b64encode(raw).decode()
        # Anonymous against a Basic challenge: the request itself will answer 401.

    async def _get(self, method: str, path_or_url: str, *,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        if self._base is None:
            await self._ping()
            if self._challenge is not None:
                await self._authenticate(f"repository:{self.repository.path}:pull")
        assert self._base is not None
        url = path_or_url if "://" in path_or_url else f"{self._base}{path_or_url}"
        sent = dict(headers or {})
        if self._authorization:
            sent["Authorization"] = self._authorization
        resp = await self._send(method, url, headers=sent)
        if resp.status_code == 401 and self._challenge is None:
            # No challenge at ping time (an open /v2/), but this repository wants one.
            header = resp.headers.get("WWW-Authenticate", "")
            if header:
                self._challenge = parse_challenge(header)
                await self._authenticate(self._challenge[1].get(
                    "scope", f"repository:{self.repository.path}:pull"))
                if self._authorization:
                    sent["Authorization"] = self._authorization
                    resp = await self._send(method, url, headers=sent)
        if resp.status_code >= 400:
            raise self._status_error(resp)
        return resp

    # -------------------------------------------------------------------- API
    async def list_tags(self, page_size: int = DEFAULT_PAGE_SIZE) -> list[str]:
        """Every tag of the repository, following ``Link`` pages to the end."""
        url: str | None = f"/v2/{self.repository.path}/tags/list"
        if page_size > 0:
            url = f"{url}?n={page_size}"
        tags: list[str] = []
        seen: set[str] = set()
        while url is not None:
            resp = await self._get("GET", url)
            full = str(resp.request.url)
            try:
                doc = json.loads(resp.content)
            except (ValueError, UnicodeDecodeError):
                raise InvalidResponse(self._scrub(f"GET {full}: {_json_error(resp.content)}")
                                      ) from None
            page = doc.get("tags") if isinstance(doc, dict) else None
            if page is None and isinstance(doc, dict) and "tags" in doc:
                page = []  # distribution answers "tags": null for an empty repository
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise InvalidResponse(self._scrub(
                    f"GET {full}: the answer holds no 'tags' list"))
            tags.extend(page)
            url = None
            for match in _LINK_NEXT.finditer(resp.headers.get("Link", "")):
                url = urljoin(full, match[1])
            if url is not None:
                if url in seen:  # a registry looping on its own page: stop, not spin
                    raise InvalidResponse(self._scrub(f"GET {full}: the next page link loops"))
                seen.add(url)
        return tags

    async def head_digest(self, reference: str) -> str:
        """The digest of the manifest ``reference`` (a tag or a digest) points at."""
        path = f"/v2/{self.repository.path}/manifests/{reference}"
        headers = {"Accept": MANIFEST_ACCEPT}
        resp = await self._get("HEAD", path, headers=headers)
        digest = resp.headers.get("Docker-Content-Digest")
        if digest:
            return str(digest)
        body = (await self._get("GET", path, headers=headers)).content
        return "sha256:" + hashlib.sha256(body).hexdigest()

    async def get_manifest(self, reference: str) -> tuple[bytes, str, str]:
        """``(body, media type, digest)`` of the manifest ``reference`` points at."""
        path = f"/v2/{self.repository.path}/manifests/{reference}"
        resp = await self._get("GET", path, headers={"Accept": MANIFEST_ACCEPT})
        digest = resp.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(resp.content).hexdigest())
        return resp.content, resp.headers.get("Content-Type", ""), digest

    def describe(self) -> dict[str, Any]:
        """For logs: where this client talks to (no credentials)."""
        return {"repository": str(self.repository), "base": self._base,
                "auth": self._challenge[0] if self._challenge else "none"}
