"""Helm HTTP repositories: fetch ``index.yaml``, pick a chart version, download the archive.

The HelmRepository reconciler fetches the index (`fetch_index`), checks it
parses as Helm's ``repo.IndexFile`` does (`load_index`) and stores it as JSON,
as source-controller does. The HelmChart reconciler loads that stored index
(`load_index` again, cached by artifact path in `IndexCache`), resolves
``spec.version`` with Flux's rules (`select_version`) and downloads the
archive (`download_chart`), checking it against the index's digest.

Flux's rules matched here:

* an exact string match of the version wins; otherwise the highest version
  satisfying the Masterminds constraint; ``""`` and ``*`` mean the latest
  stable version; candidates must be strict ``MAJOR.MINOR.PATCH`` versions;
* chart URLs may be relative to the repository URL;
* credentials go only to the repository's own host unless ``passCredentials``;
* errors read as Flux's (``failed to fetch https://…/index.yaml : 401
  Unauthorized``, ``no 'podinfo' chart with version matching '>=9' found``)
  and never carry a credential.

Blocking work (parsing indexes of many megabytes) runs on bounded worker
threads; HTTP is async with ``httpx``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from sluice.controllers.source.errors import SourceError
from sluice.controllers.source.helmauth import RepositoryAuth
from sluice.core.deadlines import call_deadline
from sluice.core.semver import SemverError, parse_constraint, parse_version
from sluice.helmsdk import helm, run

__all__ = [
    "ChartVersion",
    "HelmIndex",
    "IndexCache",
    "IndexError_",
    "RepositoryError",
    "download_chart",
    "fetch_index",
    "human_size",
    "load_index",
    "normalize_url",
    "select_version",
]

# source-controller's --helm-index-max-size default (50 MiB).
MAX_INDEX_SIZE = 50 << 20
# Helm's default chart size cap.
MAX_CHART_SIZE = 10 << 20


class RepositoryError(SourceError):
    """The repository could not be reached or refused a request (reason `Failed`)."""

    reason = "Failed"


class IndexError_(SourceError):
    """The index is not a Helm repository index (reason `IndexationFailed`)."""

    reason = "IndexationFailed"


@dataclass(frozen=True)
class ChartVersion:
    """One entry of an index: a chart name, version, archive URLs and digest."""

    name: str
    version: str
    urls: tuple[str, ...]
    digest: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class HelmIndex:
    """A parsed index: chart name -> entries (any order)."""

    entries: Mapping[str, list[Mapping[str, Any]]]
    raw: Mapping[str, Any]

    def to_json(self) -> bytes:
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":")).encode()


def normalize_url(url: str) -> str:
    """Flux's `repository.NormalizeURL`: the URL without trailing slashes."""
    return url.rstrip("/")


def _base(url: str) -> str:
    """The repository URL as a base for relative chart URLs (one trailing slash)."""
    return normalize_url(url) + "/"


def human_size(size: int) -> str:
    """Go's `units.HumanSize`: decimal units, four significant digits (``1.234kB``)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    value, i = float(size), 0
    while value >= 1000 and i < len(units) - 1:
        value /= 1000
        i += 1
    return f"{value:.4g}{units[i]}"


def load_index(data: bytes) -> HelmIndex:
    """Parse and check an index as Helm's `loadIndex` does (JSON or YAML); blocking.

    YAML goes through Helm's own converter (sigs.k8s.io/yaml, in Go): the same
    semantics as Helm (timestamps stay strings, the same error text) and about
    six times faster than PyYAML's C loader on multi-megabyte indexes. JSON
    (what we store) is read with the standard library.
    """
    raw: Any = None
    if data.lstrip()[:1] == b"{":
        try:
            raw = json.loads(data)
        except ValueError:
            raw = None
    if raw is None:
        h = helm()
        try:
            raw = h.values_from_yaml(data.decode("utf-8", "replace"))
        except h.HelmError as exc:
            raise IndexError_(" ".join(str(exc).split())) from None
    if not isinstance(raw, dict):
        raise IndexError_("no API version specified")
    if not raw.get("apiVersion"):
        raise IndexError_("no API version specified")
    entries = raw.get("entries") or {}
    if not isinstance(entries, dict):
        raise IndexError_("'entries' is not a map of chart names")
    clean: dict[str, list[Mapping[str, Any]]] = {}
    for name, versions in entries.items():
        # Helm drops invalid entries with a log line instead of failing the index.
        clean[str(name)] = [v for v in versions or [] if isinstance(v, dict)
                            and v.get("version") is not None]
    return HelmIndex(clean, raw)


def select_version(index: HelmIndex, name: str, version: str | None) -> ChartVersion:
    """Flux's `ChartRepository.Get`: exact match, else highest matching version."""
    entries = index.entries.get(name)
    if entries is None:
        raise SourceError("no chart name found")
    if not entries:
        raise SourceError("no chart version found")
    wanted = (version or "").strip()
    chosen: Mapping[str, Any] | None = None
    if wanted:
        chosen = next((e for e in entries if str(e.get("version")) == wanted), None)
    if chosen is None:
        try:
            constraint = parse_constraint("*" if wanted in ("", "*") else wanted)
        except SemverError as exc:
            raise SourceError(f"improper constraint: {wanted}: {exc}") from None
        best = None
        for entry in entries:
            try:
                v = parse_version(str(entry.get("version")), strict=True)
            except SemverError:
                continue
            if constraint.check(v) and (best is None or v > best[0]):
                best = (v, entry)
        if best is None:
            raise SourceError(f"no '{name}' chart with version matching '{version or ''}' found")
        chosen = best[1]
    return ChartVersion(name=str(chosen.get("name") or name), version=str(chosen["version"]),
                        urls=tuple(str(u) for u in chosen.get("urls") or ()),
                        digest=str(chosen.get("digest") or ""), metadata=chosen)


def _client(auth: RepositoryAuth, timeout: float, insecure: bool = False) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=auth.ssl_context(insecure), timeout=timeout,
                             follow_redirects=True)


def _transport_error(url: str, exc: Exception, auth: RepositoryAuth, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"failed to fetch {url} : timeout after {timeout:g}s"
    cause: BaseException | None = exc
    while cause is not None:
        # httpx says "All connection attempts failed"; Go (and Flux) name the cause.
        if isinstance(cause, ConnectionRefusedError):
            return f"failed to fetch {url} : dial tcp {urlsplit(url).netloc}: connect: " \
                   "connection refused"
        cause = cause.__cause__ or cause.__context__
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return auth.scrub(f"failed to fetch {url} : {detail}")


async def _get(client: httpx.AsyncClient, url: str, auth: RepositoryAuth, send_auth: bool,
               limit: int, timeout: float) -> bytes:  # noqa: ASYNC109
    # One deadline for the whole download, as Flux's HTTP client has (see
    # `sluice.core.deadlines`).
    try:
        async with call_deadline(timeout):
            return await _download(client, url, auth, send_auth, limit)
    except TimeoutError:
        raise RepositoryError(f"failed to fetch {url} : timeout after {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise RepositoryError(_transport_error(url, exc, auth, timeout)) from None


async def _download(client: httpx.AsyncClient, url: str, auth: RepositoryAuth, send_auth: bool,
                    limit: int) -> bytes:
    async with client.stream("GET", url, auth=auth.basic() if send_auth else None) as resp:
        if resp.status_code != 200:
            raise RepositoryError(f"failed to fetch {url} : {resp.status_code} "
                                  f"{resp.reason_phrase}")
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise RepositoryError(f"failed to fetch {url} : size exceeds the limit "
                                      f"of {limit} bytes")
        return bytes(body)


async def fetch_index(url: str, auth: RepositoryAuth, *, timeout: float,  # noqa: ASYNC109
                      max_size: int = MAX_INDEX_SIZE) -> bytes:
    """The raw bytes of ``<url>/index.yaml``."""
    index_url = urljoin(_base(url), "index.yaml")
    async with _client(auth, timeout) as client:
        return await _get(client, index_url, auth, True, max_size, timeout)


def chart_url(repo_url: str, chart: ChartVersion) -> str:
    if not chart.urls:
        raise SourceError(f"chart '{chart.name}' version '{chart.version}' has no downloadable "
                          "URLs")
    return urljoin(_base(repo_url), chart.urls[0])


async def download_chart(repo_url: str, chart: ChartVersion, auth: RepositoryAuth, *,
                         timeout: float, pass_credentials: bool = False  # noqa: ASYNC109
                         ) -> bytes:
    """The archive of ``chart``; credentials only to the repository host (or passCredentials)."""
    url = chart_url(repo_url, chart)
    same_host = urlsplit(url).netloc == urlsplit(_base(repo_url)).netloc
    async with _client(auth, timeout) as client:
        data = await _get(client, url, auth, same_host or pass_credentials, MAX_CHART_SIZE,
                          timeout)
    if chart.digest:
        got = hashlib.sha256(data).hexdigest()
        if got != chart.digest.removeprefix("sha256:"):
            raise RepositoryError(f"failed to verify chart '{chart.name}' version "
                                  f"'{chart.version}': digest mismatch: expected "
                                  f"'sha256:{chart.digest.removeprefix('sha256:')}', got "
                                  f"'sha256:{got}'")
    return data


class IndexCache:
    """Parsed indexes by stored artifact path, expiring ``ttl`` seconds after last use.

    source-controller's ``--helm-cache-ttl`` (15m): every read extends the
    entry's life, and the cache key is the artifact path, so a new index
    revision (a new path) is never served from an old entry.
    """

    def __init__(self, ttl: float = 900.0, max_entries: int = 256) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, HelmIndex]] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, path: Path, key: str) -> HelmIndex:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            self._entries[key] = (now, hit[1])
            self.hits += 1
            return hit[1]
        self.misses += 1
        data = await asyncio.to_thread(path.read_bytes)
        index = await run(load_index, data)
        self._entries[key] = (now, index)
        if len(self._entries) > self.max_entries:
            stale = sorted(self._entries.items(), key=lambda kv: kv[1][0])
            for old, _ in stale[: len(self._entries) - self.max_entries]:
                del self._entries[old]
        return index
