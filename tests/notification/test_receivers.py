"""Receivers: the webhook path in status, and a signed push that makes a GitRepository fetch now."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import yaml

from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

from .conftest import Harness

GIT_API = "source.toolkit.fluxcd.io/v1"
TOKEN = "w3bh00k-t0ken-value"


def _ready(obj: dict | None) -> tuple[str, str, str] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return cond["status"], cond["reason"], cond["message"]
    return None


async def test_github_push_with_valid_signature_fetches_at_once(
        harness: Harness, namespace: str, git: GitHTTPServer) -> None:
    h = harness
    repo = git.create_repo("app.git", {"cm.yaml": "kind: ConfigMap"})
    await h.apply(yaml.safe_dump({
        "apiVersion": GIT_API, "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"interval": "10m", "url": git.repo_url("app.git"), "ref": {"branch": "main"}}}))
    first = repo.head()
    await async_wait_for(lambda: _artifact(h, namespace, first), timeout=20, what="first fetch")

    await h.secret(namespace, "webhook-token", {"token": TOKEN})
    await h.apply(yaml.safe_dump({
        "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "github", "namespace": namespace},
        "spec": {"type": "github", "events": ["push"], "secretRef": {"name": "webhook-token"},
                 "resources": [{"kind": "GitRepository", "name": "app"}]}}))
    path = "/hook/" + hashlib.sha256(f"{TOKEN}github{namespace}".encode()).hexdigest()

    async def initialized() -> dict | None:
        obj = await h.get("notification.toolkit.fluxcd.io/v1", "Receiver", namespace, "github")
        return obj if _ready(obj) == ("True", "Succeeded",
                                      f"Receiver initialized for path: {path}") else None

    receiver = await async_wait_for(initialized, timeout=15, what="Receiver ready")
    assert receiver["status"]["webhookPath"] == path
    await async_wait_for(lambda: _indexed(h, path), timeout=10, what="receiver cached")

    second = repo.commit({"cm.yaml": "kind: ConfigMap\n# v2"}, "second")
    payload = json.dumps({"ref": "refs/heads/main", "after": second}).encode()
    good = "sha256=" + hmac.new(TOKEN.encode(), payload, hashlib.sha256).hexdigest()
    bad = "sha256=" + hmac.new(b"wrong", payload, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    async with httpx.AsyncClient(base_url=h.receiver_url) as client:
        assert (await client.post("/hook/0000", content=payload, headers=headers)).status_code == 404
        resp = await client.post(path, content=payload,
                                 headers={**headers, "X-Hub-Signature-256": bad})
        assert resp.status_code == 400
        resp = await client.post(path, content=payload, headers={
            **headers, "X-GitHub-Event": "issues",
            "X-Hub-Signature-256": good})
        assert resp.status_code == 400  # not in spec.events
        repo_obj = await h.get(GIT_API, "GitRepository", namespace, "app")
        assert "reconcile.fluxcd.io/requestedAt" not in (
            repo_obj["metadata"].get("annotations") or {})  # a refused call changes nothing
        ping = await client.post(path, content=b"{}", headers={
            "Content-Type": "application/json", "X-GitHub-Event": "ping",
            "X-Hub-Signature-256": "sha256=" + hmac.new(TOKEN.encode(), b"{}",
                                                        hashlib.sha256).hexdigest()})
        assert ping.status_code == 200
        resp = await client.post(path, content=payload,
                                 headers={**headers, "X-Hub-Signature-256": good})
        assert resp.status_code == 200
    repo_obj = await h.get(GIT_API, "GitRepository", namespace, "app")
    stamp = repo_obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    assert stamp.endswith(tuple("0123456789")) and " +0000 UTC m=+" in stamp  # Go's time.String
    await async_wait_for(lambda: _artifact(h, namespace, second), timeout=10,
                         what="fetch of the pushed commit")

    # The token is in no status, event or annotation.
    m = await h.objects.mapping("v1", "Event")
    events, _ = await h.objects.list(m, namespace)
    everything = json.dumps([receiver, repo_obj, events])
    assert TOKEN not in everything


async def test_missing_token_and_gitlab_header(harness: Harness, namespace: str) -> None:
    h = harness
    await h.apply(yaml.safe_dump({
        "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "gitlab", "namespace": namespace},
        "spec": {"type": "gitlab", "secretRef": {"name": "absent"},
                 "resources": [{"kind": "GitRepository", "name": "app"}]}}))

    async def not_found() -> tuple[str, str, str] | None:
        r = _ready(await h.get("notification.toolkit.fluxcd.io/v1", "Receiver", namespace,
                               "gitlab"))
        return r if r and r[1] == "TokenNotFound" else None

    status, _, message = await async_wait_for(not_found, timeout=15, what="TokenNotFound")
    assert status == "False"
    assert message == (f"unable to read token from secret '{namespace}/absent' error: "
                       'secrets "absent" not found')

    await h.secret(namespace, "absent", {"token": TOKEN})
    await h.apply(yaml.safe_dump({"apiVersion": "notification.toolkit.fluxcd.io/v1",
                                  "kind": "Receiver",
                                  "metadata": {"name": "gitlab", "namespace": namespace,
                                               "annotations": {
                                                   "reconcile.fluxcd.io/requestedAt": "1"}}}))
    path = "/hook/" + hashlib.sha256(f"{TOKEN}gitlab{namespace}".encode()).hexdigest()
    await async_wait_for(lambda: _indexed(h, path), timeout=15, what="gitlab receiver ready")
    async with httpx.AsyncClient(base_url=h.receiver_url) as client:
        resp = await client.post(path, content=b"{}", headers={"X-Gitlab-Token": "nope"})
        assert resp.status_code == 400
        # Valid token, but the GitRepository does not exist: 500, as Flux.
        resp = await client.post(path, content=b"{}", headers={"X-Gitlab-Token": TOKEN,
                                                               "X-Gitlab-Event": "Push Hook"})
        assert resp.status_code == 500


async def _artifact(h: Harness, namespace: str, commit: str) -> bool:
    obj = await h.get(GIT_API, "GitRepository", namespace, "app")
    revision = (((obj or {}).get("status") or {}).get("artifact") or {}).get("revision", "")
    return bool(revision.endswith(commit))


async def _indexed(h: Harness, path: str) -> bool:
    informers = {i.mapping.kind: i for i in h.manager._informers.values()}
    found = informers["Receiver"].by_index("webhookPath", path)
    return bool(found) and _ready(found[0]) is not None and _ready(found[0])[0] == "True"
