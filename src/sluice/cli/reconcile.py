"""``sluice reconcile <kind> NAME [--with-source]``: ask a controller to reconcile now, and wait.

As ``flux reconcile``: the object's ``reconcile.fluxcd.io/requestedAt``
annotation is set to the current time (Go's RFC 3339 with nanoseconds), and
the command polls until the controller reports it handled that request
(``status.lastHandledReconcileAt``) and finished the run, then prints what
it reached::

    ► annotating GitRepository flux-system in flux-system namespace
    ✔ GitRepository annotated
    ◎ waiting for GitRepository reconciliation
    ✔ fetched revision main@sha1:...

``--with-source`` first reconciles the object's source the same way (a
Kustomization's ``sourceRef``, a HelmRelease's chart and then its source, a
HelmChart's source). A suspended object is refused (``resource is
suspended``); a run that ends with Ready=False fails with ``Kustomization
reconciliation failed: '<message>'``; Alerts and Providers have no status
and report ``reconciliation not supported by the object``. ``reconcile hr``
also takes ``--force`` (a one-off upgrade) and ``--reset`` (clear retry
counters), set as their own annotations.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import click

from sluice.api.meta import (
    FORCE_REQUEST_ANNOTATION,
    RECONCILE_REQUEST_ANNOTATION,
    RESET_REQUEST_ANNOTATION,
)
from sluice.cli import kinds as k
from sluice.cli.clientctx import Client, connect_client, log, run
from sluice.cli.create_flags import bool_flag
from sluice.cli.failing import CommandError
from sluice.cli.kinds import FluxKind, kind_by_name, verb_group
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand
from sluice.cli.readiness import poll, reconcile_verdict
from sluice.controllers.unserved import CONTROLLER_NOT_RUNNING

__all__ = ["reconcile", "reconcile_object", "requested_at_now"]

Obj = dict[str, Any]


def requested_at_now() -> str:
    """The current time as Go's ``time.RFC3339Nano`` writes it (UTC, zeros trimmed)."""
    nanos = time.time_ns()
    seconds, fraction = divmod(nanos, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def _suspended(obj: Mapping[str, Any]) -> bool:
    return (obj.get("spec") or {}).get("suspend") is True


async def reconcile_object(client: Client, fk: FluxKind, name: str, namespace: str, *,
                           deadline: float, extra: Mapping[str, str] | None = None) -> Obj:
    """Annotate, wait for the run to finish, print the outcome; returns the object."""
    obj = await client.get(fk, name, namespace)
    if _suspended(obj):
        raise CommandError("resource is suspended")
    log.action(f"annotating {fk.kind} {name} in {namespace} namespace")
    stamp = requested_at_now()
    annotations = {RECONCILE_REQUEST_ANNOTATION: stamp}
    for key in extra or {}:
        annotations[key] = stamp
    await client.merge_patch(fk, name, {"metadata": {"annotations": annotations}}, namespace)
    log.success(f"{fk.kind} annotated")
    if not fk.has_status:
        log.success("reconciliation not supported by the object")
        return obj
    log.waiting(f"waiting for {fk.kind} reconciliation")
    mapping = await client.mapping(fk)
    last = [""]

    async def probe() -> tuple[bool, Obj]:
        current = await client.objects.get(mapping, name, namespace)
        for cond in (current.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready" and cond.get("reason") == CONTROLLER_NOT_RUNNING:
                # Nothing will ever handle the request: say so now, not after the timeout.
                raise CommandError(f"{fk.kind} reconciliation failed: '{cond.get('message')}'")
        verdict = reconcile_verdict(current, stamp)
        last[0] = verdict.last
        if verdict.done and verdict.error:
            raise CommandError(f"{fk.kind} reconciliation failed: '{verdict.error}'")
        return verdict.done, current

    done = await poll(probe, max(0.0, deadline - time.monotonic()),
                      f"{fk.kind} reconciliation", lambda: last[0])
    if fk.success is not None:
        log.success(fk.success(done))
    return done


async def _reconcile_source_of(client: Client, fk: FluxKind, obj: Mapping[str, Any],
                               deadline: float) -> None:
    """``--with-source``: reconcile what ``obj`` gets its artifact from."""
    namespace = str((obj.get("metadata") or {}).get("namespace") or client.namespace)
    name = str((obj.get("metadata") or {}).get("name") or "")
    if fk is k.HELM_RELEASE:
        spec = obj.get("spec") or {}
        chart_ref = spec.get("chartRef")
        if isinstance(chart_ref, Mapping) and chart_ref.get("name"):
            source_fk = kind_by_name(str(chart_ref.get("kind", "")))
            if source_fk is not None:
                await reconcile_object(client, source_fk, str(chart_ref["name"]),
                                       str(chart_ref.get("namespace") or namespace),
                                       deadline=deadline)
            return
        ref = fk.source_ref(obj)
        if ref is None:
            return
        _, source_ns, _ = ref
        chart_name = f"{namespace}-{name}"
        chart = await client.get_or_none(k.HELM_CHART, chart_name, source_ns)
        if chart is not None:
            await _reconcile_source_of(client, k.HELM_CHART, chart, deadline)
            await reconcile_object(client, k.HELM_CHART, chart_name, source_ns,
                                   deadline=deadline)
        return
    ref = fk.source_ref(obj)
    if ref is None:
        return
    kind, source_ns, source_name = ref
    source_fk = kind_by_name(kind)
    if source_fk is None:
        raise CommandError(f"source kind '{kind}' is not supported")
    await reconcile_object(client, source_fk, source_name, source_ns, deadline=deadline)


def _leaf(fk: FluxKind, noun: str) -> click.Command:
    def command(args: tuple[str, ...], with_source: bool, force: bool, reset: bool,
                globals_: Globals) -> None:
        if not args:
            raise CommandError(f"{fk.kind} name is required")
        name = args[0]
        extra: dict[str, str] = {}
        if force:
            extra[FORCE_REQUEST_ANNOTATION] = ""
        if reset:
            extra[RESET_REQUEST_ANNOTATION] = ""

        async def main() -> None:
            client = connect_client(globals_)
            deadline = time.monotonic() + client.timeout
            try:
                if with_source:
                    obj = await client.get(fk, name)
                    if _suspended(obj):
                        raise CommandError("resource is suspended")
                    await _reconcile_source_of(client, fk, obj, deadline)
                await reconcile_object(client, fk, name, client.namespace, deadline=deadline,
                                       extra=extra)
            finally:
                await client.aclose()

        run(main)

    command.__doc__ = f"Reconcile a {fk.kind}."
    decorated: Any = global_options(command)
    supports_source = fk in (k.KUSTOMIZATION, k.HELM_RELEASE, k.HELM_CHART)
    decorated = bool_flag("--reset", help="reset the retry counters of the HelmRelease")(
        decorated) if fk is k.HELM_RELEASE else click.option(
        "--reset", is_flag=True, default=False, hidden=True)(decorated)
    decorated = bool_flag("--force", help="force a one-off install or upgrade of the "
                                          "HelmRelease")(decorated) \
        if fk is k.HELM_RELEASE else click.option("--force", is_flag=True, default=False,
                                                  hidden=True)(decorated)
    decorated = click.option("--with-source", is_flag=True, default=False,
                             hidden=not supports_source,
                             help="reconcile the source of the object first")(decorated)
    decorated = click.argument("args", nargs=-1, metavar="NAME")(decorated)
    return click.command(noun, cls=SluiceCommand,
                         short_help=f"Reconcile a {fk.kind}")(decorated)


reconcile = verb_group("reconcile", "Reconcile sources and resources", _leaf)
