"""``sluice bootstrap``: the command group and ``bootstrap git``.

``bootstrap git`` checks its flags the way flux does (``url is required``,
``scheme http is insecure, pass --allow-insecure-http=true to allow it``) and
hands over to :func:`sluice.cli.bootstrap_steps.run_bootstrap`, which does
flux's steps. ``bootstrap github`` and ``bootstrap gitlab``
(:mod:`sluice.cli.bootstrap_github`, :mod:`sluice.cli.bootstrap_gitlab`)
create the repository on the forge first, then run the same steps; they are
registered on this group so that ``sluice bootstrap`` lists them.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import click

from sluice.cli.bootstrap_github import bootstrap_github
from sluice.cli.bootstrap_gitlab import bootstrap_gitlab
from sluice.cli.bootstrap_steps import BootstrapOptions, clean_path, read_ca_file, run_bootstrap
from sluice.cli.clientctx import connect_client, run
from sluice.cli.create_flags import bool_flag, duration_flag
from sluice.cli.create_source import validate_ssh_key_flags
from sluice.cli.failing import CommandError
from sluice.cli.install import DEFAULT_REGISTRY, resolve_components
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand, SluiceGroup, group_global_options
from sluice.core.durations import MINUTE

__all__ = ["bootstrap"]


@click.group("bootstrap", cls=SluiceGroup)
@group_global_options
def bootstrap() -> None:
    """Deploy the controllers on a cluster and sync it from a Git repository."""


@bootstrap.command("git", cls=SluiceCommand,
                   short_help="Deploy Flux on a cluster connected to a Git repository")
@click.option("--url", default="", help="Git repository URL")
@click.option("--branch", default="main", help="Git branch")
@click.option("--path", default=".", help="path relative to the repository root, when "
                                          "specified the cluster sync will be scoped to "
                                          "this path")
@click.option("--interval", default="1m0s", help="sync interval")
@click.option("-u", "--username", default="git", help="basic authentication username")
@click.option("-p", "--password", default="", help="basic authentication password")
@bool_flag("-s", "--silent", help="assumes the deploy key is already setup, skips "
                                  "confirmation")
@bool_flag("--allow-insecure-http", help="allows insecure HTTP connections")
@bool_flag("--token-auth", help="when enabled, the personal access token will be used "
                                "instead of the SSH deploy key")
@click.option("--ca-file", default="", help="path to TLS CA file used for validating "
                                           "self-signed certificates")
@click.option("--private-key-file", default="", help="path to a private key file used for "
                                                     "authenticating to the Git SSH server")
@click.option("--ssh-key-algorithm", default="ecdsa", help="SSH public key algorithm "
                                                           "(rsa, ecdsa, ed25519)")
@click.option("--ssh-rsa-bits", default="2048", help="SSH RSA public key bit size")
@click.option("--ssh-ecdsa-curve", default="p384", help="SSH ECDSA public key curve "
                                                        "(p256, p384, p521)")
@click.option("--secret-name", default="flux-system", help="name of the secret the sync "
                                                           "credentials can be found in or "
                                                           "stored to")
@click.option("--components", multiple=True, help="list of components, accepts "
                                                  "comma-separated values")
@click.option("--components-extra", multiple=True, help="list of components in addition to "
                                                        "those supplied or defaulted")
@click.option("--registry", default=DEFAULT_REGISTRY, help="container registry of the "
                                                           "controller image")
@click.option("--author-name", default="Flux", help="author name for Git commits")
@click.option("--author-email", default="", help="author email for Git commits")
@click.option("--commit-message-appendix", default="", help="string to add to the commit "
                                                            "messages")
@bool_flag("--force", help="override existing Flux installation if it's managed by a "
                           "different tool")
@global_options
def bootstrap_git(url: str, branch: str, path: str, interval: str, username: str,
                  password: str, silent: bool, allow_insecure_http: bool, token_auth: bool,
                  ca_file: str, private_key_file: str, ssh_key_algorithm: str,
                  ssh_rsa_bits: str,
                  ssh_ecdsa_curve: str, secret_name: str, components: tuple[str, ...],
                  components_extra: tuple[str, ...], registry: str, author_name: str,
                  author_email: str, commit_message_appendix: str, force: bool,
                  globals_: Globals) -> None:
    """Commit the Flux manifests to a Git repository and sync the cluster from it."""
    if not url:
        raise CommandError("url is required")
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https", "ssh"):
        raise CommandError(f'scheme "{scheme}" is not supported')
    if scheme == "http" and not allow_insecure_http:
        raise CommandError("scheme http is insecure, pass --allow-insecure-http=true to "
                           "allow it")
    ca_cert = read_ca_file(ca_file)
    rsa_bits = validate_ssh_key_flags(ssh_key_algorithm, ssh_rsa_bits, ssh_ecdsa_curve)
    password = password or os.environ.get("GIT_PASSWORD", "")
    if token_auth and not password:
        password = click.prompt("Please enter your Git repository password", hide_input=True,
                                err=True)
    opts = BootstrapOptions(
        url=url, branch=branch, path=clean_path(path),
        interval=duration_flag("--interval", interval) or MINUTE, username=username,
        password=password, token_auth=token_auth, allow_insecure_http=allow_insecure_http,
        silent=silent, private_key_file=private_key_file, key_algorithm=ssh_key_algorithm,
        rsa_bits=rsa_bits, ecdsa_curve=ssh_ecdsa_curve, secret_name=secret_name,
        components=resolve_components(components, components_extra), registry=registry,
        author_name=author_name, author_email=author_email, appendix=commit_message_appendix,
        ca_cert=ca_cert)

    async def main() -> None:
        client = connect_client(globals_)
        try:
            await run_bootstrap(client, opts)
        finally:
            await client.aclose()

    run(main)


bootstrap.add_command(bootstrap_github)
bootstrap.add_command(bootstrap_gitlab)
