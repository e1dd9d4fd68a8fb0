"""Each provider's request, byte for byte, against a local sink (goldens per provider).

The expected bodies are what Flux's notifiers marshal for the same event
(notification-controller internal/notifier, v1.9.3), with metadata in the
combined metadata's order where Flux iterates a Go map.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from sluice.controllers.notification.dispatch import commit_status_context
from sluice.controllers.notification.errors import DeliveryFailed, ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers.base import ProviderConfig, Sender
from sluice.controllers.notification.providers.factory import notifier_for
from sluice.testing.webhook_sink import SinkRequest, WebhookSink

TS = "2026-08-07T12:00:00Z"


def event(severity: str = "info", message: str = "Helm install succeeded for release "
          "podinfo/podinfo.v1 with chart podinfo@6.9.2", reason: str = "InstallSucceeded",
          metadata: dict[str, str] | None = None, kind: str = "HelmRelease") -> Event:
    return Event({"kind": kind, "namespace": "podinfo", "name": "podinfo",
                  "uid": "a1b2", "apiVersion": "helm.toolkit.fluxcd.io/v2"},
                 severity, TS, message, reason,
                 {"revision": "6.9.2", "app-version": "6.9.2"} if metadata is None else metadata,
                 "helm-controller", "helm-controller-7d9f")


async def deliver(type_: str, ev: Event, **cfg: Any) -> None:
    """One event through a Provider of `type_` (some events send nothing)."""
    config = ProviderConfig(type=type_, name="p", namespace="podinfo", **cfg)
    sender = Sender(config, wait_min=0.01)
    try:
        await notifier_for(config)(config, ev, sender)
    finally:
        await sender.aclose()


async def send(sink: WebhookSink, type_: str, ev: Event, **cfg: Any) -> SinkRequest:
    await deliver(type_, ev, **cfg)
    return sink.requests[-1]


@pytest.fixture
async def sink() -> Any:
    async with WebhookSink() as s:
        yield s


async def test_discord_is_the_slack_payload_posted_to_slash_slack(sink: WebhookSink) -> None:
    req = await send(sink, "discord", event(), address=sink.url("/api/webhooks/1/s3cr3t"),
                     username="FluxCD", channel="podinfo")
    assert (req.method, req.path) == ("POST", "/api/webhooks/1/s3cr3t/slack")
    assert req.header("Content-Type") == "application/json"
    assert req.header("Authorization") is None
    assert req.body == (
        b'{"channel":"","username":"FluxCD","icon_url":"","icon_emoji":"","attachments":'
        b'[{"fallback":"","color":"good","author_name":"helmrelease/podinfo.podinfo","text":'
        b'"Helm install succeeded for release podinfo/podinfo.v1 with chart podinfo@6.9.2",'
        b'"mrkdwn_in":["text"],"fields":[{"title":"revision","value":"6.9.2","short":false},'
        b'{"title":"app-version","value":"6.9.2","short":false}]}]}')
    # An address already ending in /slack is kept; errors are red; username defaults.
    req = await send(sink, "discord", event("error", "upgrade failed", metadata={}),
                     address=sink.url("/hook/slack"))
    assert req.path == "/hook/slack"
    body = req.json()
    assert body["username"] == "helm-controller"
    assert body["attachments"][0]["color"] == "danger"
    assert body["attachments"][0]["fields"] == []


async def test_discord_native_embeds_are_opt_in(sink: WebhookSink) -> None:
    req = await send(sink, "discord", event("error", "boom"), address=sink.url("/api/webhooks/1/x"),
                     annotations={"notification.sluice.dev/discord-embeds": "true"})
    assert req.path == "/api/webhooks/1/x"
    assert req.json() == {"username": "helm-controller", "embeds": [{
        "title": "helmrelease/podinfo.podinfo", "description": "boom", "color": 0xE74C3C,
        "fields": [{"name": "revision", "value": "6.9.2", "inline": False},
                   {"name": "app-version", "value": "6.9.2", "inline": False}],
        "footer": {"text": "helm-controller"}, "timestamp": TS}]}


async def test_slack_has_channel_fallback_and_bearer_token(sink: WebhookSink) -> None:
    req = await send(sink, "slack", event(message="line one\nline <two> & more"),
                     address=sink.url("/services/x"), token="xoxb-1", channel="ops")
    assert req.header("Authorization") == "Bearer xoxb-1"
    assert req.body.startswith(
        b'{"channel":"ops","username":"helm-controller","icon_url":"","icon_emoji":"",'
        b'"attachments":[{"fallback":"helmrelease/podinfo.podinfo: line one","color":"good",'
        b'"author_name":"helmrelease/podinfo.podinfo","text":"line one\\nline \\u003ctwo\\u003e '
        b'\\u0026 more","mrkdwn_in":["text"],"fields":[')


async def test_generic_forwards_the_event_and_hmac_signs_the_exact_body(
        sink: WebhookSink) -> None:
    ev = event()
    req = await send(sink, "generic", ev, address=sink.url("/flux"),
                     headers={"X-Team": "blue"})
    assert req.header("gotk-component") == "helm-controller"
    assert req.header("X-Team") == "blue"
    assert req.header("X-Signature") is None
    assert req.body == (
        b'{"involvedObject":{"kind":"HelmRelease","namespace":"podinfo","name":"podinfo",'
        b'"uid":"a1b2","apiVersion":"helm.toolkit.fluxcd.io/v2"},"severity":"info",'
        b'"timestamp":"2026-08-07T12:00:00Z","message":"Helm install succeeded for release '
        b'podinfo/podinfo.v1 with chart podinfo@6.9.2","reason":"InstallSucceeded",'
        b'"metadata":{"app-version":"6.9.2","revision":"6.9.2"},'
        b'"reportingController":"helm-controller","reportingInstance":"helm-controller-7d9f"}')
    req = await send(sink, "generic-hmac", ev, address=sink.url("/flux"), token="k3y")
    expected = hmac.new(b"k3y", req.body, hashlib.sha256).hexdigest()
    assert req.header("X-Signature") == f"sha256={expected}"
    with pytest.raises(ProviderError, match="HMAC key is empty"):
        await send(sink, "generic-hmac", ev, address=sink.url("/flux"))


async def test_msteams_adaptive_card_and_legacy_connector(sink: WebhookSink) -> None:
    req = await send(sink, "msteams", event("error", "failed", metadata={
        "summary": "prod", "revision": "6.9.2", "app-version": "6.9.2"}),
        address=sink.url("/workflows/x"))
    assert req.body == (
        b'{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.'
        b'adaptive","content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json",'
        b'"type":"AdaptiveCard","version":"1.4","body":[{"type":"Container","items":[{"type":'
        b'"TextBlock","text":"helmrelease/podinfo.podinfo","size":"large","weight":"bolder",'
        b'"wrap":true},{"type":"TextBlock","text":"failed","color":"attention","wrap":true},'
        b'{"type":"FactSet","facts":[{"title":"summary","value":"prod"},{"title":"app-version",'
        b'"value":"6.9.2"},{"title":"revision","value":"6.9.2"}]}]}],"msteams":{"width":"Full"}'
        b'}}]}')


async def test_googlechat_telegram_matrix_rocket(sink: WebhookSink) -> None:
    ev = event(metadata={"revision": "6.9.2"})
    req = await send(sink, "googlechat", ev, address=sink.url("/v1/spaces/x"))
    assert req.json() == {"cards": [{"header": {
        "title": "helmrelease/podinfo.podinfo", "subtitle": "helm-controller",
        "imageUrl": None, "imageStyle": None}, "sections": [
        {"header": "", "widgets": [{"textParagraph": {"text": ev.message}, "keyValue": None}]},
        {"header": "", "widgets": [{"textParagraph": None, "keyValue": {
            "topLabel": "revision", "content": "6.9.2", "contentMultiline": False,
            "bottomLabel": None, "icon": None}}]}]}]}

    req = await send(sink, "telegram", ev, address=sink.url(""), token="123:abc",
                     channel="-100:7")
    assert req.path == "/bot123:abc/sendMessage"
    assert req.json() == {
        "chat_id": "-100", "message_thread_id": "7",
        "text": "*💫 helmrelease/podinfo/podinfo*\nHelm install succeeded for release "
                "podinfo/podinfo\\.v1 with chart podinfo@6\\.9\\.2\n\\- *revision*: 6\\.9\\.2\n",
        "parse_mode": "MarkdownV2"}

    req = await send(sink, "matrix", ev, address=sink.url(""), token="tok", channel="!room")
    assert req.method == "PUT"
    assert req.path == (f"/_matrix/client/r0/rooms/!room/send/m.room.message/"
                        f"{hashlib.sha1(ev.body()).hexdigest()}")
    assert req.header("Authorization") == "Bearer tok"
    assert req.json() == {"body": f"💫 helmrelease/podinfo.podinfo\n{ev.message}\n"
                                  "- revision: 6.9.2\n", "msgtype": "m.text"}

    req = await send(sink, "rocket", event("error", "x", metadata={}), address=sink.url("/r"),
                     channel="ops", username="bot")
    assert json.loads(req.body)["attachments"][0]["color"] == "#FF0000"
    assert json.loads(req.body)["channel"] == "ops"


async def test_alertmanager_and_grafana(sink: WebhookSink) -> None:
    ev = event(metadata={"summary": "prod", "revision": "6.9.2"}, reason="UpgradeFailed",
               severity="error", message="boom")
    req = await send(sink, "alertmanager", ev, address=sink.url("/api/v2/alerts"),
                     username="u", password="p")
    assert req.header("Authorization") == "Basic dTpw"
    assert req.body == (
        b'[{"status":"firing","labels":{"alertname":"FluxHelmReleaseUpgradefailed",'
        b'"kind":"HelmRelease","name":"podinfo","namespace":"podinfo","reason":"UpgradeFailed",'
        b'"reportingcontroller":"helm-controller","revision":"6.9.2","severity":"error"},'
        b'"annotations":{"message":"boom","summary":"prod"},"startsAt":"2026-08-07T12:00:00Z",'
        b'"endsAt":"0001-01-01T00:00:00Z"}]')
    req = await send(sink, "grafana", event(metadata={"revision": "sha1:ab"}),
                     address=sink.url("/api/annotations"), token="glsa")
    assert req.header("Authorization") == "Bearer glsa"
    assert req.json() == {"when": 1786104000, "text": "helmrelease/podinfo.podinfo",
                          "tags": ["flux", "helm-controller", "revision: sha1|ab",
                                   "kind: HelmRelease", "name: podinfo", "namespace: podinfo"]}


async def test_commit_statuses_github_gitlab_gitea(sink: WebhookSink) -> None:
    sha = "0c9c2e41" * 5
    ev = event(metadata={"revision": f"main@sha1:{sha}"}, kind="Kustomization",
               reason="ReconciliationSucceeded", message="Applied revision")
    sink.answer(body=[])
    await send(sink, "github", ev, address=f"{sink.url('')}/org/app.git", token="ghp",
               commit_status="kustomization/podinfo/0c9c2e41")
    get, post = sink.requests[-2:]
    assert (get.method, get.path, get.query) == (
        "GET", f"/api/v3/repos/org/app/commits/{sha}/statuses", "per_page=50")
    assert (post.method, post.path) == ("POST", f"/api/v3/repos/org/app/statuses/{sha}")
    assert post.header("Authorization") == "Bearer ghp"
    assert post.body == (b'{"state":"success","description":"reconciliation succeeded",'
                         b'"context":"kustomization/podinfo/0c9c2e41"}')
    # The same status already there: nothing posted.
    sink.answer(body=[{"context": "kustomization/podinfo/0c9c2e41", "state": "success",
                       "description": "reconciliation succeeded"}])
    count = len(sink.requests)
    await send(sink, "github", ev, address=f"{sink.url('')}/org/app", token="ghp",
               commit_status="kustomization/podinfo/0c9c2e41")
    assert len(sink.requests) == count + 1 and sink.requests[-1].method == "GET"

    sink.answer(body=[])
    failed = event("error", "x", metadata={"revision": f"main@sha1:{sha}"},
                   reason="HealthCheckFailed", kind="Kustomization")
    await send(sink, "gitlab", failed, address=f"{sink.url('')}/group/sub/app.git",
               token="glpat", commit_status="kustomization/podinfo/0c9c2e41")
    post = sink.requests[-1]
    assert post.raw_path == f"/api/v4/projects/group%2Fsub%2Fapp/statuses/{sha}"
    assert post.header("PRIVATE-TOKEN") == "glpat"
    assert post.body == (b'{"state":"failed","name":"kustomization/podinfo/0c9c2e41",'
                         b'"description":"health check failed"}')

    await send(sink, "gitea", ev, address=f"{sink.url('')}/org/app", token="gt",
               commit_status="kustomization/podinfo/0c9c2e41")
    post = sink.requests[-1]
    assert post.path == f"/api/v1/repos/org/app/statuses/{sha}"
    assert post.header("Authorization") == "token gt"
    assert post.json() == {"state": "success", "target_url": "",
                           "description": "reconciliation succeeded",
                           "context": "kustomization/podinfo/0c9c2e41"}
    with pytest.raises(ProviderError, match="failed to extract commit hash"):
        await send(sink, "github", event(metadata={"revision": "6.9.2"}),
                   address=f"{sink.url('')}/org/app", commit_status="x")


async def test_retries_with_backoff_then_the_error_names_the_status(sink: WebhookSink) -> None:
    sink.answers = [500, 502]
    req = await send(sink, "slack", event(), address=sink.url("/s"))
    assert len(sink.requests) == 3 and req.json()["username"] == "helm-controller"
    sink.clear()
    sink.answer("status", 500, "internal oops")
    with pytest.raises(DeliveryFailed, match="request failed with status code 500: internal "
                                             "oops") as info:
        await send(sink, "slack", event(), address=sink.url("/s/secret-part"))
    assert len(sink.requests) == 5  # 1 + 4 retries, as retryablehttp
    assert "secret-part" not in str(info.value)
    sink.clear()
    sink.answer("status", 400, "bad")
    with pytest.raises(DeliveryFailed, match="status code 400"):
        await send(sink, "slack", event(), address=sink.url("/s"))
    assert len(sink.requests) == 1  # a 4xx is final


def test_commit_status_expr_names_the_status_context() -> None:
    provider = {"metadata": {"name": "gh", "uid": "0c9c2e41-aaaa"},
                "spec": {"type": "github", "commitStatusExpr":
                         '"flux/" + event.involvedObject.kind + "/" + alert.metadata.name'}}
    alert = {"metadata": {"name": "on-call"}}
    ev = event(kind="Kustomization")
    assert commit_status_context(provider, alert, ev) == "flux/Kustomization/on-call"
    assert commit_status_context({"metadata": provider["metadata"]}, alert, ev) == \
        "kustomization/podinfo/0c9c2e41"
    provider["spec"]["commitStatusExpr"] = "event.metadata.absent"
    with pytest.raises(ProviderError, match=r"failed to evaluate the spec\.commitStatusExpr CEL "
                                            r"expression for the event: failed to evaluate"):
        commit_status_context(provider, alert, ev)
