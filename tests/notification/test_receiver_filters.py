"""Receiver CEL filters: ``resourceFilter`` and ``resources[].filter`` pick what a call reconciles."""

from __future__ import annotations

import hashlib
import json

import httpx
import yaml

from sluice.testing.polling import async_wait_for

from .conftest import Harness

API = "notification.toolkit.fluxcd.io/v1"
GIT_API = "source.toolkit.fluxcd.io/v1"
TOKEN = "f1lter-t0ken"
REQUESTED = "reconcile.fluxcd.io/requestedAt"


def _conditions(obj: dict | None) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"])
            for c in ((obj or {}).get("status") or {}).get("conditions") or []}


async def _requested(h: Harness, namespace: str, name: str) -> str | None:
    obj = await h.get(GIT_API, "GitRepository", namespace, name)
    return ((obj or {}).get("metadata", {}).get("annotations") or {}).get(REQUESTED)


async def test_filters_select_resources_and_bad_expressions_stall(
        harness: Harness, namespace: str) -> None:
    h = harness
    for name, tier in (("front", "web"), ("back", "web"), ("db", "data")):
        await h.apply(yaml.safe_dump({
            "apiVersion": GIT_API, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"tier": tier, "app": "shop"}},
            "spec": {"interval": "10m", "url": "https://example.invalid/x.git",
                     "suspend": True}}))
    await h.secret(namespace, "token", {"token": TOKEN})
    await h.apply(yaml.safe_dump({
        "apiVersion": API, "kind": "Receiver",
        "metadata": {"name": "filtered", "namespace": namespace},
        "spec": {"type": "generic", "secretRef": {"name": "token"},
                 # The body names the repository to refresh; the label narrows further.
                 "resourceFilter": 'res.metadata.name in req.repos',
                 "resources": [
                     {"kind": "GitRepository", "name": "*", "matchLabels": {"app": "shop"},
                      "filter": 'res.metadata.labels.tier == "web"'},
                     {"kind": "GitRepository", "name": "db"}]}}))
    path = "/hook/" + hashlib.sha256(f"{TOKEN}filtered{namespace}".encode()).hexdigest()

    async def ready() -> bool:
        obj = await h.get(API, "Receiver", namespace, "filtered")
        return _conditions(obj).get("Ready", ("",))[0] == "True"

    await async_wait_for(ready, timeout=15, what="Receiver ready")
    await async_wait_for(lambda: _served(h, path), timeout=10, what="receiver cached")
    body = json.dumps({"repos": ["back", "db"]}).encode()
    async with httpx.AsyncClient(base_url=h.receiver_url) as client:
        resp = await client.post(path, content=body,
                                 headers={"Content-Type": "application/json"})
        assert resp.status_code == 200
        # back: both filters; db: the top-level one; front: not in the body.
        assert await _requested(h, namespace, "back")
        assert await _requested(h, namespace, "db")
        assert await _requested(h, namespace, "front") is None
        # An expression failing on the data (no 'repos' key) fails the call as Flux: 500.
        resp = await client.post(path, content=b'{"other": 1}',
                                 headers={"Content-Type": "application/json"})
        assert resp.status_code == 500

    # A filter that does not parse, then one that cannot be a boolean: terminal, never a 500.
    for bad, detail in (('res.metadata.name ==', "failed to parse the CEL expression"),
                        ('"web"', "does not match expected type 'bool'")):
        await h.apply(yaml.safe_dump({
            "apiVersion": API, "kind": "Receiver",
            "metadata": {"name": "filtered", "namespace": namespace},
            "spec": {"resources": [{"kind": "GitRepository", "name": "db", "filter": bad}]}}))

        async def stalled(bad: str = bad) -> dict | None:
            conds = _conditions(await h.get(API, "Receiver", namespace, "filtered"))
            ok = (conds.get("Ready", ("",))[0] == "False" and "Stalled" in conds
                  and bad in conds["Ready"][2])
            return conds if ok else None

        conds = await async_wait_for(stalled, timeout=15, what=f"stalled on {bad}")
        _, reason, message = conds["Ready"]
        assert reason == conds["Stalled"][1] == "InvalidCELExpression"
        assert message.startswith(
            "Reconciliation failed terminally due to configuration error: invalid filter "
            'expression for resources[0] (kind="GitRepository", name="db"): ')
        assert detail in message
    await async_wait_for(lambda: _not_served(h, path), timeout=10, what="receiver not ready")
    async with httpx.AsyncClient(base_url=h.receiver_url) as client:
        resp = await client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 503
    events = await h.events_on(namespace, "Receiver", "filtered")
    assert any(e["reason"] == "InvalidCELExpression" and e["type"] == "Warning" for e in events)


def _receiver(h: Harness, path: str) -> dict | None:
    informers = {i.mapping.kind: i for i in h.manager._informers.values()}
    found = informers["Receiver"].by_index("webhookPath", path)
    return found[0] if found else None


async def _served(h: Harness, path: str) -> bool:
    return _conditions(_receiver(h, path)).get("Ready", ("",))[0] == "True"


async def _not_served(h: Harness, path: str) -> bool:
    return _conditions(_receiver(h, path)).get("Ready", ("",))[0] == "False"
