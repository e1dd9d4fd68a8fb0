"""The seed's Discord flow: its Secret, Provider and Alert; an apply and a broken commit each
reach the channel once, and the webhook's secret part shows up nowhere else."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import yaml

from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

from .conftest import Harness, discord_setup

KS_API = "kustomize.toolkit.fluxcd.io/v1"
BROKEN = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: agnhost\n  labels: [app\n"


def _texts(h: Harness) -> list[tuple[str, str, str]]:
    out = []
    for req in h.sink.requests:
        attachment = req.json()["attachments"][0]
        out.append((attachment["author_name"], attachment["color"], attachment["text"]))
    return out


async def test_seed_discord_flow(harness: Harness, namespace: str, git: GitHTTPServer,
                                 seed: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness
    secret_part = "Zx9-webhook-secret-part"
    await h.secret(namespace, "discord-webhook",
                   {"address": h.sink.url(f"/api/webhooks/1234/{secret_part}")})
    await h.apply(discord_setup(namespace))
    await h.wait_cached("Alert", namespace, "discord")
    await h.wait_cached("Provider", namespace, "discord")

    repo = git.create_repo("k8s-kind-apps.git", {"agnhost/app.yaml": seed.app(namespace)})
    await h.apply(yaml.safe_dump({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "k8s-kind-apps", "namespace": namespace},
        "spec": {"interval": "1m0s", "ref": {"branch": "main"},
                 "url": git.repo_url("k8s-kind-apps.git")}}))
    await h.apply(yaml.safe_dump({
        "apiVersion": KS_API, "kind": "Kustomization",
        "metadata": {"name": "agnhost", "namespace": namespace},
        "spec": {"interval": "1m0s", "path": "./agnhost", "prune": True,
                 "retryInterval": "1s",
                 "sourceRef": {"kind": "GitRepository", "name": "k8s-kind-apps"}}}))

    author = f"kustomization/agnhost.{namespace}"

    async def applied() -> bool:
        return any(a == author and "Deployment/" in t for a, _, t in _texts(h))

    await async_wait_for(applied, timeout=30, what="the apply notification")
    head = repo.head()
    # The broken commit: the Kustomization fails (and retries every second), Discord hears once.
    repo.commit({"agnhost/app.yaml": BROKEN}, "broken")
    await h.apply(yaml.safe_dump({"apiVersion": "source.toolkit.fluxcd.io/v1",
                                  "kind": "GitRepository",
                                  "metadata": {"name": "k8s-kind-apps", "namespace": namespace,
                                               "annotations": {
                                                   "reconcile.fluxcd.io/requestedAt": "1"}}}))

    async def failed_twice() -> bool:
        ks = await h.get(KS_API, "Kustomization", namespace, "agnhost")
        events = await h.events_on(namespace, "Kustomization", "agnhost")
        warnings = [e for e in events if e["type"] == "Warning"]
        return bool(ks) and bool(warnings) and max(e.get("count", 1) for e in warnings) >= 2

    await async_wait_for(failed_twice, timeout=30, what="the Kustomization failing twice")
    await h.manager.event_forwarder.flush()
    await h.notification.dispatcher.drain()

    texts = _texts(h)
    mine = [t for t in texts if t[0] == author]
    apply_msgs = [t for t in mine if "Deployment/" in t[2] and t[1] == "good"]
    errors = [t for t in mine if t[1] == "danger"]
    assert len(apply_msgs) == 1, texts
    assert f"Deployment/{namespace}/agnhost created" in apply_msgs[0][2]
    assert len(errors) == 1, texts  # retried every second, notified once
    assert "agnhost/app.yaml" in errors[0][2] or "yaml" in errors[0][2], errors
    sources = [t for t in texts if t[0] == f"gitrepository/k8s-kind-apps.{namespace}"]
    assert any(t[2].startswith("stored artifact for commit") for t in sources), texts
    revisions = [f["value"] for r in h.sink.requests for f in r.json()["attachments"][0]["fields"]
                 if f["title"] == "revision"]
    assert f"main@sha1:{head}" in revisions

    # The webhook's secret part: only in the requests' path, nowhere else.
    m = await h.objects.mapping("v1", "Event")
    events, _ = await h.objects.list(m, namespace)
    objects = [await h.get(KS_API, "Kustomization", namespace, "agnhost"),
               await h.get("notification.toolkit.fluxcd.io/v1beta3", "Provider", namespace,
                           "discord"),
               await h.get("notification.toolkit.fluxcd.io/v1beta3", "Alert", namespace,
                           "discord")]
    assert secret_part not in json.dumps([events, objects])
    assert secret_part not in caplog.text
    assert all(r.path.endswith(f"{secret_part}/slack") for r in h.sink.requests)
