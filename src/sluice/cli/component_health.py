"""Honest component health for ``bootstrap`` and ``check``: green only for what truly runs.

On a real cluster a component is its Deployment, and its kstatus says whether
it is ready (``✔ source-controller: deployment ready``). On Sluice's embedded
cluster the Deployments applied from ``gotk-components.yaml`` have simulated
pods that prove nothing, so a component counts as running only while a
controller process announces it (`sluice.runtime.heartbeat`). A component
asked for (``--components``, ``--components-extra``) that no process runs is
a ``✗`` line naming it, and the command fails, instead of a green line for a
controller that will never reconcile anything. Lines come sorted by name, as
flux's status checker prints them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sluice.cli.clientctx import Client, log
from sluice.cli.failing import CommandError
from sluice.cli.install import wait_for_deployments
from sluice.kube.components import running_components

__all__ = ["embedded_component_lines", "not_running_message", "report_components"]


def not_running_message(missing: Sequence[str], running: set[str]) -> str:
    runs = ", ".join(sorted(running)) or "no controllers"
    return (f"{len(missing)} requested component(s) not running: {', '.join(missing)} "
            f"(Sluice's controller processes run: {runs})")


async def embedded_component_lines(client: Client,
                                   components: Sequence[str]) -> tuple[list[str], set[str]]:
    """Print one line per component on the embedded cluster; return (missing, running)."""
    running = await running_components(client.objects)
    missing: list[str] = []
    for name in sorted(components):
        if name in running:
            log.success(f"{name}: deployment ready")
        else:
            log.failure(f"{name}: not running: no process runs this controller against the "
                        "embedded cluster")
            missing.append(name)
    return missing, running


async def report_components(client: Client, components: Sequence[str], embedded: bool,
                            deadline: float) -> None:
    """``bootstrap``'s last step: every requested component healthy, or an error."""
    log.action("confirming components are healthy")
    if embedded:
        missing, running = await embedded_component_lines(client, components)
        if missing:
            raise CommandError(not_running_message(missing, running))
    else:
        await wait_for_deployments(client, sorted(components),
                                   max(deadline, time.monotonic() + 1.0))
    log.success("all components are healthy")

