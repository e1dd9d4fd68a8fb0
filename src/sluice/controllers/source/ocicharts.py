"""Helm charts in OCI registries (``type: oci`` HelmRepositories), through Helm's registry client.

A HelmChart whose HelmRepository is ``type: oci`` resolves its version
against the registry's tags and pulls ``oci://<repo url>/<chart>:<tag>``
with `helm_python.RegistryClient` (Helm's own ORAS client), as
source-controller's `OCIChartRepository` does:

* an exact tag match wins (``+`` in a version is ``_`` in a tag); otherwise
  the highest strict semver tag satisfying the constraint, ``*``/empty
  meaning the latest stable one;
* credentials (username/password, or the dockerconfigjson entry of the
  registry host) are given to a client whose credentials file is private
  to the call and removed afterwards, never Helm's global one;
* ``insecure`` talks plain HTTP.

Each call builds its own client on a bounded Helm worker thread
(`sluice.helmsdk.run`). Helm's registry client takes no CA bundle, so a
registry behind a private CA is not supported here (noted in the report).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sluice.controllers.source.errors import SourceError
from sluice.controllers.source.helmauth import RepositoryAuth, registry_host
from sluice.core.semver import SemverError, parse_constraint, parse_version
from sluice.helmsdk import helm, run

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


class _Client:
    """A registry client logged in with ``auth``, its credentials file private to the call."""

    def __init__(self, repo_url: str, auth: RepositoryAuth, insecure: bool) -> None:
        self.repo_url, self.auth, self.insecure = repo_url, auth, insecure
        self._tmp = tempfile.TemporaryDirectory(prefix="sluice-oci-chart-")
        self.dir = self._tmp.name

    def __enter__(self) -> object:
        h = helm()
        self.client = h.RegistryClient(plain_http=self.insecure,
                                       credentials_file=os.path.join(self.dir, "registry.json"))
        if self.auth.has_login:
            try:
                self.client.login(registry_host(self.repo_url), self.auth.username,
                                  self.auth.password, insecure=self.insecure,
                                  plain_http=self.insecure)
            except h.HelmError as exc:
                self.close()
                raise SourceError("failed to login to OCI registry: "
                                  + self.auth.scrub(" ".join(str(exc).split()))) from None
        return self.client

    def close(self) -> None:
        self.client.close()
        self._tmp.cleanup()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error(exc: Exception, auth: RepositoryAuth) -> OCIChartError:
    return OCIChartError(auth.scrub(" ".join(str(exc).split())))


def _resolve_sync(repo_url: str, name: str, version: str | None, auth: RepositoryAuth,
                  insecure: bool) -> str:
    h = helm()
    ref = f"{repo_url.rstrip('/')}/{name}"
    with _Client(repo_url, auth, insecure) as client:
        try:
            tags = [str(t) for t in client.tags(ref)]  # type: ignore[attr-defined]
        except h.HelmError as exc:
            raise _error(exc, auth) from None
    return select_tag(tags, name, version)


def _pull_sync(repo_url: str, name: str, tag: str, auth: RepositoryAuth, insecure: bool
               ) -> bytes:
    h = helm()
    ref = f"{repo_url.rstrip('/')}/{name}"
    holder = _Client(repo_url, auth, insecure)
    with holder as client:
        try:
            client.pull(ref, version=tag, destination=holder.dir,  # type: ignore[attr-defined]
                        plain_http=insecure)
        except h.HelmError as exc:
            raise _error(exc, auth) from None
        archives = sorted(Path(holder.dir).glob("*.tgz"))
        if not archives:
            raise OCIChartError(f"pulling '{ref}:{tag}' produced no chart archive")
        return archives[0].read_bytes()


async def resolve_oci_chart(repo_url: str, name: str, version: str | None,
                            auth: RepositoryAuth, *, insecure: bool = False) -> str:
    """The tag of chart ``name`` under ``repo_url`` matching ``version``."""
    return await run(_resolve_sync, repo_url, name, version, auth, insecure)


async def pull_oci_chart(repo_url: str, name: str, tag: str, auth: RepositoryAuth, *,
                         insecure: bool = False) -> bytes:
    """The archive bytes of ``<repo_url>/<name>:<tag>``."""
    return await run(_pull_sync, repo_url, name, tag, auth, insecure)
