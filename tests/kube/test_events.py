"""Events as Flux controllers record them, deduplicated, and handed to hooks."""

from __future__ import annotations

from pathlib import Path

from sluice.kube.config import connect
from sluice.kube.events import EventRecorder, RecordedEvent
from sluice.kube.objects import Objects


async def test_events_are_recorded_once_with_a_count_and_reach_hooks(kubeconfig: Path,
                                                                    namespace: str) -> None:
    conn = connect(kubeconfig)
    try:
        objects = Objects(conn)
        repos = await objects.mapping("source.toolkit.fluxcd.io/v1", "GitRepository")
        obj = await objects.create(repos, {
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace,
                         "annotations": {"event.toolkit.fluxcd.io/team": "blue"}},
            "spec": {"url": "https://example.invalid/app.git", "interval": "1m"}})
        recorder = EventRecorder(objects, "source-controller", "pod-0")
        seen: list[RecordedEvent] = []

        async def hook(event: RecordedEvent) -> None:
            seen.append(event)

        recorder.add_hook(hook)
        for _ in range(3):
            await recorder.warning(obj, "GitOperationFailed", "unable to clone: boom")
        await recorder.normal(obj, "NewArtifact", "stored artifact for commit 'x'",
                              {"source.toolkit.fluxcd.io/revision": "main@sha1:abc"})
        await recorder.trace(obj, "GarbageCollectionSucceeded", "collected")

        m = await objects.mapping("v1", "Event")
        events, _ = await objects.list(m, namespace)
        by_reason = {e["reason"]: e for e in events}
        assert sorted(by_reason) == ["GarbageCollectionSucceeded", "GitOperationFailed",
                                     "NewArtifact"]
        failed = by_reason["GitOperationFailed"]
        assert (failed["type"], failed["count"], failed["message"]) == (
            "Warning", 3, "unable to clone: boom")
        assert failed["source"] == {"component": "source-controller"}
        assert failed["reportingComponent"] == "source-controller"
        assert failed["reportingInstance"] == "pod-0"
        ref = failed["involvedObject"]
        assert (ref["kind"], ref["name"], ref["namespace"], ref["uid"]) == (
            "GitRepository", "app", namespace, obj["metadata"]["uid"])
        assert by_reason["NewArtifact"]["metadata"]["annotations"] == {
            "source.toolkit.fluxcd.io/revision": "main@sha1:abc"}
        assert by_reason["GarbageCollectionSucceeded"]["type"] == "Normal"

        assert [e.severity for e in seen] == ["error"] * 3 + ["info", "trace"]
        payload = seen[3].to_payload()
        assert payload["involvedObject"]["kind"] == "GitRepository"
        # Flux adds the object's event.toolkit.fluxcd.io/* annotations to the metadata.
        assert payload["metadata"] == {"source.toolkit.fluxcd.io/revision": "main@sha1:abc",
                                       "event.toolkit.fluxcd.io/team": "blue"}
        assert payload["reportingController"] == "source-controller"
        assert seen[3].object_annotations == {"event.toolkit.fluxcd.io/team": "blue"}
    finally:
        await conn.aclose()
