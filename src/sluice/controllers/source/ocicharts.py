"""Helm charts in OCI registries (``type: oci`` HelmRepositories), over Sluice's registry client.

A HelmChart whose HelmRepository is ``type: oci`` resolves its version
against the registry's tags and pulls ``oci://<repo url>/<chart>:<tag>`` as
source-controller's `OCIChartRepository` does:

* an exact tag match wins (``+`` in a version is ``_`` in a tag); otherwise
  the highest strict semver tag satisfying the constraint, ``*``/empty
  meaning the latest stable one;
* the chart is the manifest's Helm chart layer
  (``application/vnd.cncf.helm.chart.content.v1.tar+gzip``), checked
  against its digest;
* credentials (username/password, or the dockerconfigjson entry of the
  registry host) go to that registry only; the repository's CA and client
  certificate are used; ``insecure`` allows plain HTTP.

Why not Helm's own registry client (`helm_python.RegistryClient`): its Go
HTTP client has no deadline, so a registry that accepts TCP and never
answers held a Helm worker thread (one of the few every HelmRelease shares)
until the connection died (issue 15). `sluice.oci` is async: the whole
call is bounded by the HelmRepository's ``spec.timeout`` and its
connections are closed when it ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sluice.controllers.source.errors import SourceError
from sluice.controllers.source.helmauth import RepositoryAuth
from sluice.core.deadlines import call_deadline
from sluice.core.semver import SemverError, parse_constraint, parse_version
from sluice.oci.client import ClientOptions
from sluice.oci.credentials import ANONYMOUS, Credentials
from sluice.oci.errors import InvalidReference, OCIError
from sluice.oci.names import Repository, parse_repository
from sluice.oci.pull import PullClient, parse_manifest

T = TypeVar("T")

__all__ = ["OCIChartError", "pull_oci_chart", "resolve_oci_chart", "select_tag"]


class OCIChartError(SourceError):
    reason = "Failed"


def select_tag(tags: list[str], name: str, version: str | None) -> str:
    """The tag for ``version`` among ``tags``, by Flux's rules."""
    wanted = (version or "").strip()
    if wanted and wanted.replace("+", "_") in tags:
        return wanted.replace("+", "_")
    try:
        constraint = parse_constraint("*" if wanted in ("", "*") else wanted)
    except SemverError as exc:
        raise SourceError(f"improper constraint: {wanted}: {exc}") from None
    best = None
    for tag in tags:
        try:
            v = parse_version(tag.replace("_", "+"), strict=True)
        except SemverError:
            continue
        if constraint.check(v) and (best is None or v > best[0]):
            best = (v, tag)
    if best is None:
        raise SourceError(f"could not get a chart version matching '{version or ''}' for "
                          f"'{name}'" if not tags else
                          f"no '{name}' chart with version matching '{version or ''}' found")
    return best[1]


CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def _repository(repo_url: str, name: str, insecure: bool) -> Repository:
    path = f"{repo_url.removeprefix('oci://').rstrip('/')}/{name}"
    try:
        return parse_repository(path, insecure=insecure)
    except InvalidReference as exc:
        raise OCIChartError(f"invalid OCI reference '{path}': {exc}") from None


def _options(auth: RepositoryAuth, timeout: float) -> ClientOptions:
    creds = Credentials(auth.username, auth.password) if auth.has_login else ANONYMOUS
    return ClientOptions(credentials=creds, ca_pem=auth.ca or None, cert_pem=auth.cert or None,
                         key_pem=auth.key or None, timeout=timeout)


async def _within(limit: float, call: Callable[[], Awaitable[T]], auth: RepositoryAuth,
                  what: str) -> T:
    # One deadline for the whole call (see `sluice.core.deadlines`).
    try:
        async with call_deadline(limit):
            return await call()
    except TimeoutError:
        raise OCIChartError(f"{what}: context deadline exceeded") from None
    except OCIError as exc:
        raise OCIChartError(auth.scrub(" ".join(str(exc).split()))) from None


async def resolve_oci_chart(repo_url: str, name: str, version: str | None,
                            auth: RepositoryAuth, *, insecure: bool = False,
                            timeout: float = 60.0) -> str:  # noqa: ASYNC109
    """The tag of chart ``name`` under ``repo_url`` matching ``version``."""
    repository = _repository(repo_url, name, insecure)

    async def tags() -> list[str]:
        async with PullClient(repository, _options(auth, timeout)) as client:
            return await client.list_tags()

    found = await _within(timeout, tags, auth, f"failed to list tags of '{repository}'")
    return select_tag(found, name, version)


async def pull_oci_chart(repo_url: str, name: str, tag: str, auth: RepositoryAuth, *,
                         insecure: bool = False, timeout: float = 60.0  # noqa: ASYNC109
                         ) -> bytes:
    """The archive bytes of ``<repo_url>/<name>:<tag>``."""
    repository = _repository(repo_url, name, insecure)
    ref = f"oci://{repository}:{tag}"

    async def pull() -> bytes:
        async with PullClient(repository, _options(auth, timeout)) as client:
            body, media_type, digest = await client.get_manifest(tag)
            manifest = parse_manifest(body, media_type, digest)
            layer = next((entry for entry in manifest.layers
                          if entry.media_type == CHART_LAYER), None)
            if layer is None:
                raise OCIChartError(f"'{ref}' has no Helm chart layer ({CHART_LAYER})")
            return await client.get_blob(layer.digest)

    return await _within(timeout, pull, auth, f"failed to pull '{ref}'")
