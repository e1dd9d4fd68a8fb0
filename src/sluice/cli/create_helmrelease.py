"""``sluice create helmrelease|hr``: a ``helm.toolkit.fluxcd.io/v2`` HelmRelease.

Mirrors ``flux create helmrelease``: either a chart template (``--source
Kind/name[.namespace]`` + ``--chart`` [+ ``--chart-version``], reconcile
strategy ``ChartVersion`` unless told otherwise) or ``--chart-ref`` to an
OCIRepository/HelmChart; ``--values`` files deep-merged in order into
``spec.values``; ``--values-from Secret|ConfigMap/name``.
"""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from sluice.cli.create_flags import (
    CreateArgs,
    bool_flag,
    create_options,
    duration_flag,
    equal_fold_item,
    log_generate,
    make_depends_on,
    object_meta,
    parse_kind_name,
    parse_kind_name_namespace,
    parse_labels,
    publish,
    require_name,
    string_slice,
)
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import FluxCommand, flag_error
from sluice.core.durations import format_duration

__all__ = ["helmrelease", "load_values_files", "merge_maps"]

HELM_API = "helm.toolkit.fluxcd.io/v2"

_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")
_CHART_REF_KINDS = ("OCIRepository", "HelmChart")
_VALUES_FROM_KINDS = ("Secret", "ConfigMap")
_CRDS_POLICIES = ("Skip", "Create", "CreateReplace")
_STRATEGIES = ("Revision", "ChartVersion")


class _ValuesLoader(yaml.SafeLoader):
    """YAML as Go's sigs.k8s.io/yaml reads it: timestamps stay strings."""


_ValuesLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _jsonable(value: Any) -> Any:
    """YAML data as it comes out of YAMLToJSON: string keys, JSON types only."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, bool):
                text = "true" if key else "false"
            elif key is None:
                text = "null"
            else:
                text = str(key)
            out[text] = _jsonable(item)
        return out
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def merge_maps(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Helm's MergeMaps: maps merge recursively, anything else in ``b`` wins."""
    out = dict(a)
    for key, value in b.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = merge_maps(current, value)
        else:
            out[key] = value
    return out


def load_values_files(paths: list[str]) -> dict[str, Any]:
    """The ``--values`` files merged in order, with flux's error messages."""
    merged: dict[str, Any] = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            raise CommandError(f"reading values from {path} failed: open {path}: "
                               "no such file or directory") from None
        except OSError as err:
            raise CommandError(f"reading values from {path} failed: open {path}: "
                               f"{err.strerror or err}") from None
        try:
            data = _jsonable(yaml.load(raw, Loader=_ValuesLoader))  # a SafeLoader subclass
        except yaml.YAMLError as err:
            raise CommandError(f"converting values to JSON from {path} failed: {err}") from None
        if data is None:
            continue
        if not isinstance(data, dict):
            kind = "array" if isinstance(data, list) else type(data).__name__
            raise CommandError(f"unmarshaling values from {path} failed: json: cannot unmarshal "
                               f"{kind} into Go value of type map[string]interface {{}}")
        merged = merge_maps(merged, data)
    # Go's JSON round trip: sorted keys and only JSON-representable values.
    result: dict[str, Any] = json.loads(json.dumps(merged, sort_keys=True))
    return result


def _chart_source(value: str) -> tuple[str, str, str]:
    if not value.strip():
        raise flag_error("--source", value,
                         "no helm chart source given, please specify source that contains the chart "
                         "in the format '<kind>/<name>.<namespace>', where kind must be one of: "
                         f"({', '.join(_SOURCE_KINDS)})")
    kind, name, namespace = parse_kind_name_namespace(value)
    if not kind or not name:
        raise flag_error("--source", value,
                         f"invalid helm chart source '{value}', must be in format <kind>/<name>")
    clean = equal_fold_item(_SOURCE_KINDS, kind)
    if clean is None:
        raise flag_error("--source", value, f"source kind '{kind}' is not supported, must be one of: "
                         + ", ".join(_SOURCE_KINDS))
    return clean, name, namespace


@click.command("helmrelease", cls=FluxCommand, short_help="Create or update a HelmRelease resource")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--release-name", default="", help="name used for the Helm release, defaults to a composition of '[<target-namespace>-]<HelmRelease-name>'")
@click.option("--source", default="", help="source that contains the chart in the format '<kind>/<name>.<namespace>', where kind must be one of: (HelmRepository, GitRepository, Bucket)")
@click.option("--chart", default="", help="Helm chart name or path")
@click.option("--chart-version", default="", help="Helm chart version, accepts a semver range (ignored for charts from GitRepository sources)")
@click.option("--chart-ref", default="", help="the name of the HelmChart resource to use as source for the HelmRelease, in the format '<kind>/<name>.<namespace>', where kind must be one of: (OCIRepository, HelmChart)")
@click.option("--chart-interval", default="0s", help="the interval of which to check for new chart versions")
@click.option("--depends-on", multiple=True, help="HelmReleases that must be ready before this release can be installed, supported formats '<name>' and '<namespace>/<name>'")
@click.option("--target-namespace", default="", help="namespace to install this release, defaults to the HelmRelease namespace")
@click.option("--storage-namespace", default="", help="namespace to store the Helm release, defaults to the target namespace")
@bool_flag("--create-target-namespace", help="create the target namespace if it does not exist")
@click.option("--service-account", default="", help="the name of the service account to impersonate when reconciling this HelmRelease")
@click.option("--reconcile-strategy", default="ChartVersion", help="the reconcile strategy for helm chart created by the helm release(accepted values: Revision and ChartRevision)")
@click.option("--values", "values_files", multiple=True, help="local path to values.yaml files, also accepts comma-separated values")
@click.option("--values-from", multiple=True, help="a Kubernetes object reference that contains the values.yaml data key in the format '<kind>/<name>', where kind must be one of: (Secret,ConfigMap)")
@click.option("--crds", default="", help="upgrade CRDs policy, available options are: (Skip, Create, CreateReplace)")
@click.option("--kubeconfig-secret-ref", default="", help="the name of the Kubernetes Secret that contains a key with the kubeconfig file for connecting to a remote cluster")
@create_options
@global_options
def helmrelease(args: tuple[str, ...], release_name: str, source: str, chart: str,
                chart_version: str, chart_ref: str, chart_interval: str,
                depends_on: tuple[str, ...], target_namespace: str, storage_namespace: str,
                create_target_namespace: bool, service_account: str, reconcile_strategy: str,
                values_files: tuple[str, ...], values_from: tuple[str, ...], crds: str,
                kubeconfig_secret_ref: str, create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update a HelmRelease resource."""
    source_ref = _chart_source(source) if source else None
    interval_of_chart = duration_flag("--chart-interval", chart_interval)
    if crds and crds not in _CRDS_POLICIES:
        raise flag_error("--crds", crds, f"unsupported CRDs policy '{crds}', must be one of: "
                         + ", ".join(_CRDS_POLICIES))
    name = require_name(args)
    if not chart and not chart_ref:
        raise CommandError("chart or chart-ref is required")
    if chart and chart_ref:
        raise CommandError("cannot use --chart in combination with --chart-ref")
    if chart and source_ref is None:
        raise CommandError("source is required")
    labels = parse_labels(create_args.labels)
    if not create_args.export:
        log_generate("generating HelmRelease")
    if reconcile_strategy not in _STRATEGIES:
        raise CommandError(f"'{reconcile_strategy}' is an invalid reconcile strategy"
                           "(valid: Revision, ChartVersion)")

    spec: dict[str, Any] = {"interval": format_duration(create_args.interval)}
    if release_name:
        spec["releaseName"] = release_name
    if deps := make_depends_on(string_slice(depends_on)):
        spec["dependsOn"] = deps
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    if storage_namespace:
        spec["storageNamespace"] = storage_namespace
    if chart and source_ref is not None:
        kind, source_name, source_namespace = source_ref
        ref = {"kind": kind, "name": source_name}
        if source_namespace:
            ref["namespace"] = source_namespace
        template: dict[str, Any] = {"chart": chart, "sourceRef": ref,
                                    "reconcileStrategy": reconcile_strategy}
        if chart_version:
            template["version"] = chart_version
        if interval_of_chart != 0:
            template["interval"] = format_duration(interval_of_chart)
        spec["chart"] = {"spec": template}
    else:
        kind, ref_name, ref_namespace = parse_kind_name_namespace(chart_ref)
        clean = equal_fold_item(_CHART_REF_KINDS, kind)
        if clean is None:
            raise CommandError(f"chart reference kind '{kind}' is not supported, must be one of: "
                               + ", ".join(_CHART_REF_KINDS))
        chart_reference = {"kind": clean, "name": ref_name}
        if ref_namespace:
            chart_reference["namespace"] = ref_namespace
        spec["chartRef"] = chart_reference
    if kubeconfig_secret_ref:
        spec["kubeConfig"] = {"secretRef": {"name": kubeconfig_secret_ref}}
    install: dict[str, Any] = {}
    if create_target_namespace:
        install["createNamespace"] = True
    if service_account:
        spec["serviceAccountName"] = service_account
    if crds:
        # flux always installs CRDs with Create and upgrades them with the chosen policy.
        install["crds"] = "Create"
        spec["upgrade"] = {"crds": crds}
    if install:
        spec["install"] = install
    if files := string_slice(values_files):
        spec["values"] = load_values_files(files)
    if references := string_slice(values_from):
        entries: list[dict[str, str]] = []
        for reference in references:
            ref_kind, ref_obj = parse_kind_name(reference)
            if not ref_kind:
                raise CommandError(f"invalid Kubernetes object reference '{reference}', "
                                   "must be in format <kind>/<name>")
            clean_kind = equal_fold_item(_VALUES_FROM_KINDS, ref_kind)
            if clean_kind is None:
                raise CommandError(f"reference kind '{ref_kind}' is not supported, must be one of: "
                                   + ", ".join(_VALUES_FROM_KINDS))
            entries.append({"kind": clean_kind, "name": ref_obj})
        spec["valuesFrom"] = entries
    obj = {"apiVersion": HELM_API, "kind": "HelmRelease",
           "metadata": object_meta(name, globals_.namespace, labels), "spec": spec, "status": {}}
    publish(obj, create_args, globals_)
