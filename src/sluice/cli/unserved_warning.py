"""``sluice get`` on the embedded cluster: a warning for each listed kind no process serves.

Flux's ``get`` prints the objects and nothing else. On Sluice's embedded
cluster a table of HelmReleases while no process runs helm-controller would
look like objects waiting their turn, forever; ``get`` says so on stderr (the
table on stdout is unchanged). On a real cluster the controller Deployments
speak for themselves and nothing is added. It reads the heartbeat Leases
through the client layer only (`sluice.kube.components`): ``get`` must start
fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sluice.cli.clientctx import Client, log
from sluice.core.components import COMPONENT_KINDS
from sluice.kube.components import is_embedded, running_components

__all__ = ["warn_unserved"]


async def warn_unserved(client: Client, kinds: Sequence[str]) -> None:
    embedded, running = await asyncio.gather(is_embedded(client.objects),
                                             running_components(client.objects))
    if not embedded:
        return
    for component, served in sorted(COMPONENT_KINDS.items()):
        shown = sorted(kind for kind in kinds if kind in served)
        if shown and component not in running:
            log.warning(f"{component} is not running: no Sluice process serves "
                        f"{', '.join(shown)} objects on this cluster, they are not reconciled "
                        "(start `sluice up`, or `sluice controllers run` with its group)")
