"""``sluice envsubst [--strict]``: substitute ``${VAR}`` from the environment in stdin.

The same substitution engine as a Kustomization's ``postBuild``
(`sluice.core.envsubst`): only the braced form is replaced, bash-like
operators work (``${VAR:-default}``, ``${VAR,,}``, ``${VAR/a/b}``), ``$$``
escapes a dollar. Without ``--strict`` an unset variable becomes the empty
string; with it the command fails naming the variable (``variable not set
(strict mode): "VAR"``), which is how a repository's manifests can be
checked before they reach a cluster.
"""

from __future__ import annotations

import os
import sys

import click

from sluice.cli.create_flags import bool_flag
from sluice.cli.failing import CommandError
from sluice.cli.parsing import SluiceCommand
from sluice.core.envsubst import SubstitutionError, expand

__all__ = ["envsubst"]


@click.command("envsubst", cls=SluiceCommand,
               short_help="Substitute environment variables in the input")
@bool_flag("--strict", help="fail if a variable without a default value is declared in the "
                            "input but is missing from the environment")
def envsubst(strict: bool) -> None:
    """Substitute the values of environment variables in stdin (bash string functions too)."""
    text = sys.stdin.read()
    try:
        output = expand(text, lambda name: os.environ.get(name), strict=strict)
    except SubstitutionError as exc:
        raise CommandError(str(exc)) from None
    sys.stdout.write(output)
    sys.stdout.flush()
