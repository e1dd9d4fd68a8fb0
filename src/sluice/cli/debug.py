"""``sluice debug helmrelease NAME``: a HelmRelease's status, merged values or history, as flux.

``--show-values`` prints the values the next release gets: ``valuesFrom``
(ConfigMaps and Secrets, in list order, ``targetPath`` and ``optional``
honoured) and then inline ``values``, composed by the controller's own code,
written as flux writes them (``sigs.k8s.io/yaml``: sorted keys, go-yaml v2)::

    cm: test
    image:
      repository: stefanprodan/podinfo
      tag: 5.0.0
    override: secret

As flux warns in its help, values read from Secrets are printed in clear:
this command exists to export them (``> values.yaml``). ``--show-status``
prints ``status`` and ``--show-history`` ``status.history`` (with flux's
documentation comment); several flags print their parts separated by
``---``. Without any flag, flux's error: ``either --show-status or
--show-values must be set``. A values reference that cannot be resolved
fails with the controller's message (``could not resolve ConfigMap chart
values reference 'ns/name' with key 'values.yaml': ...``).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from sluice.cli import kinds as k
from sluice.cli.clientctx import connect_client, run
from sluice.cli.create_flags import bool_flag
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand, SluiceGroup, group_global_options
from sluice.core import goyaml

__all__ = ["debug"]

HISTORY_COMMENT = "# History documentation: https://fluxcd.io/flux/components/helm/helmreleases/#history\n"


@click.group("debug", cls=SluiceGroup, aliases={"hr": "helmrelease"})
@group_global_options
def debug() -> None:
    """Debug a flux resource"""


@debug.command("helmrelease", cls=SluiceCommand, short_help="Debug a HelmRelease resource")
@click.argument("args", nargs=-1, metavar="NAME")
@bool_flag("--show-status", help="print the status of the Helm release")
@bool_flag("--show-values", help="print the final values of the Helm release")
@bool_flag("--show-history", help="print the history of the Helm release")
@global_options
def debug_helmrelease(args: tuple[str, ...], show_status: bool, show_values: bool,
                      show_history: bool, globals_: Globals) -> None:
    """Troubleshoot a HelmRelease: its status, its final values, its release history.

    WARNING: values read from Kubernetes Secrets referenced in .spec.valuesFrom are
    printed as they are.
    """
    if len(args) != 1:
        raise CommandError(f"accepts 1 arg(s), received {len(args)}")
    if not (show_status or show_values or show_history):
        raise CommandError("either --show-status or --show-values must be set")

    async def main() -> str:
        from sluice.cli.helm_release import merged_values

        client = connect_client(globals_)
        try:
            hr = await client.get(k.HELM_RELEASE, args[0])
            parts: list[str] = []
            status: dict[str, Any] = hr.get("status") or {}
            if show_status:
                parts.append(goyaml.dump(status))
            if show_history:
                parts.append(HISTORY_COMMENT + goyaml.dump(status.get("history") or []))
            if show_values:
                values = await merged_values(client, hr)
                parts.append(goyaml.dump(values) if values else "{}\n")
            return "---\n".join(parts)
        finally:
            await client.aclose()

    sys.stdout.write(run(main))
    sys.stdout.flush()
