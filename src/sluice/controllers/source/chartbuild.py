"""Building a HelmChart's artifact: the pulled archive as is, or re-packaged with Helm.

source-controller's `internal/helm/chart` builders, with Helm's own code
(`helm_python`, through `sluice.helmsdk`) doing every chart operation:

* `plan`: the build's name and version (version metadata appended when
  values files are merged, ``+<generation>``, or with ``reconcileStrategy:
  Revision`` on Git/Bucket, ``+<12 hex of the revision>``), and whether the
  chart already in storage is that build (then nothing is downloaded);
* `finish_remote`: a chart pulled from a repository is kept byte for byte
  (after checking it loads as a chart) unless values files or metadata
  require re-packaging;
* `build_local`: a chart directory from a Git/Bucket artifact, its
  dependencies resolved by Helm (``dependency update`` for missing ones),
  values files merged, packaged.

Failures are `BuildError` with Flux's reason and summary prefix
(``invalid chart reference: …``, ``chart pull error: …``, ``values files
merge error: …``); `BuildError.fetch` tells whether Flux reports it as
``FetchFailed`` or ``BuildFailed``, `BuildError.persistent` whether it stalls.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sluice.controllers.source.errors import SourceError
from sluice.core.semver import SemverError, parse_version
from sluice.helmsdk import helm, run

__all__ = [
    "CHART_PACKAGE",
    "CHART_PULL",
    "CHART_REFERENCE",
    "DEPENDENCY_BUILD",
    "METADATA_PATCH",
    "VALUES_FILES",
    "Build",
    "BuildError",
    "BuildOptions",
    "build_local",
    "finish_remote",
    "plan",
]

CHART_REFERENCE = ("InvalidChartReference", "invalid chart reference")
CHART_PULL = ("ChartPullError", "chart pull error")
METADATA_PATCH = ("MetadataPatchError", "chart metadata patch error")
VALUES_FILES = ("ValuesFilesError", "values files merge error")
DEPENDENCY_BUILD = ("DependencyBuildError", "dependency build error")
CHART_PACKAGE = ("ChartPackageError", "chart package error")

_PERSISTENT = {CHART_REFERENCE[0], METADATA_PATCH[0], VALUES_FILES[0]}
_BUILD_FAILED = {METADATA_PATCH[0], VALUES_FILES[0], DEPENDENCY_BUILD[0], CHART_PACKAGE[0]}


class BuildError(SourceError):
    """A failed build step: ``<summary>: <error>`` with Flux's reason."""

    def __init__(self, kind: tuple[str, str], error: str) -> None:
        super().__init__(f"{kind[1]}: {error}")
        self.build_reason = kind[0]

    @property
    def persistent(self) -> bool:
        return self.build_reason in _PERSISTENT

    @property
    def fetch(self) -> bool:
        """Reported as FetchFailed (pull/reference errors) rather than BuildFailed."""
        return self.build_reason not in _BUILD_FAILED


@dataclass
class BuildOptions:
    values_files: list[str] = field(default_factory=list)
    ignore_missing_values_files: bool = False
    version_metadata: str = ""
    force: bool = False
    # (chart name, version) of the artifact in storage, when there is one.
    cached: tuple[str, str] | None = None

    @property
    def requires_packaging(self) -> bool:
        return bool(self.values_files) or bool(self.version_metadata)


@dataclass
class Build:
    name: str
    version: str
    path: Path | None = None
    packaged: bool = False
    values_files: list[str] = field(default_factory=list)
    resolved_dependencies: int = 0
    from_cache: bool = False

    def summary(self) -> str:
        """Flux's `Build.Summary`, the Ready message users grep for."""
        action = "new"
        if self.path is not None or self.from_cache:
            action = "packaged" if self.packaged else "pulled"
        text = f"{action} '{self.name}' chart with version '{self.version}'"
        if self.values_files:
            text += f" and merged values files [{' '.join(self.values_files)}]"
        return text

    @property
    def reason(self) -> str:
        return "ChartPackageSucceeded" if self.packaged else "ChartPullSucceeded"


def with_metadata(version: str, metadata: str) -> str:
    """``version`` with its build metadata replaced by ``metadata`` (Masterminds SetMetadata)."""
    try:
        v = parse_version(version)
    except SemverError as exc:
        raise BuildError(METADATA_PATCH, "failed to parse version from chart metadata as "
                         f"SemVer: {exc}") from None
    text = f"{v.major}.{v.minor}.{v.patch}" + (f"-{v.prerelease}" if v.prerelease else "")
    return f"{text}+{metadata}"


def plan(name: str, version: str, opts: BuildOptions) -> tuple[Build, bool]:
    """The build for ``name``/``version``, and whether the stored chart already is it."""
    if opts.version_metadata:
        version = with_metadata(version, opts.version_metadata)
    build = Build(name, version)
    if opts.cached == (name, version) and not opts.force:
        build.from_cache = True
        build.packaged = opts.requires_packaging
        build.values_files = list(opts.values_files)
        return build, True
    return build, False


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """fluxcd/pkg `transform.MergeMaps`: maps merge recursively, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _merge_values(root: Path, files: list[str], ignore_missing: bool
                  ) -> tuple[dict[str, Any] | None, list[str]]:
    """The merged values of ``files`` (paths inside the chart) and the files used."""
    merged: dict[str, Any] = {}
    used: list[str] = []
    for rel in files:
        path = (root / rel).resolve()
        if root.resolve() not in path.parents:
            raise BuildError(VALUES_FILES, f"failed to merge chart values: values file '{rel}' "
                             "is outside the source")
        if not path.is_file():
            if ignore_missing:
                continue
            raise BuildError(VALUES_FILES, "failed to merge chart values: no values file found "
                             f"at path '{rel}'")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            detail = " ".join(str(exc).split())
            raise BuildError(VALUES_FILES, f"failed to merge chart values: unmarshaling values "
                             f"from '{rel}' failed: {detail}") from None
        if not isinstance(values, dict):
            raise BuildError(VALUES_FILES, f"failed to merge chart values: unmarshaling values "
                             f"from '{rel}' failed: not a map")
        merged = _merge(merged, values)
        used.append(rel)
    return (merged if used else None), used


def _package(chart_dir: Path, out_dir: Path, build: Build, opts: BuildOptions,
             values_root: Path | None = None) -> Path:
    """Merge values files into ``values.yaml`` and package ``chart_dir`` at build.version.

    Values file paths are relative to the chart for repository charts and to
    the source root for Git/Bucket charts (``values_root``), as in Flux.
    """
    if opts.values_files:
        merged, used = _merge_values(values_root or chart_dir, opts.values_files,
                                     opts.ignore_missing_values_files)
        if merged is not None:
            (chart_dir / "values.yaml").write_text(yaml.safe_dump(merged, sort_keys=True))
            build.values_files = used
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return Path(helm().package(str(chart_dir), destination=str(out_dir),
                                   version=build.version))
    except helm().HelmError as exc:
        raise BuildError(CHART_PACKAGE, " ".join(str(exc).split())) from None


def _finish_remote_sync(data: bytes, build: Build, opts: BuildOptions, workdir: Path) -> Build:
    h = helm()
    archive = workdir / "pulled.tgz"
    archive.write_bytes(data)
    try:
        with h.Chart.load_archive(data) as chart:
            metadata = chart.metadata
    except h.HelmError as exc:
        raise BuildError(CHART_PULL, "failed to load chart metadata from written chart: "
                         + " ".join(str(exc).split())) from None
    if not metadata.get("name") or not metadata.get("version"):
        raise BuildError(CHART_PULL, "failed to validate metadata of written chart: chart "
                         "metadata (Chart.yaml) has no name or version")
    if not opts.requires_packaging:
        build.path = archive
        return build
    expanded = workdir / "expanded"
    try:
        h.expand(str(expanded), str(archive))
    except h.HelmError as exc:
        raise BuildError(CHART_PACKAGE, "failed to load downloaded chart: "
                         + " ".join(str(exc).split())) from None
    chart_dir = expanded / str(metadata["name"])
    build.path = _package(chart_dir, workdir / "out", build, opts)
    build.packaged = True
    return build


async def finish_remote(data: bytes, build: Build, opts: BuildOptions, workdir: Path) -> Build:
    """Keep the pulled archive ``data`` as is, or re-package it (values/metadata)."""
    return await run(_finish_remote_sync, data, build, opts, workdir)


def _chart_metadata(chart_dir: Path) -> dict[str, Any]:
    h = helm()
    try:
        with h.Chart.load(str(chart_dir)) as chart:
            return dict(chart.metadata)
    except h.HelmError as exc:
        raise BuildError(CHART_PACKAGE, "failed to load chart from path: "
                         + " ".join(str(exc).split())) from None


def _resolve_dependencies(chart_dir: Path) -> int:
    """Download missing dependencies into ``charts/`` with Helm; the number resolved."""
    h = helm()
    try:
        deps = h.dependency_list(str(chart_dir))
    except h.HelmError as exc:
        raise BuildError(DEPENDENCY_BUILD, " ".join(str(exc).split())) from None
    missing = [d for d in deps if d.get("status") != "ok"]
    if not missing:
        return 0
    try:
        h.dependency_update(str(chart_dir))
    except h.HelmError as exc:
        raise BuildError(DEPENDENCY_BUILD, " ".join(str(exc).split())) from None
    return len(missing)


def _local_sync(source_dir: Path, chart_path: str, opts: BuildOptions, workdir: Path
                ) -> tuple[Build, bool]:
    rel = chart_path.strip("/")
    chart_dir = (source_dir / rel).resolve()
    if source_dir.resolve() not in chart_dir.parents and chart_dir != source_dir.resolve():
        raise BuildError(CHART_REFERENCE, f"path '{chart_path}' escapes the source")
    if not (chart_dir / "Chart.yaml").is_file():
        if chart_dir.is_file():
            raise BuildError(CHART_REFERENCE, f"expected a chart directory at '{chart_path}'")
        raise BuildError(CHART_REFERENCE, f"path '{chart_path}' does not exist in the source "
                         "or is not a chart directory")
    metadata = _chart_metadata(chart_dir)
    build, reuse = plan(str(metadata.get("name")), str(metadata.get("version")), opts)
    if reuse:
        return build, True
    # Helm writes charts/ and Chart.lock in place: the extracted source is ours
    # (a temporary directory), and file:// dependencies stay relative to it.
    build.resolved_dependencies = _resolve_dependencies(chart_dir)
    build.path = _package(chart_dir, workdir / "out", build, opts, values_root=source_dir)
    build.packaged = True
    return build, False


async def build_local(source_dir: Path, chart_path: str, opts: BuildOptions, workdir: Path
                      ) -> tuple[Build, bool]:
    """Package the chart at ``chart_path`` of an extracted source; (build, reused cache)."""
    return await run(_local_scrubbed, source_dir, chart_path, opts, workdir)


def _local_scrubbed(source_dir: Path, chart_path: str, opts: BuildOptions, workdir: Path
                    ) -> tuple[Build, bool]:
    try:
        return _local_sync(source_dir, chart_path, opts, workdir)
    except BuildError as exc:
        # Helm names absolute paths; users know paths relative to their source.
        for prefix in (os.path.realpath(source_dir), str(source_dir)):
            exc.message = exc.message.replace(prefix + "/", "").replace(prefix, ".")
        exc.args = (exc.message,)
        raise
