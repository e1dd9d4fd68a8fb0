"""``sluice events``: the Kubernetes Events of Flux objects, oldest first, as flux lists them.

Columns ``LAST SEEN TYPE REASON OBJECT MESSAGE`` (``NAMESPACE`` first with
``-A``, or when ``--for`` pulls in events from another namespace). LAST SEEN
is Kubernetes' compact age, ``22s (x15 over 14m)`` for an event repeated 15
times. Only events about Flux kinds are shown; a multi-line message (the
list of objects a Kustomization applied) spans several table lines.

``--for Kind[/name]`` narrows to one kind or object (the kind in any case),
and for a named object adds the events of what it depends on, as flux
does: a Kustomization's source, a HelmRelease's source and HelmChart, an
ImagePolicy's ImageRepository, an Alert's Provider. ``--types
Normal,Warning`` filters by type; ``-w`` keeps printing new events until
``--timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from sluice.cli import kinds as k
from sluice.cli.clientctx import Client, connect_client, log, run
from sluice.cli.create_flags import string_slice
from sluice.cli.failing import CommandError
from sluice.cli.kinds import FluxKind, kind_by_name
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand
from sluice.cli.tables import format_table, human_duration, parse_time

__all__ = ["event_row", "events"]

Obj = dict[str, Any]
_FLUX_KINDS = frozenset(fk.kind for fk in k.ALL)
_MIN_TIME = datetime.min.replace(tzinfo=UTC)


def _event_time(event: Mapping[str, Any]) -> datetime:
    series = event.get("series") or {}
    for value in (series.get("lastObservedTime"), event.get("lastTimestamp"),
                  event.get("eventTime")):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return _MIN_TIME


def _since(value: object, now: datetime) -> str:
    parsed = parse_time(value)
    if parsed is None:
        return "<unknown>"
    return human_duration((now - parsed).total_seconds())


def last_seen(event: Mapping[str, Any], now: datetime) -> str:
    """kubectl's LAST SEEN: the age, or ``<last> (xN over <first>)`` for repeats."""
    first = _since(event.get("eventTime") or event.get("firstTimestamp"), now)
    series = event.get("series") or {}
    if series:
        return f"{_since(series.get('lastObservedTime'), now)} (x{series.get('count', 0)} " \
               f"over {first})"
    count = event.get("count") or 0
    if isinstance(count, int) and count > 1:
        return f"{_since(event.get('lastTimestamp'), now)} (x{count} over {first})"
    return first


def event_row(event: Mapping[str, Any], now: datetime, show_namespace: bool) -> list[str]:
    involved = event.get("involvedObject") or {}
    row = [str((event.get("metadata") or {}).get("namespace") or "")] if show_namespace else []
    return [*row, last_seen(event, now), str(event.get("type") or ""),
            str(event.get("reason") or ""),
            f"{involved.get('kind', '')}/{involved.get('name', '')}",
            str(event.get("message") or "")]


def _headers(show_namespace: bool) -> list[str]:
    return (["Namespace"] if show_namespace else []) + ["Last seen", "Type", "Reason", "Object",
                                                        "Message"]


def _parse_for(selector: str) -> tuple[FluxKind, str]:
    kind, _, name = selector.partition("/")
    if not kind:
        raise CommandError("--for selector must be of format <kind>[/<name>]")
    fk = kind_by_name(kind)
    if fk is None:
        raise CommandError(f"'{kind}' is not a recognized Flux kind")
    return fk, name


async def _related(client: Client, fk: FluxKind, name: str, namespace: str
                   ) -> list[tuple[str, str, str]]:
    """(kind, name, namespace) of what a named object depends on."""
    obj = await client.get_or_none(fk, name, namespace)
    if obj is None:
        return []
    refs: list[tuple[str, str, str]] = []
    spec = obj.get("spec") or {}
    if fk is k.ALERT:
        provider = (spec.get("providerRef") or {}).get("name")
        if provider:
            refs.append(("Provider", str(provider), namespace))
        return refs
    if fk is k.HELM_RELEASE and isinstance(spec.get("chartRef"), Mapping):
        ref = spec["chartRef"]
        refs.append((str(ref.get("kind", "")), str(ref.get("name", "")),
                     str(ref.get("namespace") or namespace)))
        return refs
    found = fk.source_ref(obj)
    if found is not None:
        kind, source_ns, source_name = found
        refs.append((kind or ("ImageRepository" if fk is k.IMAGE_POLICY else ""), source_name,
                     source_ns))
        if fk is k.HELM_RELEASE:
            refs.append(("HelmChart", f"{namespace}-{name}", source_ns))
    return refs


def _keep(event: Mapping[str, Any], types: Sequence[str],
          wanted: Sequence[tuple[str, str, str | None]] | None) -> bool:
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "")
    if kind not in _FLUX_KINDS:
        return False
    if types and str(event.get("type") or "").casefold() not in {t.casefold() for t in types}:
        return False
    if wanted is None:
        return True
    namespace = str((event.get("metadata") or {}).get("namespace") or "")
    name = str(involved.get("name") or "")
    return any(kind == w_kind and (not w_name or name == w_name)
               and (w_ns is None or namespace == w_ns) for w_kind, w_name, w_ns in wanted)


@click.command("events", cls=SluiceCommand, short_help="Display Kubernetes events for Flux resources")
@click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True, default=False,
              help="display events from Flux resources across all namespaces")
@click.option("-w", "--watch", is_flag=True, default=False,
              help="indicate if the events should be streamed")
@click.option("--for", "for_", default="", help="get events for a particular object")
@click.option("--types", multiple=True,
              help="filter events for certain types (valid types are: Normal, Warning)")
@global_options
def events(all_namespaces: bool, watch: bool, for_: str, types: tuple[str, ...],
           globals_: Globals) -> None:
    """Display Kubernetes events for Flux resources."""
    type_list = string_slice(types)
    for t in type_list:
        if t.casefold() not in ("normal", "warning"):
            raise CommandError(f"type '{t}' not supported. Supported types are Normal, Warning")
    selected = _parse_for(for_) if for_ else None

    async def main() -> None:
        client = connect_client(globals_)
        try:
            namespace = None if all_namespaces else client.namespace
            wanted: list[tuple[str, str, str | None]] | None = None
            show_ns = all_namespaces
            if selected is not None:
                fk, name = selected
                wanted = [(fk.kind, name, namespace)]
                if name:
                    for kind, ref_name, ref_ns in await _related(client, fk, name,
                                                                 client.namespace):
                        wanted.append((kind, ref_name, ref_ns))
                        if ref_ns != client.namespace:
                            show_ns = True
            mapping = await client.objects.mapping("v1", "Event")
            scopes = {namespace} if not show_ns or all_namespaces else \
                {namespace, *(w[2] for w in wanted or [])}
            items: list[Obj] = []
            version = ""
            for scope in sorted(scopes, key=lambda s: s or ""):
                listed, version = await client.objects.list(mapping, scope)
                items.extend(listed)
            kept = sorted((e for e in items if _keep(e, type_list, wanted)), key=_event_time)
            now = datetime.now(UTC)
            if not kept and not watch:
                if all_namespaces:
                    log.failure("No events found.")
                else:
                    log.failure(f"No events found in {client.namespace} namespace.")
                return
            header_printed = bool(kept)
            if kept:
                _echo(format_table(_headers(show_ns),
                                   [event_row(e, now, show_ns) for e in kept]))
            if not watch:
                return

            async def follow() -> None:
                nonlocal header_printed
                scope = None if len(scopes) > 1 else next(iter(scopes))
                async for etype, event in client.objects.watch(
                        mapping, scope, resource_version=version or None,
                        timeout_seconds=max(1, int(client.timeout))):
                    if etype == "DELETED" or etype == "BOOKMARK" or \
                            not _keep(event, type_list, wanted):
                        continue
                    heads = [] if header_printed else _headers(show_ns)
                    header_printed = True
                    _echo(format_table(heads, [event_row(event, datetime.now(UTC), show_ns)]))

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(follow(), timeout=client.timeout)
        finally:
            await client.aclose()

    run(main)


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
