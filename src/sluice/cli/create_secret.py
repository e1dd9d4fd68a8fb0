"""``sluice create secret git|helm|oci|tls|proxy|receiver|githubapp``: credentials.

Mirrors ``flux create secret ...``. Values go in ``stringData`` so exported
manifests stay readable until encrypted with SOPS. Git over SSH gets a key
pair (loaded from ``--private-key-file`` or generated: ECDSA P-384 unless
told otherwise) and the ``known_hosts`` line of the server, scanned the way
flux's Go SSH client negotiates it: the first key type the server offers in
Go's preference order. Exported secrets end with a blank line, as flux
prints them with ``Println`` (TLS secrets excepted).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

import click

from sluice.cli.applying import apply_and_wait
from sluice.cli.create_flags import (
    CreateArgs,
    create_options,
    echo_export,
    parse_labels,
    require_name,
)
from sluice.cli.credentials import (
    credentials_secret,
    deploy_key,
    known_hosts_for,
    read_credential_file,
    ssh_auth_data,
    validate_ssh_key_flags,
)
from sluice.cli.exporting import export_secret
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import FluxCommand, flag_error

__all__ = ["git", "githubapp", "helm", "known_hosts_for", "oci", "proxy", "receiver", "tls"]

RECEIVER_TYPES = ("generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor",
                  "dockerhub", "quay", "gcr", "nexus", "acr", "cdevents")
WEBHOOK_ANNOTATION = "notification.toolkit.fluxcd.io/webhook"



def _publish_secret(obj: dict[str, Any], create_args: CreateArgs, globals_: Globals,
                    blank_line: bool = True) -> None:
    if create_args.export:
        if blank_line:
            echo_export(export_secret(obj))
        else:
            # flux prints TLS secrets with Print, not Println: no blank line.
            echo_export(export_secret(obj)[:-1])
        return
    apply_and_wait([obj], globals_)


@click.command("git", cls=FluxCommand, short_help="Create or update a Kubernetes secret for Git authentication")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--url", default="", help="git address, e.g. ssh://git@host/org/repository")
@click.option("-u", "--username", default="", help="basic authentication username")
@click.option("-p", "--password", default="", help="basic authentication password")
@click.option("--bearer-token", default="", help="bearer authentication token")
@click.option("--ca-crt-file", default="", help="path to TLS CA certificate file used for validating self-signed certificates")
@click.option("--private-key-file", default="", help="path to a passwordless private key file used for authenticating to the Git SSH server")
@click.option("--ssh-key-algorithm", default="ecdsa", help="SSH public key algorithm (rsa, ecdsa, ed25519)")
@click.option("--ssh-rsa-bits", default="2048", help="SSH RSA public key bit size (multiplies of 8)")
@click.option("--ssh-ecdsa-curve", default="p384", help="SSH ECDSA public key curve (p256, p384, p521)")
@create_options
@global_options
def git(args: tuple[str, ...], url: str, username: str, password: str, bearer_token: str,
        ca_crt_file: str, private_key_file: str, ssh_key_algorithm: str, ssh_rsa_bits: str,
        ssh_ecdsa_curve: str, create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update a Kubernetes secret for Git authentication."""
    rsa_bits = validate_ssh_key_flags(ssh_key_algorithm, ssh_rsa_bits, ssh_ecdsa_curve)
    name = require_name(args)
    if not url:
        raise CommandError("url is required")
    parts = urlsplit(url)
    labels = parse_labels(create_args.labels)
    data: dict[str, str] = {}
    if parts.scheme == "ssh":
        pair = deploy_key(private_key_file, password, ssh_key_algorithm, rsa_bits, ssh_ecdsa_curve)
        data = ssh_auth_data(pair, parts.hostname or "", parts.port or 22, password)
    elif parts.scheme in ("http", "https"):
        if not (username or password or bearer_token):
            raise CommandError("for Git over HTTP/S the username and password, "
                               "or a bearer token is required")
        if (username or password) and bearer_token:
            raise CommandError("user credentials and bearer token cannot be used together")
        if username:
            data["username"] = username
        if password:
            data["password"] = password
        if bearer_token:
            data["bearerToken"] = bearer_token
        if ca_crt_file:
            data["ca.crt"] = read_credential_file(ca_crt_file, "unable to read TLS CA file")
    else:
        raise CommandError(f"git URL scheme '{parts.scheme}' not supported, "
                           "can be: ssh, http and https")
    _publish_secret(credentials_secret(name, globals_.namespace, labels, data), create_args, globals_)


def _tls_data(crt_file: str, key_file: str, ca_file: str) -> tuple[dict[str, str], str]:
    """stringData and type of a TLS secret, validated like Flux's MakeTLSSecret."""
    data: dict[str, str] = {}
    if ca_file:
        data["ca.crt"] = read_credential_file(ca_file, "unable to read TLS CA file")
    cert = read_credential_file(crt_file, "failed to read cert file") if crt_file else ""
    key = read_credential_file(key_file, "failed to read key file") if key_file else ""
    if bool(cert) != bool(key):
        raise CommandError("found certificate but missing private key" if cert
                           else "found private key but missing certificate")
    if not cert and not data:
        raise CommandError("no CA certificate or client certificate pair found")
    if cert:
        _check_key_pair(cert, key)
        data["tls.crt"] = cert
        data["tls.key"] = key
        return data, "kubernetes.io/tls"
    return data, "Opaque"


def _check_key_pair(cert_pem: str, key_pem: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    prefix = "invalid TLS certificate and key pair: "
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        raise CommandError(prefix + "tls: failed to find any PEM data in certificate input") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), None)
    except (ValueError, TypeError):
        raise CommandError(prefix + "tls: failed to find any PEM data in key input") from None
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if cert.public_key().public_bytes(enc, fmt) != key.public_key().public_bytes(enc, fmt):
        raise CommandError(prefix + "tls: private key does not match public key")


@click.command("tls", cls=FluxCommand, short_help="Create or update a Kubernetes secret with TLS certificates")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--tls-crt-file", default="", help="TLS authentication cert file path")
@click.option("--tls-key-file", default="", help="TLS authentication key file path")
@click.option("--ca-crt-file", default="", help="TLS authentication CA file path")
@click.option("--cert-file", default="", hidden=True)
@click.option("--key-file", default="", hidden=True)
@click.option("--ca-file", default="", hidden=True)
@create_options
@global_options
def tls(args: tuple[str, ...], tls_crt_file: str, tls_key_file: str, ca_crt_file: str,
        cert_file: str, key_file: str, ca_file: str, create_args: CreateArgs,
        globals_: Globals) -> None:
    """Create or update a Kubernetes secret with TLS certificates."""
    for old, new, value in (("cert-file", "tls-crt-file", cert_file),
                            ("key-file", "tls-key-file", key_file),
                            ("ca-file", "ca-crt-file", ca_file)):
        if value:
            click.echo(f"Flag --{old} has been deprecated, please use --{new} instead", err=True)
    name = require_name(args)
    labels = parse_labels(create_args.labels)
    data, secret_type = _tls_data(tls_crt_file or cert_file, tls_key_file or key_file,
                                  ca_crt_file or ca_file)
    _publish_secret(credentials_secret(name, globals_.namespace, labels, data, secret_type), create_args,
                    globals_, blank_line=False)


@click.command("helm", cls=FluxCommand, short_help="Create or update a Kubernetes secret for Helm repository authentication")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("-u", "--username", default="", help="basic authentication username")
@click.option("-p", "--password", default="", help="basic authentication password")
@click.option("--tls-crt-file", default="", help="TLS authentication cert file path")
@click.option("--tls-key-file", default="", help="TLS authentication key file path")
@click.option("--ca-crt-file", default="", help="TLS authentication CA file path")
@create_options
@global_options
def helm(args: tuple[str, ...], username: str, password: str, tls_crt_file: str,
         tls_key_file: str, ca_crt_file: str, create_args: CreateArgs,
         globals_: Globals) -> None:
    """Create or update a Kubernetes secret for Helm repository authentication."""
    name = require_name(args)
    labels = parse_labels(create_args.labels)
    data: dict[str, str] = {}
    secret_type = "kubernetes.io/basic-auth"
    if username or password or not (tls_crt_file or tls_key_file or ca_crt_file):
        if not username:
            raise CommandError("username is required")
        if not password:
            raise CommandError("password is required")
        data = {"username": username, "password": password}
    if tls_crt_file or tls_key_file or ca_crt_file:
        tls_data, tls_type = _tls_data(tls_crt_file, tls_key_file, ca_crt_file)
        data.update(tls_data)
        if not username:
            secret_type = tls_type
    _publish_secret(credentials_secret(name, globals_.namespace, labels, data, secret_type),
                    create_args, globals_)


def _go_json_indent(value: Any) -> str:
    """Go's json.MarshalIndent(v, "", "  "): HTML characters escaped as \\u00XX."""
    text = json.dumps(value, indent=2, ensure_ascii=False, separators=(",", ": "))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


@click.command("oci", cls=FluxCommand, short_help="Create or update a Kubernetes image pull secret")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--url", default="", help="oci repository address e.g ghcr.io/stefanprodan/charts")
@click.option("-u", "--username", default="", help="basic authentication username")
@click.option("-p", "--password", default="", help="basic authentication password")
@create_options
@global_options
def oci(args: tuple[str, ...], url: str, username: str, password: str, create_args: CreateArgs,
        globals_: Globals) -> None:
    """Create or update a Kubernetes image pull secret (dockerconfigjson)."""
    name = require_name(args)
    if not url:
        raise CommandError("--url is required")
    if not username:
        raise CommandError("username is required")
    if not password:
        raise CommandError("password is required")
    labels = parse_labels(create_args.labels)
    auth = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    config = {"auths": {url: {"username": username, "password": password, "auth": auth}}}
    data = {".dockerconfigjson": _go_json_indent(config)}
    _publish_secret(credentials_secret(name, globals_.namespace, labels, data,
                            "kubernetes.io/dockerconfigjson"), create_args, globals_)


@click.command("proxy", cls=FluxCommand, short_help="Create or update a Kubernetes secret for proxy authentication")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--address", default="", help="proxy address")
@click.option("-u", "--username", default="", help="basic authentication username")
@click.option("-p", "--password", default="", help="basic authentication password")
@create_options
@global_options
def proxy(args: tuple[str, ...], address: str, username: str, password: str,
          create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update a Kubernetes secret with a proxy address and credentials."""
    name = require_name(args)
    labels = parse_labels(create_args.labels)
    if not address:
        raise CommandError("address is required")
    data = {"address": address}
    if username:
        data["username"] = username
    if password:
        data["password"] = password
    _publish_secret(credentials_secret(name, globals_.namespace, labels, data, "Opaque"), create_args, globals_)


@click.command("githubapp", cls=FluxCommand, short_help="Create or update a github app secret")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--app-id", default="", help="github app ID")
@click.option("--app-client-id", default="", help="github app client ID")
@click.option("--app-installation-owner", default="", help="github app installation owner (user or organization)")
@click.option("--app-installation-id", default="", help="github app installation ID")
@click.option("--app-private-key", default="", help="github app private key file path")
@click.option("--app-base-url", default="", help="github app base URL")
@create_options
@global_options
def githubapp(args: tuple[str, ...], app_id: str, app_client_id: str,
              app_installation_owner: str, app_installation_id: str, app_private_key: str,
              app_base_url: str, create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update a Kubernetes secret for GitHub App authentication."""
    name = require_name(args)
    if not app_id and not app_client_id:
        raise CommandError("--app-id is required")
    if bool(app_installation_owner) == bool(app_installation_id):
        raise CommandError("exactly one of --app-installation-owner or --app-installation-id "
                           "must be provided")
    if not app_private_key:
        raise CommandError("--app-private-key is required")
    private_key = read_credential_file(app_private_key, "unable to read private key file")
    labels = parse_labels(create_args.labels)
    data = {"githubAppPrivateKey": private_key}
    if app_id:
        data["githubAppID"] = app_id
    if app_client_id:
        data["githubAppClientID"] = app_client_id
    if app_installation_owner:
        data["githubAppInstallationOwner"] = app_installation_owner
    if app_installation_id:
        data["githubAppInstallationID"] = app_installation_id
    if app_base_url:
        data["githubAppBaseURL"] = app_base_url
    _publish_secret(credentials_secret(name, globals_.namespace, labels, data, "Opaque"), create_args, globals_)


@click.command("receiver", cls=FluxCommand, short_help="Create or update a Kubernetes secret for a Receiver webhook")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--type", "receiver_type", default="", help="type of webhook, available options are: (" + ", ".join(RECEIVER_TYPES) + ")")
@click.option("--token", default="", help="webhook token used for payload validation and URL computation, auto-generated if not specified")
@click.option("--hostname", default="", help="hostname for the webhook URL e.g. flux.example.com")
@click.option("--email-claim", default="", help="IAM service account email, required for gcr type")
@click.option("--audience-claim", default="", help="custom OIDC audience claim, gcr type only")
@create_options
@global_options
def receiver(args: tuple[str, ...], receiver_type: str, token: str, hostname: str,
             email_claim: str, audience_claim: str, create_args: CreateArgs,
             globals_: Globals) -> None:
    """Create or update a Kubernetes secret holding a Receiver's webhook token."""
    if receiver_type and receiver_type not in RECEIVER_TYPES:
        raise flag_error("--type", receiver_type,
                         f"receiver type '{receiver_type}' is not supported, must be one of: "
                         + ", ".join(RECEIVER_TYPES))
    name = require_name(args)
    if not receiver_type:
        raise CommandError("--type is required")
    if not hostname:
        raise CommandError("--hostname is required")
    if receiver_type == "gcr" and not email_claim:
        raise CommandError("--email-claim is required for gcr receiver type")
    labels = parse_labels(create_args.labels)
    token = token or secrets.token_hex(32)
    namespace = globals_.namespace
    digest = hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()
    data = {"token": token}
    if email_claim:
        data["email"] = email_claim
    if audience_claim:
        data["audience"] = audience_claim
    annotations = {WEBHOOK_ANNOTATION: f"https://{hostname}/hook/{digest}"}
    _publish_secret(credentials_secret(name, namespace, labels, data, annotations=annotations),
                    create_args, globals_)

