"""Events forwarded to the notification controller as Flux's recorder does, in the background."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sluice.kube.config import connect
from sluice.kube.events import EventForwarder, EventRecorder
from sluice.kube.objects import Obj, Objects
from sluice.testing.webhook_sink import WebhookSink


@pytest.fixture
async def objects(kubeconfig: Path) -> AsyncIterator[Objects]:
    conn = connect(kubeconfig)
    try:
        yield Objects(conn)
    finally:
        await conn.aclose()


async def _repo(objects: Objects, namespace: str) -> Obj:
    repos = await objects.mapping("source.toolkit.fluxcd.io/v1", "GitRepository")
    return await objects.create(repos, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": namespace,
                     "annotations": {"event.toolkit.fluxcd.io/team": "blue",
                                     "other.example/ignored": "x"}},
        "spec": {"url": "https://example.invalid/app.git", "interval": "1m"}})


async def test_events_are_posted_as_flux_event_json_and_trace_is_not(objects: Objects,
                                                                      namespace: str) -> None:
    obj = await _repo(objects, namespace)
    async with WebhookSink() as sink:
        forwarder = EventForwarder(sink.url("/"), backoff=0.05)
        recorder = EventRecorder(objects, "source-controller", "pod-0", forwarder=forwarder)
        await recorder.trace(obj, "GarbageCollectionSucceeded", "collected")
        await recorder.normal(obj, "NewArtifact", "stored artifact for commit 'x'",
                              {"source.toolkit.fluxcd.io/revision": "main@sha1:abc"})
        await recorder.warning(obj, "GitOperationFailed", "unable to clone")
        requests = await sink.wait_for(2)
        await forwarder.aclose()
    assert len(requests) == 2  # the Trace event never left the process
    first, second = requests
    assert first.method == "POST"
    assert first.header("Content-Type") == "application/json"
    body = first.json()
    meta = obj["metadata"]
    assert list(body) == ["involvedObject", "severity", "timestamp", "message", "reason",
                          "metadata", "reportingController", "reportingInstance"]
    assert body["involvedObject"] == {
        "kind": "GitRepository", "namespace": namespace, "name": "app", "uid": meta["uid"],
        "apiVersion": "source.toolkit.fluxcd.io/v1", "resourceVersion": meta["resourceVersion"]}
    assert (body["severity"], body["reason"], body["message"]) == (
        "info", "NewArtifact", "stored artifact for commit 'x'")
    assert body["metadata"] == {"source.toolkit.fluxcd.io/revision": "main@sha1:abc",
                                "event.toolkit.fluxcd.io/team": "blue"}
    assert (body["reportingController"], body["reportingInstance"]) == (
        "source-controller", "pod-0")
    assert body["timestamp"].endswith("Z")
    assert (second.json()["severity"], second.json()["reason"]) == ("error",
                                                                   "GitOperationFailed")


async def test_a_failing_endpoint_is_retried_and_never_holds_up_the_recorder(
        objects: Objects, namespace: str) -> None:
    obj = await _repo(objects, namespace)
    async with WebhookSink() as sink:
        sink.answers = [500, 503]
        forwarder = EventForwarder(sink.url("/events"), backoff=0.05, timeout=30.0)
        recorder = EventRecorder(objects, "kustomize-controller", forwarder=forwarder)
        await recorder.normal(obj, "ReconciliationSucceeded", "applied")
        await sink.wait_for(3)
        await forwarder.flush()
        assert [r.json()["message"] for r in sink.requests] == ["applied"] * 3
        assert forwarder.sent == 1

        # A hanging notification controller: recording still returns at once.
        sink.answer("hang")
        await asyncio.wait_for(recorder.warning(obj, "BuildFailed", "first"), 5)
        await asyncio.wait_for(recorder.warning(obj, "BuildFailed", "second"), 5)
        await sink.wait_for(4)
        await forwarder.aclose(drain=0.1)

    # Nothing listening at all: recording still succeeds, the Event is written.
    forwarder = EventForwarder(sink.url("/"), backoff=0.01, retries=1)
    recorder = EventRecorder(objects, "kustomize-controller", forwarder=forwarder)
    await recorder.warning(obj, "BuildFailed", "nobody listens")
    await forwarder.flush()
    await forwarder.aclose()
    m = await objects.mapping("v1", "Event")
    events, _ = await objects.list(m, namespace)
    assert "nobody listens" in [e["message"] for e in events]
    assert forwarder.sent == 0


async def test_the_local_receiver_replaces_the_http_hop(objects: Objects, namespace: str) -> None:
    obj = await _repo(objects, namespace)
    got: list[dict[str, Any]] = []

    async def local(payload: dict[str, Any]) -> None:
        got.append(json.loads(json.dumps(payload)))

    forwarder = EventForwarder()
    assert not forwarder.enabled
    forwarder.local = local
    recorder = EventRecorder(objects, "helm-controller", "pod-1", forwarder=forwarder)
    await recorder.normal(obj, "InstallSucceeded", "installed")
    await forwarder.flush()
    await forwarder.aclose()
    assert [p["message"] for p in got] == ["installed"]
    assert got[0]["reportingController"] == "helm-controller"
