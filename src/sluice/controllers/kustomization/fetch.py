"""Downloading a source's artifact for a Kustomization: retries, digest check, safe extraction.

kustomize-controller never reads a Git repository itself: it downloads the
tarball a source controller advertises in ``status.artifact.url`` and
checks it against ``status.artifact.digest`` before trusting a byte of it.
`fetch_artifact` does the same:

* the download is retried on connection errors and 5xx answers (Flux's
  ``--http-retry``, 9 by default) with a capped exponential delay, but not
  on a 404: a missing file means the source moved on (it garbage-collected
  the artifact after a new revision) and the reconciler waits for the
  source instead (`ArtifactNotFound`);
* the body is streamed to a temporary file while being hashed with the
  digest's algorithm (``sha256:``, ``sha384:``, ``sha512:``); a mismatch
  fails with Flux's message and nothing is extracted;
* extraction goes through `sluice.core.tarballs`, which refuses absolute
  paths, ``..``, links leaving the destination and device files.

Every failure is an `ArtifactFetchError` whose message is safe to show
(artifact URLs carry no credentials).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

import httpx

from sluice.core import tarballs

__all__ = ["ArtifactFetchError", "ArtifactNotFound", "fetch_artifact", "verify_digest"]

_ALGORITHMS = ("sha256", "sha384", "sha512")
_CHUNK = 1 << 16


class ArtifactFetchError(Exception):
    """The artifact could not be downloaded, verified or extracted."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ArtifactNotFound(ArtifactFetchError):
    """The artifact server answered 404: the source has not (re)published it yet."""


class _Retryable(ArtifactFetchError):
    """An HTTP error answer; ``retry`` for server errors (5xx)."""

    def __init__(self, retry: bool, message: str) -> None:
        super().__init__(message)
        self.retry = retry


def _hasher(digest: str) -> tuple[hashlib._Hash, str]:
    algorithm, sep, expected = digest.partition(":")
    if not sep or not expected:
        raise ArtifactFetchError(f"failed to verify artifact: invalid digest '{digest}'")
    if algorithm not in _ALGORITHMS:
        raise ArtifactFetchError(
            f"failed to verify artifact: unsupported digest algorithm '{algorithm}'")
    return hashlib.new(algorithm), expected.lower()


def verify_digest(path: Path, digest: str) -> None:
    """Check a downloaded file against ``<algorithm>:<hex>``; `ArtifactFetchError` if it differs."""
    hasher, expected = _hasher(digest)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    if hasher.hexdigest() != expected:
        raise ArtifactFetchError(
            f"failed to verify artifact: computed digest doesn't match '{digest}'")


async def _download(client: httpx.AsyncClient, url: str, target: Path,
                    digest: str | None) -> None:
    hasher, expected = _hasher(digest) if digest else (None, "")
    async with client.stream("GET", url) as resp:
        if resp.status_code == 404:
            raise ArtifactNotFound(
                f"failed to download archive from {url}, status: 404 Not Found")
        if resp.status_code != 200:
            raise _Retryable(resp.status_code >= 500,
                             f"failed to download archive from {url}, status: "
                             f"{resp.status_code} {resp.reason_phrase}")
        with target.open("wb") as out:
            async for chunk in resp.aiter_bytes(_CHUNK):
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
    if hasher is not None and hasher.hexdigest() != expected:
        raise ArtifactFetchError(
            f"failed to verify artifact: computed digest doesn't match '{digest}'")


def _temporary_archive(dest: Path) -> Path:
    """Create ``dest`` and an empty file next to it for the download."""
    dest.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".artifact-", suffix=".tar.gz", dir=dest.parent)
    os.close(fd)
    return Path(name)


async def fetch_artifact(url: str, digest: str | None, dest: Path, *, retries: int = 9,
                         timeout: float = 60.0,  # noqa: ASYNC109 - per-request HTTP timeout
                         retry_wait: float = 0.5, max_retry_wait: float = 5.0,
                         client: httpx.AsyncClient | None = None) -> int:
    """Download ``url`` into ``dest`` (extracted); returns the number of entries.

    ``digest`` (``sha256:<hex>``) is verified before extraction; an empty
    digest skips the check (sources older than Flux v2.1 published only a
    checksum). Raises `ArtifactNotFound` on 404 and `ArtifactFetchError`
    otherwise.
    """
    archive = await asyncio.to_thread(_temporary_archive, dest)
    owned = client is None
    http = client or httpx.AsyncClient(timeout=timeout, follow_redirects=True)
    try:
        delay = retry_wait
        attempt = 0
        while True:
            try:
                await _download(http, url, archive, digest)
                break
            except _Retryable as exc:
                if not exc.retry or attempt >= retries:
                    raise ArtifactFetchError(exc.message) from None
            except httpx.HTTPError as exc:
                if attempt >= retries:
                    detail = str(exc) or type(exc).__name__
                    raise ArtifactFetchError(
                        f"failed to download archive from {url}, error: {detail}") from None
            attempt += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_retry_wait)
        try:
            return await asyncio.to_thread(tarballs.extract, archive, dest)
        except tarballs.ArchiveError as exc:
            detail = str(exc)
            if not detail.startswith("failed to extract archive"):
                detail = f"failed to extract archive, error: {detail}"
            raise ArtifactFetchError(detail) from None
    finally:
        if owned:
            await http.aclose()
        await asyncio.to_thread(archive.unlink, True)
