"""``sluice delete <kind> NAME [--silent]``: delete a Flux object, after confirming.

As ``flux delete``: the object must exist (``Kustomization object 'x' not
found in "flux-system" namespace`` otherwise), the user is asked ``Are you
sure you want to delete this kustomization`` unless ``-s/--silent``, and
the deletion is announced::

    ► deleting kustomization podinfo in flux-system namespace
    ✔ kustomization deleted

The command does not wait for finalizers: the controller then applies the
object's deletion policy (a Kustomization with ``prune: true`` removes what
it applied) on its own.
"""

from __future__ import annotations

from typing import Any

import click

from sluice.cli.clientctx import connect_client, log, run
from sluice.cli.create_flags import bool_flag
from sluice.cli.failing import CommandError
from sluice.cli.kinds import FluxKind, verb_group
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand

__all__ = ["delete"]

_SILENT = "sluice.delete.silent"


def _remember_silent(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        ctx.meta[_SILENT] = True
    return value


def _group_silent(func: Any) -> Any:
    return click.option("-s", "--silent", is_flag=True, default=None, expose_value=False,
                        callback=_remember_silent,
                        help="delete resource without asking for confirmation")(func)


def _leaf(fk: FluxKind, noun: str) -> click.Command:
    def command(args: tuple[str, ...], silent: bool, globals_: Globals) -> None:
        if not args:
            raise CommandError(f"{fk.human} name is required")
        name = args[0]
        silent = silent or bool(click.get_current_context().meta.get(_SILENT))

        async def main() -> None:
            client = connect_client(globals_)
            try:
                mapping = await client.mapping(fk)
                await client.get(fk, name)
                if not silent and not click.confirm(
                        f"Are you sure you want to delete this {fk.human}", default=False,
                        err=True):
                    raise CommandError("aborting")
                log.action(f"deleting {fk.human} {name} in {client.namespace} namespace")
                await client.objects.delete(mapping, name, client.namespace)
                log.success(f"{fk.human} deleted")
            finally:
                await client.aclose()

        run(main)

    command.__doc__ = f"Delete a {fk.kind}."
    decorated: Any = global_options(command)
    decorated = bool_flag("-s", "--silent",
                          help="delete resource without asking for confirmation")(decorated)
    decorated = click.argument("args", nargs=-1, metavar="NAME")(decorated)
    return click.command(noun, cls=SluiceCommand, short_help=f"Delete a {fk.kind}")(decorated)


delete = verb_group("delete", "Delete sources and resources", _leaf,
                    group_options=_group_silent)
