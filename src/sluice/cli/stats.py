"""``sluice stats [-A]``: how many Flux objects of each kind run, fail, sleep, and store.

One row per reconciler kind, as ``flux stats``::

    RECONCILERS          RUNNING FAILING SUSPENDED STORAGE
    GitRepository        2       0       0         1.2 KiB

RUNNING counts the objects not suspended, FAILING those whose Ready is
False, STORAGE adds up the sizes of their artifacts (``-`` for none). Kinds
whose CRD the cluster does not serve count zero.
"""

from __future__ import annotations

import sys

import click

from sluice.cli import kinds as k
from sluice.cli.clientctx import connect_client, run
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand
from sluice.cli.tables import format_table
from sluice.kube.errors import NoKindMatch

__all__ = ["format_size", "stats"]

_ORDER = (k.GIT_REPOSITORY, k.OCI_REPOSITORY, k.HELM_REPOSITORY, k.HELM_CHART, k.BUCKET,
          k.KUSTOMIZATION, k.HELM_RELEASE, k.ALERT, k.PROVIDER, k.RECEIVER, k.IMAGE_UPDATE,
          k.IMAGE_POLICY, k.IMAGE_REPOSITORY)


def format_size(size: int) -> str:
    """Bytes as flux prints them: ``512 B``, ``1.2 KiB``, ``3.0 MiB``; ``-`` for none."""
    if size <= 0:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in "KMGTPE":
        value /= 1024
        if value < 1024 or unit == "E":
            return f"{value:.1f} {unit}iB"
    return f"{size} B"


@click.command("stats", cls=SluiceCommand, short_help="Stats of Flux reconciles")
@click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True, default=False,
              help="list the statistics for objects across all namespaces")
@global_options
def stats(all_namespaces: bool, globals_: Globals) -> None:
    """Print the number of running, failing and suspended objects per kind."""
    async def main() -> str:
        client = connect_client(globals_)
        try:
            rows = []
            for fk in _ORDER:
                try:
                    items = await client.list(fk, None if all_namespaces else client.namespace)
                except NoKindMatch:
                    items = []
                suspended = sum(1 for o in items if (o.get("spec") or {}).get("suspend") is True)
                failing = sum(1 for o in items if (k.condition(o, "Ready") or {}).get("status")
                              == "False")
                size = sum(int(((o.get("status") or {}).get("artifact") or {}).get("size") or 0)
                           for o in items)
                rows.append([fk.kind, str(len(items) - suspended), str(failing), str(suspended),
                             format_size(size)])
            return format_table(["Reconcilers", "Running", "Failing", "Suspended", "Storage"],
                                rows)
        finally:
            await client.aclose()

    sys.stdout.write(run(main))
    sys.stdout.flush()
