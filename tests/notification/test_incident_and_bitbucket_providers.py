"""Opsgenie, PagerDuty, Datadog, Bitbucket (Cloud and Server) and Azure DevOps against a sink.

Expected bodies are what Flux's notifiers (v1.9) marshal for the same event:
Go maps with sorted keys, structs in field order.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from sluice.controllers.notification.errors import DeliveryFailed, ProviderError
from sluice.testing.webhook_sink import WebhookSink

from .test_provider_payloads import deliver, event, send

SHA = "0c9c2e41" * 5
CONTEXT = "kustomization/podinfo/0c9c2e41"
KEY = hashlib.sha1(CONTEXT.encode()).hexdigest()


@pytest.fixture
async def sink() -> Any:
    async with WebhookSink() as s:
        yield s


def _applied(severity: str = "info", reason: str = "ReconciliationSucceeded") -> Any:
    return event(severity, "Applied revision: main@sha1:" + SHA, reason=reason,
                 kind="Kustomization", metadata={"revision": f"main@sha1:{SHA}"})


async def test_opsgenie_alert_with_a_stable_alias(sink: WebhookSink) -> None:
    req = await send(sink, "opsgenie", event(), address=sink.url("/v2/alerts"), token="gk",
                     uid="prov-uid")
    assert (req.method, req.path) == ("POST", "/v2/alerts")
    assert req.header("Authorization") == "GenieKey gk"
    alias = hashlib.sha256(b"prov-uid/HelmRelease/podinfo/podinfo/InstallSucceeded").hexdigest()
    assert req.body == (
        b'{"message":"HelmRelease/podinfo","alias":"' + alias.encode() + b'","description":'
        b'"Helm install succeeded for release podinfo/podinfo.v1 with chart podinfo@6.9.2",'
        b'"details":{"app-version":"6.9.2","revision":"6.9.2","severity":"info"}}')
    with pytest.raises(ProviderError, match="empty Opsgenie apikey/token"):
        await send(sink, "opsgenie", event(), address=sink.url("/v2/alerts"))


async def test_pagerduty_resolves_and_records_a_change_on_info_triggers_on_error(
        sink: WebhookSink) -> None:
    await send(sink, "pagerduty", event(), address=sink.url("/ignored/path"), channel="rk")
    resolve, change = sink.requests
    assert resolve.path == "/v2/enqueue"
    assert resolve.body == b'{"routing_key":"rk","event_action":"resolve","dedup_key":"a1b2"}'
    assert change.path == "/v2/change/enqueue"
    assert change.body == (
        b'{"routing_key":"rk","payload":{"summary":"install succeeded: helmrelease/podinfo",'
        b'"source":"Flux helm-controller","timestamp":"2026-08-07T12:00:00Z","custom_details":'
        b'{"message":"Helm install succeeded for release podinfo/podinfo.v1 with chart '
        b'podinfo@6.9.2","metadata":{"app-version":"6.9.2","revision":"6.9.2"}}}}')
    sink.clear()
    await send(sink, "pagerduty", event("error", "upgrade failed", reason="UpgradeFailed",
                                        metadata={}), address=sink.url(""), channel="rk")
    [trigger] = sink.requests
    assert trigger.body == (
        b'{"routing_key":"rk","event_action":"trigger","dedup_key":"a1b2","payload":'
        b'{"summary":"upgrade failed: helmrelease/podinfo","source":"Flux helm-controller",'
        b'"severity":"error","timestamp":"2026-08-07T12:00:00Z","component":"podinfo",'
        b'"group":"HelmRelease","custom_details":{"message":"upgrade failed","metadata":null}}}')
    sink.clear()
    await deliver("pagerduty", event(reason="Progressing"), address=sink.url(""))
    assert sink.requests == []


async def test_datadog_event_and_no_retry(sink: WebhookSink) -> None:
    req = await send(sink, "datadog", event("error", "Upgrade Failed", reason="UpgradeFailed"),
                     address=sink.url("/whatever"), token="dd-key")
    assert (req.method, req.path) == ("POST", "/api/v1/events")
    assert req.header("DD-API-KEY") == "dd-key"
    assert req.body == (
        b'{"alert_type":"error","date_happened":1786104000,"source_type_name":"fluxcd",'
        b'"tags":["flux_reporting_controller:helm-controller","flux_reason:upgradefailed",'
        b'"kube_kind:helmrelease","kube_name:podinfo","kube_namespace:podinfo",'
        b'"revision:6.9.2","app-version:6.9.2"],"text":"Upgrade Failed",'
        b'"title":"Events from the HelmRelease podinfo/podinfo"}')
    sink.clear()
    sink.answer("status", 500, "down")
    with pytest.raises(DeliveryFailed, match=r"^failed to post event to DataDog: request failed"):
        await send(sink, "datadog", event(), address=sink.url(""), token="dd-key")
    assert len(sink.requests) == 1


async def test_bitbucket_cloud_build_status(sink: WebhookSink,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITBUCKET_API_BASE_URL", sink.url("/2.0"))
    sink.answers = [404]
    await send(sink, "bitbucket", _applied(), address="https://bitbucket.org/team/app.git",
               token="bob:app-pw", commit_status=CONTEXT)
    get, post = sink.requests
    build = f"/2.0/repositories/team/app/commit/{SHA}/statuses/build"
    assert (get.method, get.path) == ("GET", f"{build}/{KEY}")
    assert get.header("Authorization") == "Basic " + base64.b64encode(b"bob:app-pw").decode()
    assert (post.method, post.path) == ("POST", build)
    assert post.body == (b'{"key":"' + KEY.encode() + b'","url":"https://bitbucket.org",'
                         b'"state":"SUCCESSFUL","name":"kustomization/podinfo",'
                         b'"description":"reconciliation succeeded"}')
    # Already there with the same state and description: only the GET.
    sink.clear()
    sink.answer(body={"state": "SUCCESSFUL", "description": "reconciliation succeeded"})
    await send(sink, "bitbucket", _applied(), address="https://bitbucket.org/team/app",
               token="bob:app-pw", commit_status=CONTEXT)
    assert [r.method for r in sink.requests] == ["GET"]
    with pytest.raises(ProviderError, match="invalid token format"):
        await send(sink, "bitbucket", _applied(), address="https://bitbucket.org/team/app",
                   token="no-colon", commit_status=CONTEXT)


async def test_bitbucket_server_build_status(sink: WebhookSink) -> None:
    address = sink.url("/bitbucket/scm/PRJ/app.git")
    sink.answers = [404]
    await send(sink, "bitbucketserver", _applied("error", "HealthCheckFailed"),
               address=address, token="bbs-token", commit_status=CONTEXT)
    get, post = sink.requests
    builds = f"/bitbucket/rest/api/latest/projects/PRJ/repos/app/commits/{SHA}/builds"
    assert (get.method, get.path, get.query) == ("GET", builds, f"key={KEY}")
    assert get.header("Authorization") == "Bearer bbs-token"
    assert get.header("x-atlassian-token") == "no-check"
    assert get.header("x-requested-with") == "XMLHttpRequest"
    assert (post.method, post.path) == ("POST", builds)
    assert post.body == (b'{"description":"health check failed","key":"' + KEY.encode()
                         + b'","name":"kustomization/podinfo [health check failed]",'
                         b'"state":"FAILED","url":"' + address.encode() + b'"}\n')
    with pytest.raises(ProviderError, match="not http\\(s\\) git clone url"):
        await send(sink, "bitbucketserver", _applied(), address=sink.url("/PRJ/app.git"),
                   token="t", commit_status=CONTEXT)
    with pytest.raises(ProviderError, match="invalid credentials"):
        await send(sink, "bitbucketserver", _applied(), address=address, commit_status=CONTEXT)


async def test_azure_devops_commit_status(sink: WebhookSink) -> None:
    sink.answer(body={"count": 0, "value": []})
    await send(sink, "azuredevops", _applied(), address=sink.url("/org/proj/_git/app"),
               token="pat", commit_status=CONTEXT)
    get, post = sink.requests
    path = f"/org/proj/_apis/git/repositories/app/commits/{SHA}/statuses"
    assert (get.method, get.path) == ("GET", path)
    assert get.header("Authorization") == "Basic " + base64.b64encode(b":pat").decode()
    assert get.header("Accept") == "application/json;api-version=6.0"
    assert (post.method, post.path) == ("POST", path)
    assert post.body == (b'{"context":{"genre":"fluxcd","name":"' + CONTEXT.encode()
                         + b'"},"description":"reconciliation succeeded","state":"succeeded"}')
    sink.clear()
    sink.answer(body={"count": 1, "value": [{
        "context": {"genre": "fluxcd", "name": CONTEXT}, "state": "succeeded",
        "description": "reconciliation succeeded"}]})
    await send(sink, "azuredevops", _applied(), address=sink.url("/org/proj/_git/app"),
               token="pat", commit_status=CONTEXT)
    assert [r.method for r in sink.requests] == ["GET"]
    with pytest.raises(ProviderError, match="workload identity is not supported"):
        await send(sink, "azuredevops", _applied(), address=sink.url("/org/proj/_git/app"),
                   commit_status=CONTEXT)


async def test_webex_markdown_and_github_repository_dispatch(sink: WebhookSink) -> None:
    req = await send(sink, "webex", event("error", "upgrade failed", metadata={"revision": "1"}),
                     address=sink.url("/v1/messages"), channel="room-1", token="wbx")
    assert req.header("Authorization") == "Bearer wbx"
    assert req.json() == {"roomId": "room-1", "markdown": "💣 **helmrelease/podinfo.podinfo**\n"
                                                          "upgrade failed\n>**revision**: 1\n"}
    ev = event()
    req = await send(sink, "githubdispatch", ev, address=f"{sink.url('')}/org/app.git",
                     token="ghp")
    assert (req.method, req.path) == ("POST", "/api/v3/repos/org/app/dispatches")
    assert req.header("Authorization") == "Bearer ghp"
    assert req.body == (b'{"event_type":"HelmRelease/podinfo.podinfo","client_payload":'
                        + ev.body() + b"}")
    assert req.json()["client_payload"]["involvedObject"]["name"] == "podinfo"
    sink.answer("status", 404)
    with pytest.raises(DeliveryFailed, match=r"^could not send github repository dispatch "
                                             r"webhook: 404 Not Found$"):
        await send(sink, "githubdispatch", ev, address=f"{sink.url('')}/org/app", token="ghp")


async def test_zoom_and_incident_io(sink: WebhookSink) -> None:
    req = await send(sink, "zoom", event("error", "upgrade failed", metadata={"revision": "1"}),
                     address=sink.url("/inbound/abc"), token="zoom-verif")
    assert (req.path, req.query) == ("/inbound/abc", "format=full")
    assert req.header("Authorization") == "zoom-verif"
    assert req.body == (b'{"content":{"head":{"text":"helmrelease/podinfo.podinfo","sub_head":'
                        b'{"text":"error"}},"body":[{"type":"message","text":"upgrade failed"},'
                        b'{"type":"fields","items":[{"key":"revision","value":"1"}]}]}}')
    req = await send(sink, "zoom", event(metadata={}), address=sink.url("/in?format=message"),
                     token="t")
    assert req.query == "format=message"
    assert req.json()["content"]["body"] == [{"type": "message", "text": event().message}]

    req = await send(sink, "incident.io", event("error", "upgrade failed", reason="UpgradeFailed"),
                     address=sink.url("/v2/alert_events/http/src"), token="inc")
    assert req.header("Authorization") == "Bearer inc"
    assert req.body == (
        b'{"title":"helmrelease/podinfo.podinfo: UpgradeFailed","status":"firing",'
        b'"deduplication_key":"a1b2","description":"upgrade failed","metadata":{"app-version":'
        b'"6.9.2","reason":"UpgradeFailed","reportingController":"helm-controller",'
        b'"revision":"6.9.2","severity":"error"}}')
    count = len(sink.requests)
    await deliver("incident.io", event(reason="Progressing"), address=sink.url("/x"), token="i")
    assert len(sink.requests) == count


async def test_lark_interactive_card(sink: WebhookSink) -> None:
    req = await send(sink, "lark", event("error", "upgrade failed", metadata={"revision": "1"}),
                     address=sink.url("/open-apis/bot/v2/hook/x"))
    assert req.body == (
        '{"msg_type":"interactive","card":{"config":{"wide_screen_mode":true},"header":'
        '{"title":{"tag":"plain_text","content":"🚨 helmrelease/podinfo.podinfo"},'
        '"template":"red"},"elements":[{"tag":"div","text":{"tag":"lark_md","content":'
        '"**upgrade failed**\\n\\nrevision: 1\\n"}}]}}').encode()


async def test_zulip_stream_message_as_a_form(sink: WebhookSink) -> None:
    ev = event("error", "upgrade failed", metadata={"revision": "1", "app-version": "2",
                                                    "change_request": "7"})
    req = await send(sink, "zulip", ev, address=sink.url("/ignored?x=1"),
                     channel="flux/podinfo", username="bot@z", password="key")
    assert (req.path, req.query) == ("/api/v1/messages", "x=1")
    assert req.header("Content-Type") == "application/x-www-form-urlencoded"
    assert req.header("Authorization") == "Basic " + base64.b64encode(b"bot@z:key").decode()
    assert req.body == (
        b"content=%23%23+Flux+Status%0A%0A%E2%9A%A0%EF%B8%8F+HelmRelease%2Fpodinfo%2Fpodinfo"
        b"%0A%0Aupgrade+failed%0A%0AMetadata%3A%0A%2A+%60app-version%60%3A+2%0A"
        b"%2A+%60revision%60%3A+1%0A&to=flux&topic=podinfo&type=stream")
    with pytest.raises(ProviderError, match="expected <channel>/<topic>"):
        await send(sink, "zulip", ev, address=sink.url(""), channel="flux")
