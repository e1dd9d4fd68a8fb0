"""``sluice create kustomization|ks``: a ``kustomize.toolkit.fluxcd.io/v1`` Kustomization.

Mirrors ``flux create kustomization``: ``--source [Kind/]name[.namespace]``
(kind defaults to GitRepository, matched case-insensitively), ``--path``
cleaned into ``./relative`` form, ``prune`` always written, health checks
only as ``Kind/name.namespace`` and with ``spec.timeout`` from
``--health-check-timeout`` (2m by default), ``--wait`` replacing them.
"""

from __future__ import annotations

import posixpath
from typing import Any

import click

from sluice.cli.create_flags import (
    CreateArgs,
    bool_flag,
    create_options,
    duration_flag,
    equal_fold_item,
    log_generate,
    make_depends_on,
    object_meta,
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

__all__ = ["kustomization", "safe_relative_path"]

KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
HELM_API = "helm.toolkit.fluxcd.io/v2"

_SOURCE_KINDS = ("OCIRepository", "GitRepository", "Bucket")
_SOURCE_HELP = ("source that contains the Kubernetes manifests in the format "
                "'[<kind>/]<name>.<namespace>', where kind must be one of: "
                f"({', '.join(_SOURCE_KINDS)}), if kind is not specified it defaults to GitRepository")
_HEALTH_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "HelmRelease")


def safe_relative_path(value: str) -> str:
    """flux's SafeRelativePath: the path joined under ``./`` without escaping it."""
    parts: list[str] = []
    for part in value.strip().replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    cleaned = posixpath.join(*parts) if parts else ""
    return "./" + cleaned


def _kustomization_source(value: str) -> tuple[str, str, str]:
    if not value.strip():
        raise flag_error("--source", value, "no Kustomization source given, please specify "
                         + _SOURCE_HELP)
    kind, name, namespace = parse_kind_name_namespace(value)
    if not name:
        raise flag_error("--source", value, f"no name given for source of kind '{kind}'")
    if not kind:
        if name in _SOURCE_KINDS:
            raise flag_error("--source", value, f"no name given for source of kind '{name}'")
        kind = "GitRepository"
    clean = equal_fold_item(_SOURCE_KINDS, kind)
    if clean is None:
        raise flag_error("--source", value, f"source kind '{kind}' is not supported, must be one of: "
                         + ", ".join(_SOURCE_KINDS))
    return clean, name, namespace


def _health_checks(checks: list[str]) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    for check in checks:
        kind_obj = check.split("/")
        if len(kind_obj) != 2:
            raise CommandError(f"invalid health check '{check}' must be in the format "
                               f"'kind/name.namespace' [{' '.join(kind_obj)}]")
        kind = kind_obj[0]
        if kind not in _HEALTH_KINDS:
            raise CommandError(f"invalid health check kind '{kind}' can be HelmRelease, "
                               "Deployment, DaemonSet or StatefulSet")
        name_ns = kind_obj[1].split(".")
        if len(name_ns) != 2:
            raise CommandError(f"invalid health check '{check}' must be in the format "
                               "'kind/name.namespace'")
        ref = {"kind": kind, "name": name_ns[0], "namespace": name_ns[1]}
        if kind == "HelmRelease":
            ref["apiVersion"] = HELM_API
        refs.append(ref)
    return refs


@click.command("kustomization", cls=FluxCommand,
               short_help="Create or update a Kustomization resource")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--source", default="", help=_SOURCE_HELP)
@click.option("--path", default="./", help="path to the directory containing a kustomization.yaml file")
@bool_flag("--prune", help="enable garbage collection")
@bool_flag("--wait", help="enable health checking of all the applied resources")
@click.option("--health-check", multiple=True, help="workload to be included in the health assessment, in the format '<kind>/<name>.<namespace>'")
@click.option("--health-check-timeout", default="2m0s", help="timeout of health checking operations")
@click.option("--validation", default="", hidden=True)
@click.option("--depends-on", multiple=True, help="Kustomization that must be ready before this Kustomization can be applied, supported formats '<name>' and '<namespace>/<name>', also accepts comma-separated values")
@click.option("--service-account", default="", help="the name of the service account to impersonate when reconciling this Kustomization")
@click.option("--decryption-provider", default="", help="decryption provider, available options are: (sops)")
@click.option("--decryption-secret", default="", help="set the Kubernetes secret name that contains the OpenPGP private keys used for sops decryption")
@click.option("--target-namespace", default="", help="overrides the namespace of all Kustomization objects reconciled by this Kustomization")
@click.option("--kubeconfig-secret-ref", default="", help="the name of the Kubernetes Secret that contains a key with the kubeconfig file for connecting to a remote cluster")
@click.option("--retry-interval", default="0s", help="the interval at which to retry a previously failed reconciliation")
@create_options
@global_options
def kustomization(args: tuple[str, ...], source: str, path: str, prune: bool, wait: bool,
                  health_check: tuple[str, ...], health_check_timeout: str, validation: str,
                  depends_on: tuple[str, ...], service_account: str, decryption_provider: str,
                  decryption_secret: str, target_namespace: str, kubeconfig_secret_ref: str,
                  retry_interval: str, create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update a Kustomization resource."""
    source_ref = _kustomization_source(source) if source else None
    clean_path = safe_relative_path(path)
    health_timeout = duration_flag("--health-check-timeout", health_check_timeout)
    retry = duration_flag("--retry-interval", retry_interval)
    if decryption_provider and decryption_provider != "sops":
        raise flag_error("--decryption-provider", decryption_provider,
                         f"unsupported decryption provider '{decryption_provider}', "
                         "must be one of: sops")
    if validation:
        click.echo("Flag --validation has been deprecated, this arg is no longer used, all "
                   "resources are validated using server-side apply dry-run", err=True)
    name = require_name(args)
    if source_ref is None:
        raise CommandError("source is required")
    if not clean_path.startswith("./"):
        raise CommandError("path must begin with ./")
    if not create_args.export:
        log_generate("generating Kustomization")
    labels = parse_labels(create_args.labels)

    kind, source_name, source_namespace = source_ref
    ref = {"kind": kind, "name": source_name}
    if source_namespace:
        ref["namespace"] = source_namespace
    spec: dict[str, Any] = {
        "interval": format_duration(create_args.interval),
        "prune": prune,
        "sourceRef": ref,
    }
    if clean_path:
        spec["path"] = clean_path
    if deps := make_depends_on(string_slice(depends_on)):
        spec["dependsOn"] = deps
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    if kubeconfig_secret_ref:
        spec["kubeConfig"] = {"secretRef": {"name": kubeconfig_secret_ref}}
    checks = string_slice(health_check)
    if checks and not wait:
        spec["healthChecks"] = _health_checks(checks)
        spec["timeout"] = format_duration(health_timeout)
    if wait:
        spec["wait"] = True
        spec["timeout"] = format_duration(health_timeout)
    if service_account:
        spec["serviceAccountName"] = service_account
    if decryption_provider:
        decryption: dict[str, Any] = {"provider": decryption_provider}
        if decryption_secret:
            decryption["secretRef"] = {"name": decryption_secret}
        spec["decryption"] = decryption
    if retry > 0:
        spec["retryInterval"] = format_duration(retry)
    obj = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
           "metadata": object_meta(name, globals_.namespace, labels), "spec": spec, "status": {}}
    publish(obj, create_args, globals_)

