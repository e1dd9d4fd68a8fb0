"""``sluice suspend`` and ``sluice resume``: stop and restart the reconciliation of objects.

Both take one or more names, or ``--all`` for every object of the kind in
the namespace, and set ``spec.suspend`` with a merge patch, announcing each
object as flux does::

    ► suspending kustomization podinfo in flux-system namespace
    ✔ kustomization suspended

``resume`` also requests a reconcile (``reconcile.fluxcd.io/requestedAt``)
so the controller acts at once, and then waits, when one name is given or
with ``--wait``, until every resumed object is Ready for its new
generation::

    ◎ waiting for Kustomization reconciliation
    ✔ Kustomization podinfo reconciliation completed
    ✔ applied revision main@sha1:...

Names that do not exist are reported (``✗ Kustomization foo not found in
flux-system namespace``) after the others were handled, and make the
command exit non-zero.
"""

from __future__ import annotations

import time
from typing import Any

import click

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.cli.clientctx import Client, connect_client, log, run
from sluice.cli.create_flags import bool_flag
from sluice.cli.failing import CommandError
from sluice.cli.kinds import FluxKind, verb_group
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand
from sluice.cli.readiness import poll, ready_verdict
from sluice.cli.reconcile import requested_at_now

__all__ = ["resume", "suspend"]

Obj = dict[str, Any]


async def _names(client: Client, fk: FluxKind, args: tuple[str, ...], all_: bool) -> list[str]:
    if all_:
        return [str(o["metadata"]["name"]) for o in await client.list(fk, client.namespace)]
    return list(args)


async def _set_suspend(client: Client, fk: FluxKind, names: list[str], suspend: bool
                       ) -> tuple[list[str], list[str]]:
    """Patch each object; returns (changed names, missing names)."""
    verb = "suspending" if suspend else "resuming"
    done_word = "suspended" if suspend else "resumed"
    changed: list[str] = []
    missing: list[str] = []
    for name in names:
        if await client.get_or_none(fk, name) is None:
            missing.append(name)
            continue
        log.action(f"{verb} {fk.human} {name} in {client.namespace} namespace")
        patch: Obj = {"spec": {"suspend": suspend}}
        if not suspend:
            patch["metadata"] = {"annotations": {RECONCILE_REQUEST_ANNOTATION:
                                                 requested_at_now()}}
        await client.merge_patch(fk, name, patch)
        log.success(f"{fk.human} {done_word}")
        changed.append(name)
    return changed, missing


async def _wait_ready(client: Client, fk: FluxKind, names: list[str], deadline: float) -> None:
    log.waiting(f"waiting for {fk.kind} reconciliation")
    mapping = await client.mapping(fk)
    for name in names:
        obj = await _wait_one(client, fk, mapping, name, deadline)
        log.success(f"{fk.kind} {name} reconciliation completed")
        if fk.success is not None:
            log.success(fk.success(obj))


async def _wait_one(client: Client, fk: FluxKind, mapping: Any, name: str,
                    deadline: float) -> Obj:
    last = [""]

    async def probe() -> tuple[bool, Obj]:
        obj = await client.objects.get(mapping, name, client.namespace)
        verdict = ready_verdict(obj)
        last[0] = verdict.last
        if verdict.done and verdict.error:
            raise CommandError(f"{fk.kind} {name} reconciliation failed: {verdict.error}")
        return verdict.done, obj

    return await poll(probe, max(0.0, deadline - time.monotonic()),
                      f"{fk.kind} {name} reconciliation", lambda: last[0])


def _report_missing(fk: FluxKind, missing: list[str], namespace: str) -> None:
    for name in missing:
        log.failure(f"{fk.kind} {name} not found in {namespace} namespace")
    if missing:
        raise CommandError(f"{len(missing)} of the named {fk.kind} objects not found",
                           exit_code=1)


def _leaf(fk: FluxKind, noun: str, *, suspend: bool) -> click.Command:
    def command(args: tuple[str, ...], all_: bool, wait: bool, globals_: Globals) -> None:
        if not args and not all_:
            raise CommandError(f"{fk.human} name is required")

        async def main() -> None:
            client = connect_client(globals_)
            deadline = time.monotonic() + client.timeout
            try:
                names = await _names(client, fk, args, all_)
                changed, missing = await _set_suspend(client, fk, names, suspend)
                should_wait = (not suspend and fk.has_status and changed
                               and (wait or (len(args) == 1 and not all_)))
                if should_wait:
                    await _wait_ready(client, fk, changed, deadline)
                _report_missing(fk, missing, client.namespace)
            finally:
                await client.aclose()

        try:
            run(main)
        except CommandError as exc:
            # The per-name failures were printed already; only the exit code is left.
            if str(exc).endswith("objects not found"):
                raise SystemExit(exc.exit_code) from None
            raise

    verb = "Suspend" if suspend else "Resume"
    command.__doc__ = f"{verb} reconciliation of {fk.kind} objects."
    decorated: Any = global_options(command)
    decorated = click.option("--wait", is_flag=True, default=False, hidden=suspend,
                             help="wait for the resumed objects to become ready")(decorated)
    decorated = bool_flag("--all", "all_", help=f"{verb.lower()} all {fk.kind} objects in "
                                                "the namespace")(decorated)
    decorated = click.argument("args", nargs=-1, metavar="[NAME]...")(decorated)
    return click.command(noun, cls=SluiceCommand,
                         short_help=f"{verb} reconciliation of {fk.kind} objects")(decorated)


suspend = verb_group("suspend", "Suspend reconciliation of sources and resources",
                     lambda fk, noun: _leaf(fk, noun, suspend=True))
resume = verb_group("resume", "Resume suspended reconciliation of sources and resources",
                    lambda fk, noun: _leaf(fk, noun, suspend=False))
