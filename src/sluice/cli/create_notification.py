"""``sluice create alert-provider|alert|receiver``: notification objects.

Mirrors ``flux create``: Provider and Alert in
``notification.toolkit.fluxcd.io/v1beta3`` (neither has a status), Receiver
in ``notification.toolkit.fluxcd.io/v1``. Event sources and receiver
resources are ``Kind/name`` (``Kind/*`` for all objects of a kind).
"""

from __future__ import annotations

from typing import Any

import click

from sluice.cli.create_flags import (
    CreateArgs,
    create_options,
    log_generate,
    object_meta,
    parse_kind_name,
    parse_labels,
    publish,
    require_name,
    string_slice,
)
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import FluxCommand

__all__ = ["alert", "alert_provider", "receiver"]

NOTIFICATION_API_V1BETA3 = "notification.toolkit.fluxcd.io/v1beta3"
NOTIFICATION_API_V1 = "notification.toolkit.fluxcd.io/v1"


def _references(values: tuple[str, ...]) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    for value in string_slice(values):
        kind, name = parse_kind_name(value)
        if not kind:
            raise CommandError(f"invalid event source '{value}', must be in format <kind>/<name>")
        refs.append({"kind": kind, "name": name})
    return refs


@click.command("alert-provider", cls=FluxCommand,
               short_help="Create or update a Provider resource")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--type", "provider_type", default="", help="type of provider")
@click.option("--channel", default="", help="channel to send messages to in the case of a chat provider")
@click.option("--username", default="", help="bot username used by the provider")
@click.option("--address", default="", help="path to either the git repository, chat provider or webhook")
@click.option("--secret-ref", default="", help="name of secret containing authentication token")
@create_options
@global_options
def alert_provider(args: tuple[str, ...], provider_type: str, channel: str, username: str,
                   address: str, secret_ref: str, create_args: CreateArgs,
                   globals_: Globals) -> None:
    """Create or update a Provider resource."""
    name = require_name(args)
    if not provider_type:
        raise CommandError("Provider type is required")
    labels = parse_labels(create_args.labels)
    if not create_args.export:
        log_generate("generating Provider")
    spec: dict[str, Any] = {"type": provider_type}
    if channel:
        spec["channel"] = channel
    if username:
        spec["username"] = username
    if address:
        spec["address"] = address
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    obj = {"apiVersion": NOTIFICATION_API_V1BETA3, "kind": "Provider",
           "metadata": object_meta(name, globals_.namespace, labels), "spec": spec}
    publish(obj, create_args, globals_)


@click.command("alert", cls=FluxCommand, short_help="Create or update a Alert resource")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--provider-ref", default="", help="reference to provider")
@click.option("--event-severity", default="", help="severity of events to send alerts for")
@click.option("--event-source", multiple=True, help="sources that should generate alerts (<kind>/<name>)")
@create_options
@global_options
def alert(args: tuple[str, ...], provider_ref: str, event_severity: str,
          event_source: tuple[str, ...], create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update an Alert resource."""
    name = require_name(args)
    if not provider_ref:
        raise CommandError("provider ref is required")
    sources = _references(event_source)
    if not sources:
        raise CommandError("at least one event source is required")
    labels = parse_labels(create_args.labels)
    if not create_args.export:
        log_generate("generating Alert")
    spec: dict[str, Any] = {"providerRef": {"name": provider_ref}, "eventSources": sources}
    if event_severity:
        spec["eventSeverity"] = event_severity
    obj = {"apiVersion": NOTIFICATION_API_V1BETA3, "kind": "Alert",
           "metadata": object_meta(name, globals_.namespace, labels), "spec": spec}
    publish(obj, create_args, globals_)


@click.command("receiver", cls=FluxCommand, short_help="Create or update a Receiver resource")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--type", "receiver_type", default="", help="type of webhook (generic, generic-hmac, github, gitlab, bitbucket, harbor, dockerhub, quay, gcr, nexus, acr, cdevents)")
@click.option("--secret-ref", default="", help="name of secret containing authentication token")
@click.option("--event", multiple=True, help="also accepts comma-separated values")
@click.option("--resource", multiple=True, help="also accepts comma-separated values")
@create_options
@global_options
def receiver(args: tuple[str, ...], receiver_type: str, secret_ref: str, event: tuple[str, ...],
             resource: tuple[str, ...], create_args: CreateArgs, globals_: Globals) -> None:
    """Create or update a Receiver resource."""
    name = require_name(args)
    if not receiver_type:
        raise CommandError("Receiver type is required")
    if not secret_ref:
        raise CommandError("secret ref is required")
    resources = _references(resource)
    if not resources:
        raise CommandError("atleast one resource is required")
    labels = parse_labels(create_args.labels)
    if not create_args.export:
        log_generate("generating Receiver")
    spec: dict[str, Any] = {"type": receiver_type, "resources": resources,
                            "secretRef": {"name": secret_ref}}
    if events := string_slice(event):
        spec["events"] = events
    obj = {"apiVersion": NOTIFICATION_API_V1, "kind": "Receiver",
           "metadata": object_meta(name, globals_.namespace, labels), "spec": spec, "status": {}}
    publish(obj, create_args, globals_)
