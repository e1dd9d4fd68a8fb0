"""The ACR and CDEvents receivers over real webhook calls; a type Sluice does not serve stalls."""

from __future__ import annotations

import hashlib
import json

import httpx
import yaml

from sluice.testing.polling import async_wait_for

from .conftest import Harness
from .test_receivers import _indexed, _ready

RECEIVER_API = "notification.toolkit.fluxcd.io/v1"
GIT_API = "source.toolkit.fluxcd.io/v1"
TOKEN = "acr-and-cdevents-token"
CE_TYPE = "dev.cdevents.artifact.published.0.1.1"


def _receiver(namespace: str, name: str, kind: str, **spec: object) -> str:
    return yaml.safe_dump({"apiVersion": RECEIVER_API, "kind": "Receiver",
                           "metadata": {"name": name, "namespace": namespace},
                           "spec": {"type": kind, "secretRef": {"name": "token"},
                                    "resources": [{"kind": "GitRepository", "name": "app"}],
                                    **spec}})


async def _requested_at(h: Harness, namespace: str) -> str | None:
    repo = await h.get(GIT_API, "GitRepository", namespace, "app") or {}
    return (repo.get("metadata", {}).get("annotations") or {}).get(
        "reconcile.fluxcd.io/requestedAt")


async def test_acr_and_cdevents_calls_and_an_unserved_type(harness: Harness,
                                                           namespace: str) -> None:
    h = harness
    await h.secret(namespace, "token", {"token": TOKEN})
    await h.apply(yaml.safe_dump({
        "apiVersion": GIT_API, "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"interval": "10m", "url": "http://127.0.0.1:9/none.git"}}))
    await h.apply(_receiver(namespace, "acr", "acr"))
    await h.apply(_receiver(namespace, "cde", "cdevents", events=[CE_TYPE]))
    await h.apply(_receiver(namespace, "gcr", "gcr"))
    paths = {name: "/hook/" + hashlib.sha256(f"{TOKEN}{name}{namespace}".encode()).hexdigest()
             for name in ("acr", "cde")}
    for path in paths.values():
        await async_wait_for(lambda p=path: _indexed(h, p), timeout=15, what="receiver ready")

    async with httpx.AsyncClient(base_url=h.receiver_url) as client:
        assert (await client.post(paths["acr"], content=b"not json")).status_code == 400
        assert await _requested_at(h, namespace) is None
        push = {"action": "push", "target": {"repository": "app", "tag": "1.2.3"}}
        assert (await client.post(paths["acr"], json=push)).status_code == 200
        first = await _requested_at(h, namespace)
        assert first is not None

        cdevent = {"context": {"version": "0.4.1", "id": "1", "source": "ci", "type": CE_TYPE,
                               "timestamp": "2026-08-07T12:00:00Z"},
                   "subject": {"id": "pkg:oci/app", "content": {}}}
        other = await client.post(paths["cde"], json=cdevent,
                                  headers={"Ce-Type": "dev.cdevents.build.started.0.1.1"})
        assert other.status_code == 400  # not in spec.events
        broken = await client.post(paths["cde"], json={"context": {}},
                                   headers={"Ce-Type": CE_TYPE})
        assert broken.status_code == 400
        assert await _requested_at(h, namespace) == first
        ok = await client.post(paths["cde"], json=cdevent, headers={"Ce-Type": CE_TYPE})
        assert ok.status_code == 200
    await async_wait_for(lambda: _changed(h, namespace, first), timeout=10,
                         what="requestedAt updated by the CDEvent")

    async def stalled() -> dict | None:
        obj = await h.get(RECEIVER_API, "Receiver", namespace, "gcr")
        return obj if _ready(obj) and _ready(obj)[1] == "ValidationFailed" else None

    gcr = await async_wait_for(stalled, timeout=15, what="gcr receiver stalled")
    assert _ready(gcr) == ("False", "ValidationFailed", 'recevier type "gcr" not supported')
    conditions = {c["type"]: c for c in gcr["status"]["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    warning = await h.wait_event(namespace, "Receiver", "gcr",
                                 lambda e: e["reason"] == "ValidationFailed", "warning")
    assert warning["type"] == "Warning"
    assert TOKEN not in json.dumps(gcr)


async def _changed(h: Harness, namespace: str, before: str) -> bool:
    return (await _requested_at(h, namespace)) not in (None, before)
