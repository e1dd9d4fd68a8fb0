"""Webhook addresses, proxies and Receiver paths never leave the UI, on any page or stream.

A Provider's address is the credential for Slack-like webhooks, a Receiver's
path is the only secret its callers need. They may appear in the object, its
Ready message and in Events quoting a failed delivery: the test puts them in
all of those places, then reads every page, fragment and SSE payload a user
could see and asserts none holds them, while the pages still say they are set.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

from sluice.kube.events import EventRecorder
from sluice.testing.polling import async_wait_for

from .conftest import UI, ready
from .test_live import Events, _stream, _until

ALERTS_API = "notification.toolkit.fluxcd.io/v1beta3"
RECEIVER_API = "notification.toolkit.fluxcd.io/v1"
TOKEN = "XoXoSeCrEt1234567890tokenpart"
ADDRESS = f"https://hooks.slack.com/services/T00000000/B00000000/{TOKEN}"
PROXY_PASSWORD = "pr0xyPassw0rd"
PROXY = f"http://sluice:{PROXY_PASSWORD}@proxy.internal:3128"
DIGEST = hashlib.sha256(b"hook-token").hexdigest()
HOOK = f"/hook/{DIGEST}"


async def _all_of(events: Events, wanted: list[tuple[str, str]]) -> list[str]:
    """Every payload read until each (event name or "*" for a row, text) was seen."""
    seen: list[str] = []
    left = list(wanted)
    async with asyncio.timeout(10):
        while left:
            got, data = await events.get()
            seen.append(data)
            left = [(n, t) for n, t in left
                    if not ((got == n or (n == "*" and got.startswith("o-"))) and t in data)]
    return seen


def _leaks(text: str) -> list[str]:
    return [s for s in (TOKEN, PROXY_PASSWORD, DIGEST) if s in text]


async def test_no_page_fragment_or_stream_shows_a_webhook_secret(ui: UI, namespace: str) -> None:
    await ui.create(ALERTS_API, "Provider", {
        "apiVersion": ALERTS_API, "kind": "Provider",
        "metadata": {"name": "slack", "namespace": namespace},
        "spec": {"type": "slack", "channel": "deploys", "address": ADDRESS, "proxy": PROXY}})
    alert = await ui.create(ALERTS_API, "Alert", {
        "apiVersion": ALERTS_API, "kind": "Alert",
        "metadata": {"name": "on-call", "namespace": namespace},
        "spec": {"providerRef": {"name": "slack"}, "eventSeverity": "error",
                 "eventSources": [{"kind": "Kustomization", "name": "*"}]}})
    await ui.create(RECEIVER_API, "Receiver", {
        "apiVersion": RECEIVER_API, "kind": "Receiver",
        "metadata": {"name": "github", "namespace": namespace},
        "spec": {"type": "github", "secretRef": {"name": "hook-token"},
                 "resources": [{"kind": "GitRepository", "name": "apps"}]}})
    provider_page = f"/object/Provider/{namespace}/slack"
    receiver_page = f"/object/Receiver/{namespace}/github"

    async def listed() -> bool:
        return "/github\"" in await ui.page(f"/?namespace={namespace}")
    await async_wait_for(listed, timeout=10, what="the Receiver on the overview")

    streamed: list[str] = []
    async with _stream(ui, f"/?namespace={namespace}") as (overview, _, _tab), \
            _stream(ui, receiver_page) as (receiver, _, _tab2):
        # What notification-controller writes: the path in status and in the Ready message,
        # and (Flux before masking) a delivery failure quoting the address.
        await ui.set_status(RECEIVER_API, "Receiver", namespace, "github", ready(
            "True", "Succeeded", f"Receiver initialized for path: {HOOK}", webhookPath=HOOK))
        recorder = EventRecorder(ui.objects, "notification-controller")
        await recorder.normal(alert, "NotificationDispatched",
                              f"sent notification for Kustomization/{namespace}/apps through "
                              "slack provider 'slack'")
        await recorder.warning(
            alert, "NotificationDispatchFailed",
            f'failed to send notification: Post "{ADDRESS}": dial tcp: i/o timeout '
            f"(proxy {PROXY})")
        streamed += await _all_of(overview, [("events", "NotificationDispatchFailed"),
                                             ("*", "Receiver initialized for path")])
        streamed.append(await _until(receiver, "object", "Receiver initialized for path"))

    pages = {path: await ui.page(path) for path in (
        "/", f"/?namespace={namespace}", f"/fragments/table?namespace={namespace}",
        provider_page, receiver_page, f"/object/Alert/{namespace}/on-call", "/graph")}
    for path, text in pages.items():
        assert not _leaks(text), (path, _leaks(text))
    for data in streamed:
        assert not _leaks(data), data
    # The pages still say what is set, and where the secret was.
    provider = pages[provider_page]
    assert "Address</dt><dd>set (" in provider and "Proxy</dt><dd>set (" in provider
    assert "slack" in provider and "deploys" in provider  # type and channel stay visible
    assert "hooks.slack.com" not in provider.split("<h2>Spec</h2>", 1)[1]  # masked field
    assert "Webhook path</dt><dd>/hook/" in pages[receiver_page]
    assert "Receiver initialized for path: /hook/" in pages[receiver_page]
    # The notification panels: what each object is for, at the top of its page.
    alert_page = pages[f"/object/Alert/{namespace}/on-call"]
    assert "Provider</dt><dd>slack</dd>" in alert_page
    assert f"Event sources</dt><dd>Kustomization/{namespace}/*</dd>" in alert_page
    assert "Severity</dt><dd>error" in alert_page
    assert f"Sent</dt><dd>sent notification for Kustomization/{namespace}/apps" in alert_page
    assert "Failed</dt><dd>failed to send notification" in alert_page
    assert "Type</dt><dd>slack</dd>" in provider and "Channel</dt><dd>deploys</dd>" in provider
    receiver_panel = pages[receiver_page]
    assert "Type</dt><dd>github</dd>" in receiver_panel
    assert f"Resources</dt><dd>GitRepository/{namespace}/apps</dd>" in receiver_panel
    assert "Ready</dt><dd>True Succeeded" in receiver_panel


async def test_an_address_held_in_the_providers_secret_is_scrubbed_too(ui: UI,
                                                                      namespace: str) -> None:
    # The address lives only in the Secret; an older controller's error quotes it whole.
    secret_token = "Z9y8X7w6SecretInTheSecret"
    address = f"https://example.webhook.office.com/webhookb2/{secret_token}"
    secrets = await ui.objects.mapping("v1", "Secret")
    await ui.objects.create(secrets, {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "teams-address", "namespace": namespace},
        "data": {"address": base64.b64encode(address.encode()).decode()}})
    provider = await ui.create(ALERTS_API, "Provider", {
        "apiVersion": ALERTS_API, "kind": "Provider",
        "metadata": {"name": "teams", "namespace": namespace},
        "spec": {"type": "msteams", "secretRef": {"name": "teams-address"}}})
    await EventRecorder(ui.objects, "notification-controller").warning(
        provider, "NotificationDispatchFailed",
        f'failed to send notification: Post "{address}": connection refused')
    page_path = f"/object/Provider/{namespace}/teams"

    async def with_event() -> str | None:
        page = await ui.page(page_path)
        return page if "NotificationDispatchFailed" in page else None
    page = await async_wait_for(with_event, timeout=10, what="the failure on the page")
    overview = await ui.page(f"/?namespace={namespace}")
    for text in (page, overview):
        assert secret_token not in text and "webhook.office.com" not in text
    assert "failed to send notification: Post &#34;••••••&#34;: connection refused" in page
