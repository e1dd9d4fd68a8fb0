"""Command-line parsing the way flux's cobra/pflag does it, for every Sluice command.

flux's commands are cobra commands: boolean flags accept ``--prune=true``,
short flags accept ``-n=ns``, groups know their aliases, and a value a flag
type rejects reads ``invalid argument "1d" for "--interval" flag: ...``.
`FluxCommand` and `FluxGroup` give click commands that surface; the
``create`` commands are built on them (with the flags of
:mod:`sluice.cli.create_flags`).

cobra also says ``unknown flag: --bogus``, ``unknown shorthand flag: 'x' in -x``
and ``unknown command "widgets" for "flux get"``; click's own wording
differs. Scripts and runbooks match on these lines, so every command outside
``create`` is built on `SluiceCommand` and `SluiceGroup`, which raise click
usage errors with flux's messages; the entry point prints them as one ``✗``
line. `group_global_options` lets a group accept the global flags
(``-n``, ``--kubeconfig``...) as cobra's persistent flags do.

This module is a leaf of the CLI: it imports click, the global options and
the error type only, so that the kind table (:mod:`sluice.cli.kinds`), the
create flags and every command can import it without an import circle and
without slowing start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from sluice.cli.failing import CommandError
from sluice.cli.options import Globals
from sluice.core.durations import go_quote

__all__ = [
    "FluxCommand",
    "FluxGroup",
    "SluiceCommand",
    "SluiceGroup",
    "flag_error",
    "group_global_options",
]

F = TypeVar("F", bound=Callable[..., Any])


def flag_error(flag: str, value: str, message: str) -> CommandError:
    """pflag's message for a value its flag type rejects."""
    return CommandError(f"invalid argument {go_quote(value)} for {go_quote(flag)} flag: {message}")


# --- cobra-style argument rewriting -----------------------------------------

_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _rewrite_cobra_args(params: Sequence[click.Parameter], args: list[str]) -> list[str]:
    """Turn cobra spellings click does not know into click ones.

    ``--flag=false`` on a boolean flag drops the flag (all our boolean flags
    default to false), ``--flag=true`` keeps it bare, and ``-n=value`` loses
    the ``=`` as pflag strips it.
    """
    bool_opts = {opt for p in params if isinstance(p, click.Option) and p.is_flag
                 for opt in p.opts}
    # Flags defaulting to true (``--private``) are declared ``--private/--no-private``:
    # ``--private=false`` becomes the click negation.
    negations = {opt: p.secondary_opts[0] for p in params
                 if isinstance(p, click.Option) and p.is_flag and p.secondary_opts
                 for opt in p.opts}
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            out.extend(args[i:])
            break
        if arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
            if name in bool_opts:
                if value in _GO_TRUE:
                    out.append(name)
                elif value in _GO_FALSE:
                    if name in negations:
                        out.append(negations[name])
                else:
                    raise flag_error(name, value,
                                     f"strconv.ParseBool: parsing {go_quote(value)}: invalid syntax")
                continue
        elif len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and arg[2] == "=":
            out.extend([arg[:2], arg[3:]])
            continue
        out.append(arg)
    return out


class FluxCommand(click.Command):
    """A leaf command that parses its arguments like cobra/pflag."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _rewrite_cobra_args(self.params, args))


class FluxGroup(click.Group):
    """A command group that parses its own flags like cobra/pflag and knows aliases."""

    def __init__(self, *args: Any, aliases: Mapping[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases: dict[str, str] = dict(aliases or {})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _rewrite_cobra_args(self.params, args))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        # Report the canonical name so help and errors read like flux's.
        _, command, rest = super().resolve_command(ctx, args)
        return (command.name if command else None), command, rest


def group_global_options(func: F) -> F:
    """Accept the global flags on ``create`` and its sub-groups, as cobra does.

    A value given there lands in the root Globals, where the leaf's
    ``global_options`` finds it (a value on the leaf still wins).
    """

    def remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value in (None, False) or param.name is None:
            return value
        root = ctx.find_root()
        if not isinstance(root.obj, Globals):
            root.obj = Globals()
        setattr(root.obj, param.name, value)
        return value

    decorators = [
        click.option("-n", "--namespace", "namespace", default=None, expose_value=False,
                     callback=remember, help="the namespace scope for this operation"),
        click.option("--kubeconfig", "kubeconfig", default=None, expose_value=False,
                     callback=remember, hidden=True),
        click.option("--context", "context", default=None, expose_value=False,
                     callback=remember, hidden=True),
        click.option("--timeout", "timeout", default=None, expose_value=False,
                     callback=remember, hidden=True),
        click.option("--verbose", "verbose", is_flag=True, default=None, expose_value=False,
                     callback=remember, hidden=True),
    ]
    for decorator in decorators:
        func = decorator(func)
    return func


# --- flux's messages for unknown flags and commands --------------------------



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
