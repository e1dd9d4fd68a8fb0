"""``sluice create``: generate Flux objects, print them (``--export``) or apply them.

The command tree follows ``flux create``: ``source git|helm|oci|bucket|chart``,
``kustomization`` (``ks``), ``helmrelease`` (``hr``), ``image
repository|policy|update``, ``alert-provider``, ``alert``, ``receiver``,
``secret git|helm|oci|tls|proxy|receiver|githubapp`` and ``tenant``. The
persistent flags ``--interval``, ``--export`` and ``--label`` may be given on
``create`` or on the leaf command, as cobra allows; ``create source`` adds
``--fetch-timeout``.
"""

from __future__ import annotations

import click

from sluice.cli import (
    create_helmrelease,
    create_image,
    create_kustomization,
    create_notification,
    create_secret,
    create_source,
    create_tenant,
)
from sluice.cli.create_flags import bool_flag, store_group_values
from sluice.cli.parsing import FluxGroup, group_global_options

__all__ = ["create"]


@click.group("create", cls=FluxGroup, aliases={"ks": "kustomization", "hr": "helmrelease"})
@click.option("--interval", default=None, help="source sync interval (default 1m0s)")
@bool_flag("--export", help="export in YAML format to stdout")
@click.option("--label", multiple=True,
              help="set labels on the resource (can specify multiple labels with commas: "
                   "label1=value1,label2=value2)")
@group_global_options
@click.pass_context
def create(ctx: click.Context, interval: str | None, export: bool, label: tuple[str, ...]) -> None:
    """Create or update sources and resources."""
    store_group_values(ctx, interval=interval, export=export, labels=label)


@create.group("source", cls=FluxGroup)
@click.option("--fetch-timeout", default=None,
              help="set a timeout for fetch operations performed by source-controller "
                   "(e.g. 'git clone' or 'helm repo update')")
@group_global_options
@click.pass_context
def source(ctx: click.Context, fetch_timeout: str | None) -> None:
    """Create or update sources."""
    store_group_values(ctx, fetch_timeout=fetch_timeout)


@create.group("image", cls=FluxGroup)
@group_global_options
def image() -> None:
    """Create or update resources dealing with image automation."""


@create.group("secret", cls=FluxGroup, aliases={"github-app": "githubapp"})
@group_global_options
def secret() -> None:
    """Create or update Kubernetes secrets."""


for _command in (create_source.git, create_source.helm, create_source.oci,
                 create_source.bucket, create_source.chart):
    source.add_command(_command)
for _command in (create_image.repository, create_image.policy, create_image.update):
    image.add_command(_command)
for _command in (create_secret.git, create_secret.helm, create_secret.oci, create_secret.tls,
                 create_secret.proxy, create_secret.receiver, create_secret.githubapp):
    secret.add_command(_command)
for _command in (create_kustomization.kustomization, create_helmrelease.helmrelease,
                 create_notification.alert_provider, create_notification.alert,
                 create_notification.receiver, create_tenant.tenant):
    create.add_command(_command)
