"""``sluice completion bash|zsh|fish``: the shell completion script, to source or install.

click generates the scripts; they complete commands, nouns and flags by
calling ``sluice`` back with ``_SLUICE_COMPLETE`` set, so completion always
matches the installed version. Usage as with flux::

    source <(sluice completion bash)
    sluice completion zsh > "${fpath[1]}/_sluice"
    sluice completion fish > ~/.config/fish/completions/sluice.fish
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from sluice.cli.failing import CommandError
from sluice.cli.parsing import SluiceCommand

__all__ = ["completion"]

_SHELLS = ("bash", "zsh", "fish")


@click.command("completion", cls=SluiceCommand, short_help="Generate a shell completion script")
@click.argument("shell", required=False)
@click.pass_context
def completion(ctx: click.Context, shell: str | None) -> None:
    """Print the completion script for bash, zsh or fish."""
    if shell is None:
        raise CommandError("shell is required, one of: " + ", ".join(_SHELLS))
    if shell == "powershell":
        raise CommandError("powershell completion is not supported, use bash, zsh or fish")
    cls = get_completion_class(shell) if shell in _SHELLS else None
    if cls is None:
        raise CommandError(f"unsupported shell '{shell}', must be one of: "
                           + ", ".join(_SHELLS))
    root = ctx.find_root()
    script = cls(root.command, {}, "sluice", "_SLUICE_COMPLETE").source()
    click.echo(script)
