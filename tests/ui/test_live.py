"""Changes reach an open tab over its SSE stream, and actions are followed to their outcome."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.testing.polling import async_wait_for

from .conftest import KS_API, UI, kustomization, ready

Events = asyncio.Queue[tuple[str, str]]


@contextlib.asynccontextmanager
async def _stream(ui: UI, page: str) -> AsyncIterator[tuple[Events, str, str]]:
    """Open `page` as a browser would, then its SSE stream: (events, csrf token, tab id)."""
    html = await ui.page(page)
    tab = html.split('"X-Sluice-Tab": "')[1].split('"')[0]
    csrf = html.split('"X-CSRF-Token": "')[1].split('"')[0]
    events: Events = asyncio.Queue()
    opened = asyncio.Event()

    async def read() -> None:
        async with ui.client.stream("GET", "/stream", params={"tab": tab},
                                    timeout=None) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            name, data = "", []
            async for line in resp.aiter_lines():
                if line.startswith(": connected"):
                    opened.set()
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif not line and name:
                    events.put_nowait((name, "\n".join(data)))
                    name, data = "", []

    task = asyncio.create_task(read())
    try:
        async with asyncio.timeout(10):
            await opened.wait()
        yield events, csrf, tab
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _until(events: Events, name: str, text: str) -> str:
    """The first event called `name` (or any row, for "*") whose HTML holds `text`."""
    async with asyncio.timeout(10):
        while True:
            got, data = await events.get()
            if (got == name or (name == "*" and got.startswith("o-"))) and text in data:
                return data


async def _listed(ui: UI, namespace: str, name: str) -> None:
    async def check() -> bool:
        return f"/{name}\"" in await ui.page(f"/?namespace={namespace}")
    await async_wait_for(check, timeout=10, what=f"{name} on the overview")


async def test_a_status_change_reaches_the_open_overview(ui: UI, namespace: str) -> None:
    await ui.create(KS_API, "Kustomization", kustomization("live", namespace))
    await _listed(ui, namespace, "live")
    async with _stream(ui, f"/?namespace={namespace}") as (events, _, _tab):
        await ui.set_status(KS_API, "Kustomization", namespace, "live", ready(
            "False", "HealthCheckFailed", "timeout waiting for: [Deployment/x/y]"))
        row = await _until(events, "*", "timeout waiting for")
        assert "state-failed" in row
        summary = await _until(events, "summary", "Needs attention")
        assert "live" in summary
        # A new object is not a row the tab has: the table itself is re-sent.
        await ui.create(KS_API, "Kustomization", kustomization("newcomer", namespace))
        table = await _until(events, "table", "newcomer")
        assert "/live" in table


async def test_reconcile_is_followed_from_request_to_ready(ui: UI, namespace: str) -> None:
    await ui.create(KS_API, "Kustomization", kustomization("followed", namespace))
    await _listed(ui, namespace, "followed")
    page = f"/object/Kustomization/{namespace}/followed"
    async with _stream(ui, page) as (events, csrf, tab):
        resp = await ui.client.post("/actions", data={
            "action": "reconcile", "target": f"Kustomization/{namespace}/followed"},
            headers={"X-CSRF-Token": csrf, "X-Sluice-Tab": tab})
        assert resp.status_code == 200 and "waiting for the controller" in resp.text
        pid = resp.text.split('id="')[1].split('"')[0]
        mapping = await ui.objects.mapping(KS_API, "Kustomization")
        obj = await ui.objects.get(mapping, "followed", namespace)
        stamp = obj["metadata"]["annotations"][RECONCILE_REQUEST_ANNOTATION]
        # What the controller does once it has handled the request:
        await ui.set_status(KS_API, "Kustomization", namespace, "followed", ready(
            "True", "ReconciliationSucceeded", "Applied revision: main@sha1:" + "d" * 40,
            lastHandledReconcileAt=stamp))
        done = await _until(events, pid, "Applied revision")
        assert "phase-ready" in done
    # The action is on record, naming the UI session that asked.
    events_mapping = await ui.objects.mapping("v1", "Event")
    recorded, _ = await ui.objects.list(events_mapping, namespace)
    assert any(e.get("reason") == "ReconcileRequested"
               and "by sluice-ui session" in e.get("message", "") for e in recorded)
