"""``sluice create image repository|policy|update``: image automation objects.

Mirrors ``flux create image ...`` for ``image.toolkit.fluxcd.io/v1`` (the
only version Flux 2.9's CRDs serve): an ImageRepository to scan, an
ImagePolicy choosing a tag (semver, alphabetical or numerical, with an
optional tag filter), and an ImageUpdateAutomation committing the result.
"""

from __future__ import annotations

import re
from typing import Any

import click

from sluice.cli.create_flags import (
    CreateArgs,
    create_options,
    duration_flag,
    object_meta,
    parse_labels,
    publish,
    require_name,
)
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import FluxCommand, flag_error
from sluice.core.durations import format_duration

__all__ = ["policy", "repository", "update"]

IMAGE_API = "image.toolkit.fluxcd.io/v1"

_PROVIDERS = ("generic", "aws", "azure", "gcp")
_REPOSITORY_CHARS = re.compile(r"^[a-z0-9_\-./]+$")


def _image_object(kind: str, name: str, namespace: str, labels: dict[str, str],
                  spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": IMAGE_API, "kind": kind,
            "metadata": object_meta(name, namespace, labels), "spec": spec, "status": {}}


def _check_image(image: str) -> None:
    """Reject what go-containerregistry's ``name.NewRepository`` rejects (tags, digests, case)."""
    parts = image.split("/", 1)
    repository = image
    if len(parts) == 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        repository = parts[1]
    if not _REPOSITORY_CHARS.match(repository):
        raise CommandError("unable to parse image value: repository can only contain the "
                           f"characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`: {repository}")


@click.command("repository", cls=FluxCommand, short_help="Create or update an ImageRepository object")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--image", default="", help="the image repository to scan; e.g., library/alpine")
@click.option("--secret-ref", default="", help="the name of a docker-registry secret to use for credentials")
@click.option("--cert-ref", default="", help="the name of a secret to use for TLS certificates")
@click.option("--scan-timeout", default="0s", help="a timeout for scanning; this defaults to the interval if not set")
@click.option("--provider", default="", help="the OCI provider name (generic, aws, azure, gcp)")
@create_options
@global_options
def repository(args: tuple[str, ...], image: str, secret_ref: str, cert_ref: str,
               scan_timeout: str, provider: str, create_args: CreateArgs,
               globals_: Globals) -> None:
    """Create or update an ImageRepository object."""
    timeout = duration_flag("--scan-timeout", scan_timeout)
    if provider and provider not in _PROVIDERS:
        raise flag_error("--provider", provider, f"source OCI provider '{provider}' is not "
                         "supported, must be one of: " + ", ".join(_PROVIDERS))
    name = require_name(args)
    if not image:
        raise CommandError("an image repository (--image) is required")
    _check_image(image)
    labels = parse_labels(create_args.labels)
    spec: dict[str, Any] = {"image": image, "interval": format_duration(create_args.interval)}
    if timeout:
        spec["timeout"] = format_duration(timeout)
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if cert_ref:
        spec["certSecretRef"] = {"name": cert_ref}
    if provider:
        spec["provider"] = provider
    publish(_image_object("ImageRepository", name, globals_.namespace, labels, spec),
            create_args, globals_)


def _check_extract(extract: str, pattern: re.Pattern[str]) -> None:
    """Every ``$name``/``${name}`` in ``--filter-extract`` must be a group of the regex."""
    names = set(pattern.groupindex)
    for match in re.finditer(r"\$(\{([^}]*)\}|([A-Za-z0-9_]+))", extract):
        ref = match.group(2) if match.group(2) is not None else match.group(3)
        if ref.isdigit():
            if int(ref) > pattern.groups:
                raise CommandError(f"capture group '{ref}' used in extract is not defined in the regex")
        elif ref not in names:
            raise CommandError(f"capture group '{ref}' used in extract is not defined in the regex")


@click.command("policy", cls=FluxCommand, short_help="Create or update an ImagePolicy object")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--image-ref", default="", help="the name of an image repository object")
@click.option("--select-semver", default="", help="a semver range to apply to tags; e.g., '1.x'")
@click.option("--select-alpha", default="", help="use alphabetical sorting to select image; either \"asc\" meaning select the last, or \"desc\" meaning select the first")
@click.option("--select-numeric", default="", help="use numeric sorting to select image; either \"asc\" meaning select the last, or \"desc\" meaning select the first")
@click.option("--filter-regex", default="", help="regular expression pattern used to filter the image tags")
@click.option("--filter-extract", default="", help="replacement pattern (using capture groups from --filter-regex) to use for sorting")
@click.option("--reflect-digest", default="", help="the digest reflection policy (Always, IfNotPresent, Never)")
@create_options
@global_options
def policy(args: tuple[str, ...], image_ref: str, select_semver: str, select_alpha: str,
           select_numeric: str, filter_regex: str, filter_extract: str, reflect_digest: str,
           create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update an ImagePolicy object."""
    name = require_name(args)
    if not image_ref:
        raise CommandError("the name of an ImageRepository in the namespace is required (--image-ref)")
    labels = parse_labels(create_args.labels)
    chosen = [s for s in (select_semver, select_alpha, select_numeric) if s]
    if len(chosen) > 1:
        raise CommandError("only one of --select-semver, --select-alpha or --select-numeric "
                           "can be specified")
    rule: dict[str, Any]
    if select_semver:
        rule = {"semver": {"range": select_semver}}
    elif select_alpha:
        if select_alpha not in ("asc", "desc"):
            raise CommandError('--select-alpha must be one of ["asc", "desc"]')
        rule = {"alphabetical": {"order": select_alpha}}
    elif select_numeric:
        if select_numeric not in ("asc", "desc"):
            raise CommandError('--select-numeric must be one of ["asc", "desc"]')
        rule = {"numerical": {"order": select_numeric}}
    else:
        raise CommandError("a policy must be provided with either --select-semver or --select-alpha")
    spec: dict[str, Any] = {"imageRepositoryRef": {"name": image_ref}, "policy": rule}
    if filter_regex:
        try:
            pattern = re.compile(filter_regex)
        except re.error:
            raise CommandError("--filter-regex is an invalid regex pattern") from None
        tag_filter = {"pattern": filter_regex}
        if filter_extract:
            _check_extract(filter_extract, pattern)
            tag_filter["extract"] = filter_extract
        spec["filterTags"] = tag_filter
    elif filter_extract:
        raise CommandError("cannot specify --filter-extract without specifying --filter-regex")
    if reflect_digest:
        if reflect_digest not in ("Always", "IfNotPresent", "Never"):
            raise CommandError('invalid value for --reflect-digest, must be one of "Always", '
                               '"IfNotPresent" or "Never"')
        spec["digestReflectionPolicy"] = reflect_digest
        # The CRD accepts an interval only when digests are re-fetched on a schedule.
        if reflect_digest == "Always":
            spec["interval"] = format_duration(create_args.interval)
    publish(_image_object("ImagePolicy", name, globals_.namespace, labels, spec),
            create_args, globals_)


@click.command("update", cls=FluxCommand,
               short_help="Create or update an ImageUpdateAutomation object")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--git-repo-ref", default="", help="the name of a GitRepository resource with details of the upstream Git repository")
@click.option("--git-repo-namespace", default="", help="the namespace of the GitRepository resource, defaults to the ImageUpdateAutomation namespace")
@click.option("--git-repo-path", default="", help="path to the directory containing the manifests to be updated, defaults to the repository root")
@click.option("--checkout-branch", default="", help="the branch to checkout")
@click.option("--push-branch", default="", help="the branch to push commits to, defaults to the checkout branch if not specified")
@click.option("--commit-template", default="", help="a template for commit messages")
@click.option("--author-name", default="", help="the name to use for commit author")
@click.option("--author-email", default="", help="the email to use for commit author")
@click.option("--signing-key-secret", default="", help="the name of a secret holding the key used to sign commits")
@click.option("--signing-key-type", default="gpg", help="the type of the signing key (gpg, ssh)")
@create_options
@global_options
def update(args: tuple[str, ...], git_repo_ref: str, git_repo_namespace: str, git_repo_path: str,
           checkout_branch: str, push_branch: str, commit_template: str, author_name: str,
           author_email: str, signing_key_secret: str, signing_key_type: str,
           create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update an ImageUpdateAutomation object."""
    if signing_key_type not in ("gpg", "ssh"):
        raise flag_error("--signing-key-type", signing_key_type,
                         f"unsupported signing key type '{signing_key_type}', must be one of: "
                         "gpg, ssh")
    name = require_name(args)
    if not git_repo_ref:
        raise CommandError("a reference to a GitRepository is required (--git-repo-ref)")
    if not checkout_branch:
        raise CommandError("the Git repository branch is required (--checkout-branch)")
    if not author_name:
        raise CommandError("the author name is required (--author-name)")
    if not author_email:
        raise CommandError("the author email is required (--author-email)")
    labels = parse_labels(create_args.labels)
    source_ref = {"kind": "GitRepository", "name": git_repo_ref}
    if git_repo_namespace:
        source_ref["namespace"] = git_repo_namespace
    commit: dict[str, Any] = {"author": {"email": author_email, "name": author_name}}
    if commit_template:
        commit["messageTemplate"] = commit_template
    if signing_key_secret:
        commit["signingKey"] = {"secretRef": {"name": signing_key_secret}, "type": signing_key_type}
    git_spec: dict[str, Any] = {"checkout": {"ref": {"branch": checkout_branch}}, "commit": commit}
    if push_branch:
        git_spec["push"] = {"branch": push_branch}
    spec: dict[str, Any] = {"git": git_spec, "interval": format_duration(create_args.interval),
                            "sourceRef": source_ref}
    if git_repo_path:
        spec["update"] = {"path": git_repo_path, "strategy": "Setters"}
    publish(_image_object("ImageUpdateAutomation", name, globals_.namespace, labels, spec),
            create_args, globals_)
