"""Unknown flags and commands reported in flux's words, for the commands Sluice adds.

cobra says ``unknown flag: --bogus``, ``unknown shorthand flag: 'x' in -x``
and ``unknown command "widgets" for "flux get"``; click's own wording
differs. Scripts and runbooks match on these lines, so every command
outside ``create`` is built on `SluiceCommand` and `SluiceGroup`, which keep
the cobra-style parsing of `sluice.cli.create_flags` (``--flag=false``,
``-n=ns``, aliases) and raise click usage errors with flux's messages; the
entry point prints them as one ``✗`` line.
"""

from __future__ import annotations

import click

from sluice.cli.create_flags import FluxCommand, FluxGroup

__all__ = ["SluiceCommand", "SluiceGroup"]


def _unknown_flag(exc: click.NoSuchOption, ctx: click.Context) -> click.UsageError:
    name = exc.option_name
    if name.startswith("--"):
        message = f"unknown flag: {name.split('=', 1)[0]}"
    else:
        message = f"unknown shorthand flag: '{name.lstrip('-')[:1]}' in {name}"
    return click.UsageError(message, ctx)


class SluiceCommand(FluxCommand):
    """A leaf command with flux's message for an unknown flag."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise _unknown_flag(exc, ctx) from None


class SluiceGroup(FluxGroup):
    """A command group with flux's messages for unknown flags and subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise _unknown_flag(exc, ctx) from None

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if (name and not name.startswith("-") and not ctx.resilient_parsing
                and self.get_command(ctx, name) is None):
            raise click.UsageError(f'unknown command "{name}" for "{ctx.command_path}"', ctx)
        return super().resolve_command(ctx, args)
