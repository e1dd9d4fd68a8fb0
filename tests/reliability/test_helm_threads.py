"""A Helm SDK call that never returns costs its caller its timeout, not a Helm slot for good (issue 15).

Helm's Go calls cannot be interrupted, and client-go has no response-header
timeout: a Helm config whose API server accepts TCP and never answers (a
`SilentHost` behind ``http://``) blocks ``status`` in Go until the
connection closes. Such stuck calls used to hold the process's 4 Helm slots
forever, and every later Helm call of every HelmRelease waited behind them.
Now each caller is answered at its deadline (`HelmCallAbandoned`, saying so),
the thread is abandoned within a budget, and a healthy call against the
embedded cluster still gets a slot and an answer. Once the silent host closes
its connections the stuck threads return and are counted back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from sluice.helmsdk import HelmCallAbandoned, helm, run, stuck_threads
from sluice.helmsdk.workers import stuck_budget
from sluice.testing.polling import async_wait_for
from sluice.testing.silenthost import SilentHost


def silent_kubeconfig(host: SilentHost) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "silent",
        "clusters": [{"name": "silent", "cluster": {"server": f"http://{host.host}:{host.port}"}}],
        "users": [{"name": "silent", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "silent"}}]})


async def test_stuck_helm_calls_leave_slots_for_a_healthy_one(kubeconfig: Path) -> None:
    sdk = helm()
    assert stuck_threads() == 0 and stuck_budget() == 4
    content = await asyncio.to_thread(kubeconfig.read_text)
    healthy = sdk.Config(kubeconfig_content=content, namespace="default")
    async with SilentHost() as silent:
        stuck = sdk.Config(kubeconfig_content=silent_kubeconfig(silent), namespace="default")
        # Six, more than the 4 Helm slots: before, the fifth call never even started.
        calls = [asyncio.ensure_future(run(stuck.status, f"demo-{n}", timeout=0.5,
                                           what=f"Helm status of demo-{n}")) for n in range(6)]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)
        assert all(isinstance(r, HelmCallAbandoned) for r in results), results
        assert "Helm status of demo-0 did not return within 0.5s; its Helm thread is left " \
               "running" in str(results[0])
        assert silent.accepted == 6
        assert stuck_threads() == 4  # the budget; the last two keep their slots instead

        # Two slots are left: a call against a cluster that answers gets its answer.
        with pytest.raises(sdk.HelmError, match="not found"):
            await run(healthy.status, "no-such-release", timeout=20)

    # The silent host closed its connections: the stuck calls return and are counted back.
    async def returned() -> bool:
        return stuck_threads() == 0

    await async_wait_for(returned, timeout=30, what="abandoned Helm threads returned")
    # Helm calls go on as before.
    answers = await asyncio.gather(*(run(healthy.status, f"none-{n}", timeout=20)
                                     for n in range(4)), return_exceptions=True)
    assert all(isinstance(a, sdk.HelmError) for a in answers), answers
    stuck.close()
    healthy.close()
