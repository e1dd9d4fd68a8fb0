"""Bounded delivery: a slow provider holds up nobody else, its queue is bounded and drops are told.

Two real sinks on two addresses: one hangs (never answers), the other
answers at once. Events match an Alert for each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from sluice.controllers.notification.lanes import LaneLimits
from sluice.testing.polling import async_wait_for
from sluice.testing.webhook_sink import WebhookSink

from .conftest import NOTIFICATION_API, Harness, event_for, start_harness


def _pair(namespace: str, name: str, address: str, timeout: str, alerts: int = 1) -> str:
    return yaml.safe_dump_all([
        {"apiVersion": NOTIFICATION_API, "kind": "Provider",
         "metadata": {"name": name, "namespace": namespace},
         "spec": {"type": "generic", "address": address, "timeout": timeout}},
        *({"apiVersion": NOTIFICATION_API, "kind": "Alert",
           "metadata": {"name": f"{name}-{i}", "namespace": namespace},
           "spec": {"providerRef": {"name": name},
                    "eventSources": [{"kind": "Kustomization", "name": "*"}]}}
          for i in range(alerts))])


@pytest.fixture
async def slow() -> AsyncIterator[WebhookSink]:
    async with WebhookSink() as sink:
        sink.answer("hang")
        yield sink


async def _setup(h: Harness, namespace: str, slow: WebhookSink, provider_timeout: str,
                 slow_alerts: int) -> None:
    await h.apply(_pair(namespace, "slow", slow.url("/hook"), provider_timeout, slow_alerts))
    await h.apply(_pair(namespace, "fast", h.sink.url("/hook"), "30s"))
    for alert in [f"slow-{i}" for i in range(slow_alerts)] + ["fast-0"]:
        await h.wait_cached("Alert", namespace, alert)
    for name in ("slow", "fast"):
        await h.wait_cached("Provider", namespace, name)


async def test_a_hanging_provider_holds_up_no_other(kubeconfig: Path, tmp_path: Path,
                                                    namespace: str, slow: WebhookSink) -> None:
    # Two Alerts send every event to the hanging address, one to the fast one. The fast
    # address never has more than in_flight + queued notifications, so it never drops.
    events, limits = 70, LaneLimits(in_flight=2, queued=68)
    async with start_harness(kubeconfig, tmp_path, namespace, lanes=limits) as h:
        await _setup(h, namespace, slow, "2m", slow_alerts=2)
        # More notifications for the hanging address (140) than the old shared pool had
        # connections (64): every event is answered 202 at once and reaches the fast sink.
        async with httpx.AsyncClient() as client:
            for i in range(events):
                response = await client.post(h.events_url,
                                             json=event_for(namespace, name=f"app-{i}"))
                assert response.status_code == 202
        fast = await h.sink.wait_for(events, timeout=30)
        assert sorted(r.json()["involvedObject"]["name"] for r in fast) == sorted(
            f"app-{i}" for i in range(events))
        # The hanging address has only its 2 connections open; 68 wait, the oldest dropped.
        await slow.wait_for(2)
        assert len(slow.requests) == 2
        assert h.notification.dispatcher.stats().dropped == 2 * events - 2 - 68

        async def counted() -> str | None:  # what /metrics serves, once the sends returned
            metrics = h.manager.metrics.render()
            return metrics if f'result="sent"}} {events}\n' in metrics else None

        metrics = await async_wait_for(counted, timeout=10, what="sent notifications counted")
        assert 'sluice_notifications_total{result="dropped"} 70\n' in metrics
        assert "sluice_notification_queue_depth 68\n" in metrics
        warning = await h.wait_event(namespace, "Alert", "slow-0",
                                     lambda e: e["reason"] == "NotificationDropped", "drop")
        assert warning["type"] == "Warning"
        assert warning["message"] == (
            "dropped 1 notification(s) for provider 'slow': the queue for the provider's "
            "address was full (68 waiting)")
        assert not [e for e in await h.events_on(namespace, "Alert", "fast-0")
                    if e["type"] == "Warning"]


async def test_the_timeout_starts_when_the_send_does(kubeconfig: Path, tmp_path: Path,
                                                     namespace: str, slow: WebhookSink) -> None:
    # One send at a time to the slow address, 1 s each: the third notification waits
    # two seconds in the queue, yet is still sent (Flux's timeout covers the send).
    limits = LaneLimits(in_flight=1, queued=10)
    async with start_harness(kubeconfig, tmp_path, namespace, lanes=limits) as h:
        await _setup(h, namespace, slow, "1s", slow_alerts=1)
        for i in range(3):
            await h.post_event(event_for(namespace, name=f"app-{i}"))
        await h.notification.dispatcher.drain()
        assert [r.json()["involvedObject"]["name"] for r in slow.requests] == [
            "app-0", "app-1", "app-2"]
        failures = [e for e in await h.events_on(namespace, "Alert", "slow-0")
                    if e["reason"] == "NotificationDispatchFailed"]
        assert sorted(e["message"] for e in failures) == [
            f"failed to send notification for Kustomization/{namespace}/app-{i}: "
            "context deadline exceeded (timeout 1s)" for i in range(3)]
