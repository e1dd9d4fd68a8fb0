"""The event endpoint: Flux's answers and limits, Alert matching and dispatch to a sink."""

from __future__ import annotations

import httpx

from sluice.controllers.notification.ingest import Event, RateLimiter, normalise_message
from sluice.testing.polling import async_wait_for

from .conftest import Harness, discord_setup, event_for


async def _discord(h: Harness, namespace: str, **alert_spec: object) -> str:
    secret_url = h.sink.url("/api/webhooks/42/t0ps3cr3tT0ken")
    await h.secret(namespace, "discord-webhook", {"address": secret_url})
    await h.apply(discord_setup(namespace, **alert_spec))
    await h.wait_cached("Alert", namespace, "discord")
    await h.wait_cached("Provider", namespace, "discord")
    return secret_url


async def test_answers_and_limits_as_flux(harness: Harness, namespace: str) -> None:
    h = harness
    async with httpx.AsyncClient() as client:
        assert (await client.post(h.events_url, content=b"{not json")).status_code == 400
        assert (await client.get(h.events_url)).status_code == 405
        too_big = b'{"message":"' + b"x" * (3 * 1024 * 1024 + 10) + b'"}'
        assert (await client.post(h.events_url, content=too_big)).status_code == 413
        # No alert matches: still 202 (Flux accepts and discards).
        body = event_for(namespace, message="nobody listens")
        assert (await client.post(f"{h.events_url}/any/path", json=body)).status_code == 202
        # The same event again within the rate-limit interval: 429.
        assert (await client.post(h.events_url, json=body)).status_code == 429
    assert h.sink.requests == []


def test_messages_differing_only_by_durations_or_counters_are_duplicates() -> None:
    def ev(message: str, revision: str = "main@sha1:abc") -> Event:
        return Event({"kind": "Kustomization", "namespace": "ns", "name": "apps",
                      "apiVersion": "kustomize.toolkit.fluxcd.io/v1"}, "info", "", message, "R",
                      {"kustomize.toolkit.fluxcd.io/revision": revision})

    limiter = RateLimiter(300)
    assert limiter.allow(ev("Reconciliation finished in 2.5s, next run in 10m0s"), now=0)
    assert not limiter.allow(ev("Reconciliation finished in 31ms, next run in 10m0s"), now=1)
    assert limiter.allow(ev("health check failed after 1m30.2s: 3 resources"), now=2)
    assert not limiter.allow(ev("health check failed after 2m0s: 4 resources"), now=3)
    # A new revision or a different object name is a different message.
    assert limiter.allow(ev("Reconciliation finished in 2.5s, next run in 10m0s",
                            "main@sha1:def"), now=4)
    assert normalise_message("podinfo.v4 with chart podinfo@6.9.2") == (
        "podinfo.v4 with chart podinfo@6.9.2")
    # Past the interval, the same message goes through again.
    assert limiter.allow(ev("Reconciliation finished in 9s, next run in 10m0s"), now=400)


async def test_matching_severity_lists_and_dispatch(harness: Harness, namespace: str) -> None:
    h = harness
    secret_url = await _discord(h, namespace, exclusionList=["^ignored"],
                                eventMetadata={"cluster": "prod"})
    # info passes an info alert; the payload is Discord's, metadata combined.
    assert (await h.post_event(event_for(namespace, metadata={
        "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
        "kustomize.toolkit.fluxcd.io/checksum": "dropped",
        "event.toolkit.fluxcd.io/team": "blue",
        "other.io/ignored": "x"}))).status_code == 202
    [req] = await h.sink.wait_for(1)
    assert req.path == "/api/webhooks/42/t0ps3cr3tT0ken/slack"
    body = req.json()
    assert body["username"] == "FluxCD" and body["channel"] == ""
    attachment = body["attachments"][0]
    assert attachment["author_name"] == f"kustomization/apps.{namespace}"
    assert attachment["text"] == "Applied revision: main@sha1:abc"
    assert attachment["color"] == "good"
    assert attachment["fields"] == [
        {"title": "team", "value": "blue", "short": False},
        {"title": "cluster", "value": "prod", "short": False},
        {"title": "revision", "value": "main@sha1:abc", "short": False}]
    # Excluded message, other kind, other namespace: nothing sent.
    await h.post_event(event_for(namespace, message="ignored: noise"))
    await h.post_event(event_for(namespace, kind="Bucket", message="bucket"))
    await h.post_event(event_for("elsewhere", message="other ns"))
    # An error is red.
    await h.post_event(event_for(namespace, severity="error", message="kustomize build failed"))
    requests = await h.sink.wait_for(2)
    await h.notification.dispatcher.drain()
    assert [r.json()["attachments"][0]["text"] for r in h.sink.requests] == [
        "Applied revision: main@sha1:abc", "kustomize build failed"]
    assert requests[1].json()["attachments"][0]["color"] == "danger"
    # What was dispatched is visible on the Alert, without the address.
    sent = await h.wait_event(namespace, "Alert", "discord",
                              lambda e: e["reason"] == "NotificationDispatched", "dispatch event")
    assert sent["message"] == (f"sent notification for Kustomization/{namespace}/apps through "
                               "discord provider 'discord'")
    assert all(secret_url not in e["message"] and "t0ps3cr3t" not in e["message"]
               for e in await h.events_on(namespace, "Alert", "discord"))


async def test_error_alerts_bad_regex_suspend_and_failed_delivery(harness: Harness,
                                                                   namespace: str) -> None:
    h = harness
    await _discord(h, namespace, eventSeverity="error", inclusionList=["(unclosed", "failed"])
    await h.post_event(event_for(namespace, message="Applied revision: main@sha1:abc"))
    await h.notification.dispatcher.drain()
    assert h.sink.requests == []  # info does not pass an error alert

    # The provider answers 500 for good: retried, then a Warning with the address masked.
    h.sink.answer("status", 500, "discord is down")
    await h.post_event(event_for(namespace, severity="error", message="apply failed"))
    warning = await h.wait_event(namespace, "Alert", "discord",
                                 lambda e: e["reason"] == "NotificationDispatchFailed",
                                 "dispatch failure")
    assert len(h.sink.requests) == 5
    invalid = next(e for e in await h.events_on(namespace, "Alert", "discord")
                   if e["reason"] == "InvalidConfig")
    assert (invalid["type"], invalid["message"]) == (
        "Warning", "failed to compile inclusion regex: (unclosed")
    assert warning["type"] == "Warning"
    assert warning["message"].startswith(
        f"failed to send notification for Kustomization/{namespace}/apps: request failed: "
        "request failed with status code 500: discord is down")
    assert "t0ps3cr3t" not in warning["message"]

    # Suspended alert: nothing sent.
    h.sink.answer()
    h.sink.clear()
    await h.apply(discord_setup(namespace, eventSeverity="error", suspend=True))
    informer = {i.mapping.kind: i for i in h.manager._informers.values()}["Alert"]

    async def suspended() -> bool:
        alert = informer.get(namespace, "discord") or {}
        return bool((alert.get("spec") or {}).get("suspend"))

    await async_wait_for(suspended, timeout=10, what="suspend seen")
    await h.post_event(event_for(namespace, severity="error", message="apply failed again"))
    await h.notification.dispatcher.drain()
    assert h.sink.requests == []
