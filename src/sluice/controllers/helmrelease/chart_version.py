"""OCI digest tracking: a chart from an OCIRepository is released as ``<version>+<digest>``.

Step 12 of helm-controller's reconcile. A tag in a registry is mutable: the
same ``6.9.2`` can be pushed twice with different content, and a release
named by chart version alone would never see the second push. So when the
chart comes from an OCIRepository (``chartRef``), Flux rewrites the loaded
chart's version to carry the first 12 hex digits of the artifact's OCI
manifest digest as semver build metadata (``6.9.2+1a2b3c4d5e6f``): a new push
under the same tag is a new chart version, hence an upgrade, and the
release's chart version (in Helm's own storage, ``helm list``, events and
``status.history``) says exactly what runs. ``status.lastAttemptedRevisionDigest``
keeps the full digest.

The artifact revision is ``<tag>@<algo>:<hex>`` (or a bare digest for a
``digest`` ref); a tag that is a semver (``_`` read as ``+``, as OCI tags
cannot hold ``+``) must equal the chart's version, else
``artifact revision <tag> does not match chart version <v>``
(``ChartMutateError``).

Helm's SDK has no setter for a loaded chart's metadata, so `with_version`
rewrites ``Chart.yaml`` inside the archive (only its ``version:`` line) and
Helm loads the result: one re-pack per new artifact, cached with the chart.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile

from sluice.core.semver import SemverError, parse_version

from .errors import ChartLoadError

__all__ = ["ChartMutateError", "oci_chart_version", "with_version"]

_DIGEST = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]{12,})$")
_VERSION_LINE = re.compile(r"^version:.*$", re.MULTILINE)


class ChartMutateError(ChartLoadError):
    """The OCI artifact's revision does not fit the chart it holds."""


def oci_chart_version(version: str, revision: str) -> tuple[str, str]:
    """(the version to release, the OCI digest) for a chart from an OCIRepository."""
    tag, sep, digest = revision.rpartition("@")
    if not sep:
        tag, digest = "", revision
    try:
        parse_version(version)
    except SemverError as exc:
        raise ChartMutateError(f"chart version {version} is not a semver: {exc}") from None
    if tag:
        wanted = tag.replace("_", "+")
        try:
            parse_version(wanted)
            is_semver = True
        except SemverError:
            is_semver = False
        if is_semver and wanted != version:
            raise ChartMutateError(f"artifact revision {tag} does not match chart version "
                                   f"{version}")
    match = _DIGEST.match(digest)
    if match is None:
        raise ChartMutateError(f"artifact revision {revision} has no valid digest")
    base = version.split("+", 1)[0]
    return f"{base}+{match.group(2)[:12]}", digest


def with_version(data: bytes, chart_name: str, version: str) -> bytes:
    """The chart archive ``data`` with ``<chart>/Chart.yaml``'s version set to ``version``."""
    target = f"{chart_name}/Chart.yaml"
    out = io.BytesIO()
    found = False
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as src, \
            tarfile.open(fileobj=out, mode="w") as dst:
        for member in src:
            payload = src.extractfile(member) if member.isfile() else None
            if payload is not None and member.name.lstrip("./") == target:
                text = payload.read().decode()
                text, count = _VERSION_LINE.subn(f"version: {version}", text, count=1)
                if not count:
                    raise ChartMutateError(f"chart {chart_name} has no version in Chart.yaml")
                raw = text.encode()
                member.size = len(raw)
                dst.addfile(member, io.BytesIO(raw))
                found = True
                continue
            dst.addfile(member, payload)
    if not found:
        raise ChartMutateError(f"chart archive has no {target}")
    return gzip.compress(out.getvalue(), mtime=0)
