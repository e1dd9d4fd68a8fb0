"""``sluice version``: the client version, and the cluster's when reachable."""

from __future__ import annotations

import click

from sluice import __version__


@click.command()
@click.option("--client", is_flag=True, help="print only the client version")
def version(client: bool) -> None:
    """Print the sluice version."""
    click.echo(f"sluice: v{__version__}")
