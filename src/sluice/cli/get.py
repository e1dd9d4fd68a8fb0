"""``sluice get``: the status tables of Flux objects, with flux's columns and flags.

Nouns as in flux: ``all``, ``sources all|git|helm|chart|oci|bucket``,
``kustomizations`` (``ks``), ``helmreleases`` (``hr``), ``images
all|repository|policy|update``, ``alerts``, ``alert-providers``,
``receivers``. Flags, on ``get`` or on the noun: ``-A`` (adds a NAMESPACE
column), ``--no-header``, ``-l`` (label selector), ``--status-selector
ready=false`` (or ``ready!=true``; condition type and status compared without
case), ``-w`` (keep printing rows as objects change, until ``--timeout``).

Columns per kind follow flux: ``NAME REVISION SUSPENDED READY MESSAGE`` for
sources and Kustomizations (revisions and messages with hashes cut to 8 hex
digits), HelmReleases (chart version, not shortened), ``NAME LAST SCAN
SUSPENDED READY MESSAGE`` for image repositories, ``NAME IMAGE TAG READY
MESSAGE`` for image policies, ``NAME LAST RUN SUSPENDED READY MESSAGE`` for
image updates, ``NAME SUSPENDED READY MESSAGE`` for alerts and receivers,
``NAME READY MESSAGE`` for providers. An object with no Ready condition reads
``False`` / ``waiting to be reconciled``. ``get all`` prints one table per
kind that has objects, names written ``kind/name``, each followed by a
blank line; kinds whose CRD is not installed are skipped.

A named object that does not exist is an error (``Kustomization object 'x'
not found in "flux-system" namespace``, exit 1); an empty list is reported on
stderr and is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from sluice.cli import kinds as k
from sluice.cli.clientctx import Client, connect_client, log, not_found, run
from sluice.cli.failing import CommandError
from sluice.cli.kinds import FluxKind, condition, rfc3339
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand, SluiceGroup, group_global_options
from sluice.cli.tables import format_table, truncate_hex
from sluice.kube.errors import NoKindMatch

__all__ = ["GetFlags", "get", "object_row", "table_for"]

F = TypeVar("F", bound=Callable[..., Any])
Obj = dict[str, Any]
_META = "sluice.get"


@dataclass
class GetFlags:
    """``flux get``'s persistent flags."""

    all_namespaces: bool = False
    no_header: bool = False
    watch: bool = False
    status_selector: str = ""
    label_selector: str = ""


# ------------------------------------------------------------------ rows


def _meta(obj: Mapping[str, Any], key: str) -> str:
    return str((obj.get("metadata") or {}).get(key) or "")


def _status(obj: Mapping[str, Any], *path: str) -> Any:
    value: Any = obj.get("status") or {}
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _suspended(obj: Mapping[str, Any]) -> str:
    return "True" if (obj.get("spec") or {}).get("suspend") is True else "False"


def ready_and_message(obj: Mapping[str, Any]) -> tuple[str, str]:
    """READY and MESSAGE: the Ready condition, or flux's placeholder without one."""
    ready = condition(obj, "Ready")
    if ready is None:
        return "False", "waiting to be reconciled"
    return str(ready.get("status") or ""), str(ready.get("message") or "")


def _source_column(fk: FluxKind, obj: Mapping[str, Any]) -> str:
    if fk is k.HELM_RELEASE and (obj.get("spec") or {}).get("chartRef"):
        ref = obj["spec"]["chartRef"]
        namespace = ref.get("namespace") or _meta(obj, "namespace")
        return f"{ref.get('kind', '')}/{namespace}/{ref.get('name', '')}"
    found = fk.source_ref(obj)
    if found is None:
        return ""
    kind, namespace, name = found
    return f"{kind}/{namespace}/{name}"


def _headers(fk: FluxKind, all_namespaces: bool, show_source: bool) -> list[str]:
    if fk is k.IMAGE_REPOSITORY:
        heads = ["Name", "Last scan", "Suspended", "Ready", "Message"]
    elif fk is k.IMAGE_POLICY:
        heads = ["Name", "Image", "Tag", "Ready", "Message"]
    elif fk is k.IMAGE_UPDATE:
        heads = ["Name", "Last run", "Suspended", "Ready", "Message"]
    elif fk in (k.ALERT, k.RECEIVER):
        heads = ["Name", "Suspended", "Ready", "Message"]
    elif fk is k.PROVIDER:
        heads = ["Name", "Ready", "Message"]
    else:
        heads = ["Name", "Revision", "Suspended", "Ready", "Message"]
        if show_source:
            heads.insert(1, "Source")
    return (["Namespace"] if all_namespaces else []) + heads


def object_row(fk: FluxKind, obj: Mapping[str, Any], *, all_namespaces: bool = False,
               include_kind: bool = False, show_source: bool = False) -> list[str]:
    """One table row for ``obj``, as ``flux get`` prints it."""
    name = _meta(obj, "name")
    if include_kind:
        name = f"{fk.kind.lower()}/{name}"
    row = [_meta(obj, "namespace"), name] if all_namespaces else [name]
    ready, message = ready_and_message(obj)
    if fk is k.IMAGE_REPOSITORY:
        row += [rfc3339(_status(obj, "lastScanResult", "scanTime")), _suspended(obj), ready,
                message]
    elif fk is k.IMAGE_POLICY:
        row += [str(_status(obj, "latestRef", "name") or ""),
                str(_status(obj, "latestRef", "tag") or ""), ready, message]
    elif fk is k.IMAGE_UPDATE:
        row += [rfc3339(_status(obj, "lastAutomationRunTime")), _suspended(obj), ready,
                message]
    elif fk is k.ALERT:
        # Alerts (v1beta3) have no status: flux reports them as always ready.
        row += [_suspended(obj), "True", "Alert is Ready"]
    elif fk is k.PROVIDER:
        row += ["True", "Provider is Ready"]
    elif fk is k.RECEIVER:
        row += [_suspended(obj), ready, message]
    elif fk is k.HELM_RELEASE:
        if show_source:
            row.append(_source_column(fk, obj))
        row += [k.helmrelease_revision(obj), _suspended(obj), ready, message]
    else:
        revision = str(_status(obj, "lastAppliedRevision") if fk is k.KUSTOMIZATION
                       else _status(obj, "artifact", "revision") or "")
        if revision == "None":
            revision = ""
        if fk is not k.HELM_CHART:
            revision = truncate_hex(revision)
        if show_source:
            row.append(_source_column(fk, obj))
        row += [revision, _suspended(obj), ready, truncate_hex(message)]
    return row


def _parse_selector(selector: str) -> tuple[str, str, bool] | None:
    """``type=status`` or ``type!=status`` -> (type, status, negated)."""
    if not selector:
        return None
    parts = selector.split("=", 1)
    if len(parts) != 2:
        raise CommandError("expected status selector in type=status format, but found: "
                           f"{selector}")
    type_, status = parts
    negated = type_.endswith("!")
    return type_.rstrip("!"), status, negated


def _selector_matches(fk: FluxKind, obj: Mapping[str, Any],
                      selector: tuple[str, str, bool] | None) -> bool:
    if selector is None:
        return True
    type_, status, negated = selector
    found: Mapping[str, Any] | None = None
    if fk.has_status:
        for cond in _status(obj, "conditions") or []:
            if isinstance(cond, Mapping) and str(cond.get("type", "")).casefold() == \
                    type_.casefold():
                found = cond
    matched = found is not None and str(found.get("status", "")).casefold() == status.casefold()
    return not matched if negated else matched


def table_for(fk: FluxKind, items: Sequence[Mapping[str, Any]], flags: GetFlags, *,
              include_kind: bool = False, show_source: bool = False,
              header: bool = True) -> tuple[str, int]:
    """The table text for ``items`` after the status selector, and how many rows it has."""
    selector = _parse_selector(flags.status_selector)
    rows = [object_row(fk, o, all_namespaces=flags.all_namespaces, include_kind=include_kind,
                       show_source=show_source)
            for o in items if _selector_matches(fk, o, selector)]
    heads = [] if (flags.no_header or not header) else \
        _headers(fk, flags.all_namespaces, show_source)
    return format_table(heads, rows), len(rows)


# ------------------------------------------------------------------ running


def _scope(flags: GetFlags, globals_: Globals) -> str:
    return "any" if flags.all_namespaces else f'"{globals_.namespace}"'


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def _list(client: Client, fk: FluxKind, flags: GetFlags, name: str | None) -> list[Obj]:
    namespace = None if flags.all_namespaces else client.namespace
    items = await client.list(fk, namespace, label_selector=flags.label_selector or None)
    if name is not None:
        items = [o for o in items if _meta(o, "name") == name]
    return items


async def _one_kind(client: Client, fk: FluxKind, flags: GetFlags, globals_: Globals,
                    args: Sequence[str], *, in_all: bool, show_source: bool) -> bool:
    """Print the kind's table; whether it had objects to show."""
    name = args[0] if args else None
    items = await _list(client, fk, flags, name)
    if not items:
        if name is not None:
            scope = "any" if flags.all_namespaces else globals_.namespace
            message = (not_found(fk, name, scope) if not flags.all_namespaces
                       else f"{fk.kind} object '{name}' not found in any namespace")
            raise CommandError(message)
        if not in_all:
            log.failure(f"no {fk.kind} objects found in {_scope(flags, globals_)} namespace")
        return False
    text, count = table_for(fk, items, flags, include_kind=in_all, show_source=show_source)
    if in_all and count == 0:
        return False
    _echo(text)
    if in_all:
        _echo("\n")
    return count > 0


async def _watch(client: Client, fk: FluxKind, flags: GetFlags, args: Sequence[str],
                 show_source: bool) -> None:
    """Print the current rows, then one row per change until ``--timeout``."""
    name = args[0] if args else None
    mapping = await client.mapping(fk)
    namespace = None if flags.all_namespaces else client.namespace
    items, version = await client.objects.list(mapping, namespace,
                                               label_selector=flags.label_selector or None)
    if name is not None:
        items = [o for o in items if _meta(o, "name") == name]
    text, _ = table_for(fk, items, flags, show_source=show_source)
    _echo(text)
    printed_header = bool(items) or flags.no_header

    async def follow() -> None:
        nonlocal printed_header
        async for etype, obj in client.objects.watch(
                mapping, namespace, resource_version=version,
                label_selector=flags.label_selector or None,
                timeout_seconds=max(1, int(client.timeout))):
            if etype not in ("ADDED", "MODIFIED") or (name and _meta(obj, "name") != name):
                continue
            row_text, count = table_for(fk, [obj], flags, show_source=show_source,
                                        header=not printed_header)
            if count:
                printed_header = True
                _echo(row_text)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(follow(), timeout=client.timeout)


def _run_get(kinds_: Sequence[FluxKind], args: Sequence[str], flags: GetFlags,
             globals_: Globals, *, in_all: bool, show_source: bool = False) -> None:
    _parse_selector(flags.status_selector)  # fail on a malformed selector before connecting
    if flags.watch and in_all:
        raise CommandError("expected a single resource type, but found all")

    async def main() -> None:
        client = connect_client(globals_)
        try:
            if flags.watch:
                await _watch(client, kinds_[0], flags, args, show_source)
                return
            shown: list[str] = []
            for fk in kinds_:
                try:
                    if await _one_kind(client, fk, flags, globals_, args, in_all=in_all,
                                       show_source=show_source):
                        shown.append(fk.kind)
                except NoKindMatch:
                    if not in_all:
                        raise
                except CommandError as exc:
                    if not in_all:
                        raise
                    log.failure(str(exc))
            if shown:
                # Imported here: the heartbeat reader is not needed to print an empty list.
                from sluice.cli.unserved_warning import warn_unserved
                await warn_unserved(client, shown)
        finally:
            await client.aclose()

    run(main)


# ------------------------------------------------------------------ flags


def _stored(ctx: click.Context) -> dict[str, Any]:
    stored = ctx.meta.get(_META)
    return stored if isinstance(stored, dict) else {}


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value not in (None, False, "") and param.name:
        ctx.meta.setdefault(_META, {})[param.name] = value
    return value


def _group_flags(func: F) -> F:
    """``get``'s persistent flags on a group: remembered for the leaf."""
    for decorator in (
        click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True, default=None,
                     expose_value=False, callback=_remember,
                     help="list the requested object(s) across all namespaces"),
        click.option("--no-header", "no_header", is_flag=True, default=None,
                     expose_value=False, callback=_remember,
                     help="skip the header when printing the results"),
        click.option("-w", "--watch", "watch", is_flag=True, default=None, expose_value=False,
                     callback=_remember,
                     help="after listing/getting the requested object, watch for changes"),
        click.option("--status-selector", "status_selector", default=None, expose_value=False,
                     callback=_remember,
                     help="specify the status condition name and the desired state to filter "
                          "the get result, e.g. ready=false"),
        click.option("-l", "--label-selector", "label_selector", default=None,
                     expose_value=False, callback=_remember,
                     help="filter objects by label selector"),
    ):
        func = decorator(func)
    return func


def get_flags(func: F) -> F:
    """The same flags on a leaf command; the leaf receives ``flags`` (GetFlags)."""

    @click.option("-A", "--all-namespaces", "g_all", is_flag=True, default=None,
                  help="list the requested object(s) across all namespaces")
    @click.option("--no-header", "g_no_header", is_flag=True, default=None,
                  help="skip the header when printing the results")
    @click.option("-w", "--watch", "g_watch", is_flag=True, default=None,
                  help="after listing/getting the requested object, watch for changes")
    @click.option("--status-selector", "g_status", default=None,
                  help="specify the status condition name and the desired state to filter "
                       "the get result, e.g. ready=false")
    @click.option("-l", "--label-selector", "g_labels", default=None,
                  help="filter objects by label selector")
    @functools.wraps(func)
    def wrapper(*args: Any, g_all: bool | None, g_no_header: bool | None,
                g_watch: bool | None, g_status: str | None, g_labels: str | None,
                **kwargs: Any) -> Any:
        stored = _stored(click.get_current_context())
        flags = GetFlags(
            all_namespaces=bool(g_all or stored.get("all_namespaces")),
            no_header=bool(g_no_header or stored.get("no_header")),
            watch=bool(g_watch or stored.get("watch")),
            status_selector=g_status or str(stored.get("status_selector") or ""),
            label_selector=g_labels or str(stored.get("label_selector") or ""),
        )
        return func(*args, flags=flags, **kwargs)

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------------ commands


@click.group("get", cls=SluiceGroup, aliases={
    "ks": "kustomizations", "kustomization": "kustomizations",
    "hr": "helmreleases", "helmrelease": "helmreleases",
    "alert": "alerts", "alert-provider": "alert-providers", "receiver": "receivers",
    "source": "sources", "image": "images",
})
@_group_flags
@group_global_options
def get() -> None:
    """Get the resources and their status."""


def _leaf(name: str, fk: FluxKind, short: str, *, show_source_flag: bool = False) -> \
        click.Command:
    def command(args: tuple[str, ...], show_source: bool, flags: GetFlags,
                globals_: Globals) -> None:
        _run_get([fk], args, flags, globals_, in_all=False, show_source=show_source)

    command.__doc__ = short
    decorated = global_options(get_flags(command))
    # Only Kustomizations and HelmReleases have a source column in flux.
    decorated = click.option("--show-source", is_flag=True, default=False,
                             hidden=not show_source_flag,
                             help=f"show the source reference for each {fk.human}")(decorated)
    decorated = click.argument("args", nargs=-1, metavar="[NAME]")(decorated)
    return click.command(name, cls=SluiceCommand, short_help=short)(decorated)


def _all_leaf(kinds_: Sequence[FluxKind], short: str) -> click.Command:
    def command(args: tuple[str, ...], flags: GetFlags, globals_: Globals) -> None:
        _run_get(kinds_, args, flags, globals_, in_all=True)

    command.__doc__ = short
    decorated = global_options(get_flags(command))
    decorated = click.argument("args", nargs=-1, metavar="[NAME]")(decorated)
    return click.command("all", cls=SluiceCommand, short_help=short)(decorated)


@get.group("sources", cls=SluiceGroup)
@_group_flags
@group_global_options
def sources() -> None:
    """Get source statuses."""


@get.group("images", cls=SluiceGroup)
@_group_flags
@group_global_options
def images() -> None:
    """Get image automation object status."""


sources.add_command(_all_leaf(list(k.SOURCES.values()), "Get all source statuses"))
for _noun, _kind in k.SOURCES.items():
    sources.add_command(_leaf(_noun, _kind, f"Get {_kind.kind} source statuses"))
images.add_command(_all_leaf(list(k.IMAGES.values()), "Get all image statuses"))
for _noun, _kind in k.IMAGES.items():
    images.add_command(_leaf(_noun, _kind, f"Get {_kind.kind} status"))
get.add_command(_leaf("kustomizations", k.KUSTOMIZATION, "Get Kustomization statuses",
                      show_source_flag=True))
get.add_command(_leaf("helmreleases", k.HELM_RELEASE, "Get HelmRelease statuses",
                      show_source_flag=True))
get.add_command(_leaf("alerts", k.ALERT, "Get Alert statuses"))
get.add_command(_leaf("alert-providers", k.PROVIDER, "Get Provider statuses"))
get.add_command(_leaf("receivers", k.RECEIVER, "Get Receiver statuses"))
get.add_command(_all_leaf(
    [*k.SOURCES.values(), *k.IMAGES.values(), k.HELM_RELEASE, k.KUSTOMIZATION, k.RECEIVER,
     k.PROVIDER, k.ALERT],
    "Get all resources and statuses"))
