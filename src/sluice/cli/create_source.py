"""``sluice create source git|helm|oci|bucket|chart``: the source objects.

Each command builds the ``source.toolkit.fluxcd.io/v1`` object exactly as
``flux create source ...`` does (same defaults, same fields left out when a
flag is unset, same precedence between Git refs, same error messages), then
prints it with ``--export`` or hands it to :func:`apply_and_wait`.

Without ``--secret-ref`` (and without ``--export``, which prints the source
alone), credentials given on the command line become a Secret the source
points at, as flux does: Git gets a Secret named like the source (over SSH
a deploy key, from ``--private-key-file`` or generated, ECDSA P-384 by
default, plus the server's host key, and a confirmation prompt unless
``--silent``), Helm repositories ``helm-<name>``, buckets ``bucket-<name>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, urlsplit

import click

from sluice.cli.applying import apply_source_with_credentials
from sluice.cli.clientctx import log
from sluice.cli.create_flags import (
    CreateArgs,
    bool_flag,
    create_options,
    equal_fold_item,
    log_generate,
    object_meta,
    parse_kind_name,
    parse_labels,
    publish,
    require_name,
    string_slice,
)
from sluice.cli.credentials import (
    credentials_secret,
    deploy_key,
    read_credential_file,
    ssh_auth_data,
    validate_ssh_key_flags,
)
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import FluxCommand, flag_error
from sluice.core.durations import format_duration

__all__ = ["bucket", "chart", "git", "helm", "oci", "validate_ssh_key_flags"]

SOURCE_API = "source.toolkit.fluxcd.io/v1"

_GIT_PROVIDERS = ("generic", "azure", "github")
_OCI_PROVIDERS = ("generic", "aws", "azure", "gcp")
_BUCKET_PROVIDERS = ("generic", "aws", "gcp", "azure")
_VERIFY_PROVIDERS = ("cosign", "notation")
_CHART_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")


def _enum_flag(flag: str, value: str, allowed: tuple[str, ...], what: str) -> str:
    if value and value not in allowed:
        raise flag_error(flag, value,
                         f"{what} '{value}' is not supported, must be one of: {', '.join(allowed)}")
    return value


def _source(kind: str, name: str, namespace: str, labels: dict[str, str],
            spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": SOURCE_API, "kind": kind,
            "metadata": object_meta(name, namespace, labels), "spec": spec, "status": {}}


def _ignore(paths: tuple[str, ...]) -> str | None:
    items = string_slice(paths)
    return "\n".join(items) if items else None


def _verify(provider: str, secret_ref: str, issuer: str, subject: str,
            subject_checked: bool = True) -> dict[str, Any] | None:
    """Cosign/Notation verification settings, or the error flux gives without a provider."""
    if provider:
        verify: dict[str, Any] = {"provider": provider}
        if secret_ref:
            verify["secretRef"] = {"name": secret_ref}
        if issuer or subject:
            verify["matchOIDCIdentity"] = [{"issuer": issuer, "subject": subject}]
        return verify
    if secret_ref:
        raise CommandError("a verification provider must be specified when a secret is specified")
    # flux's chart command tests the OCI command's subject here, which is never set.
    if issuer or (subject and subject_checked):
        raise CommandError(
            "a verification provider must be specified when OIDC issuer/subject is specified")
    return None


@click.command("git", cls=FluxCommand, short_help="Create or update a GitRepository source")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--url", default="", help="git address, e.g. ssh://git@host/org/repository")
@click.option("--branch", default="", help="git branch")
@click.option("--tag", default="", help="git tag")
@click.option("--tag-semver", "semver", default="", help="git tag semver range")
@click.option("--ref-name", default="", help="git reference name")
@click.option("--commit", default="", help="git commit")
@click.option("-u", "--username", default="", help="basic authentication username")
@click.option("-p", "--password", default="", help="basic authentication password")
@click.option("--provider", default="", help="the Git provider name (generic, azure, github)")
@click.option("--ssh-key-algorithm", default="ecdsa", help="SSH public key algorithm (rsa, ecdsa, ed25519)")
@click.option("--ssh-rsa-bits", default="2048", help="SSH RSA public key bit size (multiplies of 8)")
@click.option("--ssh-ecdsa-curve", default="p384", help="SSH ECDSA public key curve (p256, p384, p521)")
@click.option("--secret-ref", default="", help="the name of an existing secret containing SSH or basic credentials")
@click.option("--proxy-secret-ref", default="", help="the name of an existing secret containing the proxy address and credentials")
@click.option("--ca-file", default="", help="path to TLS CA file used for validating self-signed certificates")
@click.option("--private-key-file", default="", help="path to a passwordless private key file used for authenticating to the Git SSH server")
@bool_flag("--recurse-submodules", help="initialize and include Git submodules in the artifact")
@bool_flag("-s", "--silent", help="assumes the deploy key is already setup, skips confirmation")
@click.option("--ignore-paths", multiple=True, help="set paths to ignore in git resource (can specify multiple paths with commas: path1,path2)")
@click.option("--sparse-checkout-paths", multiple=True, help="set paths to sparse checkout in git resource (can specify multiple paths with commas: path1,path2)")
@click.option("--fetch-timeout", default=None, help="set a timeout for fetch operations performed by source-controller (e.g. 'git clone' or 'helm repo update')")
@create_options
@global_options
def git(args: tuple[str, ...], url: str, branch: str, tag: str, semver: str, ref_name: str,
        commit: str, username: str, password: str, provider: str, ssh_key_algorithm: str,
        ssh_rsa_bits: str, ssh_ecdsa_curve: str, secret_ref: str, proxy_secret_ref: str,
        ca_file: str, private_key_file: str, recurse_submodules: bool, silent: bool,
        ignore_paths: tuple[str, ...], sparse_checkout_paths: tuple[str, ...],
        create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update a GitRepository source."""
    _enum_flag("--provider", provider, _GIT_PROVIDERS, "source Git provider")
    validate_ssh_key_flags(ssh_key_algorithm, ssh_rsa_bits, ssh_ecdsa_curve)
    name = require_name(args)
    if not url:
        raise CommandError("url is required")
    scheme = urlsplit(url).scheme
    if scheme not in ("ssh", "http", "https"):
        raise CommandError(f"git URL scheme '{scheme}' not supported, can be: ssh, http and https")
    if not (branch or tag or semver or commit or ref_name):
        raise CommandError("a Git ref is required, use one of the following: "
                           "--branch, --tag, --commit, --ref-name or --tag-semver")
    if ca_file and scheme == "ssh":
        raise CommandError("specifying a CA file is not supported for Git over SSH")
    labels = parse_labels(create_args.labels)

    # flux's precedence: commit (keeping the branch) > ref name > semver > tag > branch.
    ref: dict[str, str]
    if commit:
        ref = {"commit": commit, "branch": branch} if branch else {"commit": commit}
    elif ref_name:
        ref = {"name": ref_name}
    elif semver:
        ref = {"semver": semver}
    elif tag:
        ref = {"tag": tag}
    else:
        ref = {"branch": branch}
    spec: dict[str, Any] = {"url": url, "interval": format_duration(create_args.interval), "ref": ref}
    if recurse_submodules:
        spec["recurseSubmodules"] = True
    if (ignore := _ignore(ignore_paths)) is not None:
        spec["ignore"] = ignore
    if sparse := string_slice(sparse_checkout_paths):
        spec["sparseCheckout"] = sparse
    if create_args.fetch_timeout > 0:
        spec["timeout"] = format_duration(create_args.fetch_timeout)
    if provider:
        spec["provider"] = provider
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if proxy_secret_ref:
        spec["proxySecretRef"] = {"name": proxy_secret_ref}
    source = _source("GitRepository", name, globals_.namespace, labels, spec)
    if create_args.export:
        publish(source, create_args, globals_)
        return
    key_spec = (ssh_key_algorithm, validate_ssh_key_flags(ssh_key_algorithm, ssh_rsa_bits,
                                                          ssh_ecdsa_curve), ssh_ecdsa_curve)

    def credentials() -> dict[str, Any] | None:
        if secret_ref:
            return None
        data = _git_credentials(urlsplit(url), username, password, ca_file, private_key_file,
                                key_spec, silent)
        return credentials_secret(name, globals_.namespace, {}, data) if data else None

    apply_source_with_credentials(source, credentials,
                                  "applying secret with repository credentials", globals_)


def _git_credentials(parts: SplitResult, username: str, password: str, ca_file: str,
                     private_key_file: str, key_spec: tuple[str, int, str],
                     silent: bool) -> dict[str, str]:
    """The stringData of the Secret flux generates for a Git URL (empty: no Secret)."""
    data: dict[str, str] = {}
    if parts.scheme == "ssh":
        pair = deploy_key(private_key_file, password, *key_spec)
        data = ssh_auth_data(pair, parts.hostname or "", parts.port or 22, password)
        log.success(f"collected public key from SSH server:\n{data['known_hosts']}")
        log.generate(f"deploy key: {pair.public_key.strip()}")
        if not silent:
            try:
                confirmed = click.confirm("Have you added the deploy key to your repository",
                                          default=False, err=True)
            except click.Abort:
                confirmed = False
            if not confirmed:
                raise CommandError("aborting")
        return data
    if parts.scheme == "http":
        # flux warns on any plain-HTTP URL created without --secret-ref.
        log.warning("insecure configuration: credentials configured for an HTTP URL")
    elif ca_file:
        data["ca.crt"] = read_credential_file(ca_file, "unable to read TLS CA file")
    if username and password:
        data = {"username": username, "password": password, **data}
    return data


@click.command("helm", cls=FluxCommand, short_help="Create or update a HelmRepository source")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--url", default="", help="Helm repository address")
@click.option("-u", "--username", default="", help="basic authentication username")
@click.option("-p", "--password", default="", help="basic authentication password")
@click.option("--cert-file", default="", help="TLS authentication cert file path")
@click.option("--key-file", default="", help="TLS authentication key file path")
@click.option("--ca-file", default="", help="TLS authentication CA file path")
@click.option("--secret-ref", default="", help="the name of an existing secret containing TLS or basic auth credentials")
@click.option("--oci-provider", default="", help="OCI provider for authentication (generic, aws, azure, gcp)")
@bool_flag("--pass-credentials", help="pass credentials to all domains")
@click.option("--fetch-timeout", default=None, help="set a timeout for fetch operations performed by source-controller")
@create_options
@global_options
def helm(args: tuple[str, ...], url: str, username: str, password: str, cert_file: str,
         key_file: str, ca_file: str, secret_ref: str, oci_provider: str,
         pass_credentials: bool, create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update a HelmRepository source."""
    _enum_flag("--oci-provider", oci_provider, _OCI_PROVIDERS, "source OCI provider")
    name = require_name(args)
    if not url:
        raise CommandError("url is required")
    labels = parse_labels(create_args.labels)
    spec: dict[str, Any] = {"url": url, "interval": format_duration(create_args.interval)}
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
        # flux sets passCredentials only along with a secret.
        if pass_credentials:
            spec["passCredentials"] = True
    if create_args.fetch_timeout > 0:
        spec["timeout"] = format_duration(create_args.fetch_timeout)
    # An oci:// URL makes a static OCI Helm repository.
    if urlsplit(url).scheme == "oci":
        spec["type"] = "oci"
        if oci_provider:
            spec["provider"] = oci_provider
    source = _source("HelmRepository", name, globals_.namespace, labels, spec)
    if create_args.export:
        publish(source, create_args, globals_)
        return
    data: dict[str, str] = {}
    if ca_file:
        data["ca.crt"] = read_credential_file(ca_file, "unable to read TLS CA file")
    if cert_file and key_file:
        data["tls.crt"] = read_credential_file(cert_file, "failed to read cert file")
        data["tls.key"] = read_credential_file(key_file, "failed to read key file")
    if username and password:
        data = {"username": username, "password": password, **data}

    def credentials() -> dict[str, Any] | None:
        if secret_ref or not data:
            return None
        if pass_credentials:
            spec["passCredentials"] = True
        return credentials_secret(f"helm-{name}", globals_.namespace, {}, data)

    apply_source_with_credentials(source, credentials,
                                  "applying secret with repository credentials", globals_)


@click.command("oci", cls=FluxCommand, short_help="Create or update an OCIRepository")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--url", default="", help="the OCI repository URL")
@click.option("--tag", default="", help="the OCI artifact tag")
@click.option("--tag-semver", "semver", default="", help="the OCI artifact tag semver range")
@click.option("--digest", default="", help="the OCI artifact digest")
@click.option("--provider", default="", help="the OCI provider name (generic, aws, azure, gcp)")
@click.option("--secret-ref", default="", help="the name of the Kubernetes image pull secret (type 'kubernetes.io/dockerconfigjson')")
@click.option("--proxy-secret-ref", default="", help="the name of an existing secret containing the proxy address and credentials")
@click.option("--service-account", default="", help="the name of the Kubernetes service account that refers to an image pull secret")
@click.option("--cert-ref", default="", help="the name of a secret to use for TLS certificates")
@click.option("--verify-provider", default="", help="the OCI verification provider name (cosign, notation)")
@click.option("--verify-secret-ref", default="", help="the name of a secret to use for signature verification")
@click.option("--verify-subject", default="", help="regular expression to use for the OIDC subject during signature verification")
@click.option("--verify-issuer", default="", help="regular expression to use for the OIDC issuer during signature verification")
@click.option("--ignore-paths", multiple=True, help="set paths to ignore resources (can specify multiple paths with commas: path1,path2)")
@bool_flag("--insecure", help="for when connecting to a non-TLS registries over plain HTTP")
@click.option("--layer-selector", default="", help="the layer to extract, as '<media-type>:<extract|copy>'")
@click.option("--fetch-timeout", default=None, help="set a timeout for fetch operations performed by source-controller")
@create_options
@global_options
def oci(args: tuple[str, ...], url: str, tag: str, semver: str, digest: str, provider: str,
        secret_ref: str, proxy_secret_ref: str, service_account: str, cert_ref: str,
        verify_provider: str, verify_secret_ref: str, verify_subject: str, verify_issuer: str,
        ignore_paths: tuple[str, ...], insecure: bool, layer_selector: str,
        create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update an OCIRepository source."""
    _enum_flag("--provider", provider, _OCI_PROVIDERS, "source OCI provider")
    _enum_flag("--verify-provider", verify_provider, _VERIFY_PROVIDERS, "source OCI verify provider")
    selector: dict[str, str] | None = None
    if layer_selector:
        media_type, _, operation = layer_selector.rpartition(":")
        if not media_type:
            media_type, operation = layer_selector, ""
        if operation not in ("", "extract", "copy"):
            raise flag_error("--layer-selector", layer_selector,
                             f"unsupported layer operation '{operation}', must be one of: extract, copy")
        selector = {"mediaType": media_type, **({"operation": operation} if operation else {})}
    name = require_name(args)
    if not url:
        raise CommandError("url is required")
    if not (semver or tag or digest):
        raise CommandError("--tag, --tag-semver or --digest is required")
    labels = parse_labels(create_args.labels)
    ref: dict[str, str] = {}
    if digest:
        ref["digest"] = digest
    if semver:
        ref["semver"] = semver
    if tag:
        ref["tag"] = tag
    spec: dict[str, Any] = {"url": url, "interval": format_duration(create_args.interval), "ref": ref}
    if provider:
        spec["provider"] = provider
    if (ignore := _ignore(ignore_paths)) is not None:
        spec["ignore"] = ignore
    if create_args.fetch_timeout > 0:
        spec["timeout"] = format_duration(create_args.fetch_timeout)
    if service_account:
        spec["serviceAccountName"] = service_account
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if proxy_secret_ref:
        spec["proxySecretRef"] = {"name": proxy_secret_ref}
    if cert_ref:
        spec["certSecretRef"] = {"name": cert_ref}
    if insecure:
        spec["insecure"] = True
    if selector is not None:
        spec["layerSelector"] = selector
    verify = _verify(verify_provider, verify_secret_ref, verify_issuer, verify_subject)
    if verify is not None:
        spec["verify"] = verify
    publish(_source("OCIRepository", name, globals_.namespace, labels, spec), create_args, globals_)


@click.command("bucket", cls=FluxCommand, short_help="Create or update a Bucket source")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--provider", default="generic", help="the S3 compatible storage provider name (generic, aws, gcp, azure)")
@click.option("--bucket-name", default="", help="the bucket name")
@click.option("--endpoint", default="", help="the bucket endpoint address")
@click.option("--access-key", default="", help="the bucket access key")
@click.option("--secret-key", default="", help="the bucket secret key")
@click.option("--region", default="", help="the bucket region")
@bool_flag("--insecure", help="for when connecting to a non-TLS S3 HTTP endpoint")
@click.option("--secret-ref", default="", help="the name of an existing secret containing credentials")
@click.option("--proxy-secret-ref", default="", help="the name of an existing secret containing the proxy address and credentials")
@click.option("--ignore-paths", multiple=True, help="set paths to ignore in bucket resource (can specify multiple paths with commas: path1,path2)")
@click.option("--fetch-timeout", default=None, help="set a timeout for fetch operations performed by source-controller")
@create_options
@global_options
def bucket(args: tuple[str, ...], provider: str, bucket_name: str, endpoint: str,
           access_key: str, secret_key: str, region: str, insecure: bool, secret_ref: str,
           proxy_secret_ref: str, ignore_paths: tuple[str, ...], create_args: CreateArgs,
           globals_: Globals) -> None:
    """Create or update a Bucket source."""
    if not provider or provider not in _BUCKET_PROVIDERS:
        raise flag_error("--provider", provider,
                         f"source bucket provider '{provider}' is not supported, must be one of: "
                         + ", ".join(_BUCKET_PROVIDERS))
    name = require_name(args)
    if not bucket_name:
        raise CommandError("bucket-name is required")
    if not endpoint:
        raise CommandError("endpoint is required")
    labels = parse_labels(create_args.labels)
    spec: dict[str, Any] = {"provider": provider, "bucketName": bucket_name, "endpoint": endpoint,
                            "interval": format_duration(create_args.interval)}
    if insecure:
        spec["insecure"] = True
    if region:
        spec["region"] = region
    if (ignore := _ignore(ignore_paths)) is not None:
        spec["ignore"] = ignore
    if create_args.fetch_timeout > 0:
        spec["timeout"] = format_duration(create_args.fetch_timeout)
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if proxy_secret_ref:
        spec["proxySecretRef"] = {"name": proxy_secret_ref}
    source = _source("Bucket", name, globals_.namespace, labels, spec)
    if create_args.export:
        publish(source, create_args, globals_)
        return

    def credentials() -> dict[str, Any] | None:
        if secret_ref or not (access_key and secret_key):
            return None
        # Unlike the Git and Helm ones, flux labels the bucket Secret like the source.
        return credentials_secret(f"bucket-{name}", globals_.namespace, labels,
                       {"accesskey": access_key, "secretkey": secret_key})

    apply_source_with_credentials(source, credentials,
                                  "applying secret with the bucket credentials", globals_)


@click.command("chart", cls=FluxCommand, short_help="Create or update a HelmChart source")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--chart", default="", help="Helm chart name or path")
@click.option("--chart-version", default="", help="Helm chart version, accepts a semver range (ignored for charts from GitRepository sources)")
@click.option("--source", default="", help="source that contains the chart in the format '<kind>/<name>', where kind must be one of: (HelmRepository, GitRepository, Bucket)")
@click.option("--reconcile-strategy", default="ChartVersion", help="the reconcile strategy for helm chart (accepted values: Revision and ChartRevision)")
@click.option("--verify-provider", default="", help="the OCI verification provider name (cosign, notation)")
@click.option("--verify-secret-ref", default="", help="the name of a secret to use for signature verification")
@click.option("--verify-subject", default="", help="regular expression to use for the OIDC subject during signature verification")
@click.option("--verify-issuer", default="", help="regular expression to use for the OIDC issuer during signature verification")
@click.option("--fetch-timeout", default=None, hidden=True)
@create_options
@global_options
def chart(args: tuple[str, ...], chart: str, chart_version: str, source: str,
          reconcile_strategy: str, verify_provider: str, verify_secret_ref: str,
          verify_subject: str, verify_issuer: str, create_args: CreateArgs,
          globals_: Globals) -> None:
    """Create or update a HelmChart source."""
    source_kind = source_name = ""
    if source:
        source_kind, source_name = _local_chart_source(source)
    _enum_flag("--verify-provider", verify_provider, _VERIFY_PROVIDERS, "source OCI verify provider")
    name = require_name(args)
    if not source_kind or not source_name:
        raise CommandError("chart source is required")
    if not chart:
        raise CommandError("chart name or path is required")
    log_generate("generating HelmChart source")
    labels = parse_labels(create_args.labels)
    spec: dict[str, Any] = {
        "chart": chart, "interval": format_duration(create_args.interval),
        "sourceRef": {"kind": source_kind, "name": source_name},
    }
    if chart_version:
        spec["version"] = chart_version
    if reconcile_strategy:
        spec["reconcileStrategy"] = reconcile_strategy
    verify = _verify(verify_provider, verify_secret_ref, verify_issuer, verify_subject,
                     subject_checked=False)
    if verify is not None:
        spec["verify"] = verify
    publish(_source("HelmChart", name, globals_.namespace, labels, spec), create_args, globals_)


def _local_chart_source(value: str) -> tuple[str, str]:
    if not value.strip():
        raise flag_error("--source", value,
                         "no helm chart source given, please specify source that contains the chart "
                         "in the format '<kind>/<name>', where kind must be one of: "
                         f"({', '.join(_CHART_SOURCE_KINDS)})")
    kind, name = parse_kind_name(value)
    if not kind or not name:
        raise flag_error("--source", value,
                         f"invalid helm chart source '{value}', must be in format <kind>/<name>")
    clean = equal_fold_item(_CHART_SOURCE_KINDS, kind)
    if clean is None:
        raise flag_error("--source", value,
                         f"source kind '{kind}' is not supported, must be one of: "
                         + ", ".join(_CHART_SOURCE_KINDS))
    return clean, name
