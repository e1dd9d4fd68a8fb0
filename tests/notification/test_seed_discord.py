"""The seed's Discord flow: its Secret, Provider and Alert; an apply, a broken commit, an
image-policy flip and a podinfo upgrade each reach the channel once, and the webhook's secret part shows up nowhere
else."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for
from sluice.testing.registry import FixtureRegistry

from ..helmrelease.charts import podinfo_chart
from ..helmrelease.conftest import ChartSource
from .conftest import Harness, discord_setup, start_harness

KS_API = "kustomize.toolkit.fluxcd.io/v1"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
PODINFO_HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: "{version}"
      sourceRef:
        kind: HelmRepository
        name: podinfo
"""
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


async def test_seed_discord_rings_once_when_the_image_policy_flips(
        kubeconfig: Path, tmp_path: Path, namespace: str) -> None:
    secret_part = "Zx9-webhook-secret-part"
    async with FixtureRegistry() as reg, start_harness(kubeconfig, tmp_path, namespace,
                                                       image_reflector=True) as h:
        reg.set_tags("e2e-test-images/agnhost", ["2.38", "2.39"])
        image = f"{reg.host}/e2e-test-images/agnhost"
        await h.secret(namespace, "discord-webhook",
                       {"address": h.sink.url(f"/api/webhooks/1234/{secret_part}")})
        await h.apply(discord_setup(namespace))
        await h.wait_cached("Alert", namespace, "discord")
        await h.wait_cached("Provider", namespace, "discord")
        await h.apply(yaml.safe_dump_all([
            {"apiVersion": IMAGE_API, "kind": "ImageRepository",
             "metadata": {"name": "agnhost", "namespace": namespace},
             "spec": {"image": image, "interval": "10m"}},
            {"apiVersion": IMAGE_API, "kind": "ImagePolicy",
             "metadata": {"name": "agnhost", "namespace": namespace},
             "spec": {"imageRepositoryRef": {"name": "agnhost"},
                      "policy": {"numerical": {"order": "asc"}}}}]))
        author = f"imagepolicy/agnhost.{namespace}"

        def policy_texts() -> list[str]:
            return [t for a, _, t in _texts(h) if a == author]

        async def resolved(tag: str) -> bool:
            return any(f"resolved to {tag}" in t for t in policy_texts())

        await async_wait_for(lambda: resolved("2.39"), timeout=30, what="first resolution")
        # A new tag is pushed and the repository rescanned: the policy flips, Discord rings.
        reg.set_tags("e2e-test-images/agnhost", ["2.38", "2.39", "2.40"], revision="2")
        await h.apply(yaml.safe_dump({
            "apiVersion": IMAGE_API, "kind": "ImageRepository",
            "metadata": {"name": "agnhost", "namespace": namespace,
                         "annotations": {"reconcile.fluxcd.io/requestedAt": "flip"}}}))
        await async_wait_for(lambda: resolved("2.40"), timeout=30, what="the flip notification")
        await h.manager.event_forwarder.flush()
        await h.notification.dispatcher.drain()
        flips = [t for t in policy_texts() if "resolved to 2.40" in t]
        assert flips == [f"Latest image tag for {image} resolved to 2.40 "
                         f"(previously {image}:2.39)"]
        # (Before its repository's first scan the policy may report "no tags" in red.)
        assert [c for a, c, t in _texts(h) if a == author and "2.40" in t] == ["good"]
        events = await h.events_on(namespace, "Alert", "discord")
        assert all(secret_part not in json.dumps(e) for e in events)


async def test_seed_discord_rings_once_when_podinfo_upgrades(
        kubeconfig: Path, tmp_path: Path, namespace: str) -> None:
    async with start_harness(kubeconfig, tmp_path, namespace, helm_release=True) as h:
        source = ChartSource(h.objects, namespace)
        for version in ("6.9.1", "6.9.2"):
            source.add(podinfo_chart(tmp_path / "charts", version))
        await source.start()
        try:
            await h.secret(namespace, "discord-webhook",
                           {"address": h.sink.url("/api/webhooks/1234/Zx9-secret")})
            await h.apply(discord_setup(namespace))
            await h.wait_cached("Alert", namespace, "discord")
            await h.wait_cached("Provider", namespace, "discord")
            await h.apply(PODINFO_HR.format(version="<6.9.2"), namespace)
            author = f"helmrelease/podinfo.{namespace}"

            def texts() -> list[tuple[str, str]]:
                return [(c, t) for a, c, t in _texts(h) if a == author]

            async def said(text: str) -> bool:
                return any(text in t for _, t in texts())

            await async_wait_for(lambda: said("Helm install succeeded"), timeout=60,
                                 what="the install notification")
            await h.apply(PODINFO_HR.format(version="*"), namespace)
            await async_wait_for(lambda: said("Helm upgrade succeeded"), timeout=60,
                                 what="the upgrade notification")
            await h.manager.event_forwarder.flush()
            await h.notification.dispatcher.drain()
            upgrades = [(c, t) for c, t in texts() if "upgrade" in t]
            assert upgrades == [("good", f"Helm upgrade succeeded for release {namespace}/"
                                         "podinfo.v2 with chart podinfo@6.9.2")]
            [req] = [r for r in h.sink.requests
                     if "upgrade" in r.json()["attachments"][0]["text"]]
            fields = {f["title"]: f["value"] for f in req.json()["attachments"][0]["fields"]}
            assert fields["revision"] == "6.9.2"
        finally:
            await source.stop()
