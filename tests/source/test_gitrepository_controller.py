"""The GitRepository controller against the embedded cluster and real loopback Git servers.

Every test runs the real controller (informer, queue, reconciler, status
writes, events, artifact server) against the session's embedded cluster,
with repositories served by `git http-backend` (with and without basic
auth) or an in-process SSH server (deploy key, pinned host key). Failures
must leave Ready=False with Flux's reason and a message naming the failed
step, keep the previous artifact, and never show a secret anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import tarfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice.api.meta import FINALIZER, RECONCILE_REQUEST_ANNOTATION
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.core.sshkeys import KeyPair, generate_key_pair
from sluice.kube.config import connect
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.runtime.reconciler import Request
from sluice.testing.gitserver import GitHTTPServer, GitRepo, symlink
from sluice.testing.polling import async_wait_for
from sluice.testing.sshgit import GitSSHServer

API = "source.toolkit.fluxcd.io/v1"
PASSWORD = "s3cret-Pa55word-xyz"


# --------------------------------------------------------------------------- harness


@dataclass
class Harness:
    objects: Objects
    repos: ResourceMapping
    secrets: ResourceMapping
    events: ResourceMapping
    namespace: str
    storage: Storage
    server: ArtifactServer
    manager: Manager

    async def create(
        self,
        name: str,
        url: str,
        *,
        ref: dict[str, str] | None = None,
        secret: str | None = None,
        **spec: Any,
    ) -> None:
        body: Obj = {
            "apiVersion": API,
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"url": url, "interval": "1h", "timeout": "20s", **spec},
        }
        if ref is not None:
            body["spec"]["ref"] = ref
        if secret is not None:
            body["spec"]["secretRef"] = {"name": secret}
        await self.objects.create(self.repos, body)

    async def secret(self, name: str, data: dict[str, str | bytes]) -> None:
        encoded = {
            k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
            for k, v in data.items()
        }
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": self.namespace},
            "data": encoded,
        }
        existing = await self.objects.get_or_none(self.secrets, name, self.namespace)
        if existing is None:
            await self.objects.create(self.secrets, body)
        else:
            await self.objects.merge_patch(self.secrets, name, {"data": encoded}, self.namespace)

    async def get(self, name: str) -> Obj:
        return await self.objects.get(self.repos, name, self.namespace)

    async def patch(self, name: str, patch: Obj) -> None:
        await self.objects.merge_patch(self.repos, name, patch, self.namespace)

    async def request_reconcile(self, name: str, value: str) -> None:
        await self.patch(name, {"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: value}}})

    async def wait(
        self, name: str, check: Callable[[Obj], bool], what: str, within: float = 30.0
    ) -> Obj:
        async def probe() -> Obj | None:
            obj = await self.get(name)
            return obj if check(obj) else None

        result: Obj = await async_wait_for(probe, timeout=within, what=f"{name}: {what}")
        return result

    async def ready(self, name: str, revision_prefix: str = "") -> Obj:
        def check(obj: Obj) -> bool:
            ready = condition(obj, "Ready")
            art = (obj.get("status") or {}).get("artifact") or {}
            return (
                ready is not None
                and ready["status"] == "True"
                and art.get("revision", "").startswith(revision_prefix)
            )

        return await self.wait(name, check, f"Ready=True {revision_prefix}")

    async def failed(self, name: str, reason: str) -> Obj:
        def check(obj: Obj) -> bool:
            ready = condition(obj, "Ready")
            return ready is not None and ready["status"] == "False" and ready["reason"] == reason

        return await self.wait(name, check, f"Ready=False {reason}")

    async def event_list(self, name: str) -> list[Obj]:
        items, _ = await self.objects.list(self.events, self.namespace)
        return [
            e
            for e in items
            if e["involvedObject"]["name"] == name
            and e["involvedObject"]["kind"] == "GitRepository"
        ]

    async def download(self, obj: Obj) -> bytes:
        async with httpx.AsyncClient() as http:
            resp = await http.get(obj["status"]["artifact"]["url"])
            resp.raise_for_status()
            return resp.content


def condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return None


def members(data: bytes) -> dict[str, bytes | str]:
    """name -> content (files) or '-> target' (symlinks) of an artifact tarball."""
    out: dict[str, bytes | str] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            if m.isfile():
                f = tar.extractfile(m)
                assert f is not None
                out[m.name] = f.read()
            elif m.issym():
                out[m.name] = f"-> {m.linkname}"
    return out


@pytest.fixture
async def harness(kubeconfig: Path, namespace: str, tmp_path: Path) -> AsyncIterator[Harness]:
    conn = connect(kubeconfig, field_manager="pytest")
    server = ArtifactServer(tmp_path / "artifacts", "127.0.0.1", 0)
    (tmp_path / "artifacts").mkdir()
    await server.start()
    storage = Storage(tmp_path / "artifacts", server.address)
    manager = Manager(
        conn, ManagerOptions(watch_namespace=namespace, metrics_addr=None, concurrent=4)
    )
    await setup_gitrepository_controller(manager, storage)
    await manager.start()
    objects = manager.objects
    h = Harness(
        objects,
        await objects.mapping(API, "GitRepository"),
        await objects.mapping("v1", "Secret"),
        await objects.mapping("v1", "Event"),
        namespace,
        storage,
        server,
        manager,
    )
    try:
        yield h
        # Delete what the test created while the controller still runs, so
        # finalizers are honoured and the namespace can go away cleanly.
        items, _ = await objects.list(h.repos, namespace)
        for item in items:
            await objects.delete(h.repos, item["metadata"]["name"], namespace)

        async def all_gone() -> bool:
            return not (await objects.list(h.repos, namespace))[0]

        await async_wait_for(all_gone, what="GitRepositories to be finalized")
    finally:
        await manager.shutdown()
        await server.close()
        await conn.aclose()


@pytest.fixture
async def git_http(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    async with GitHTTPServer(tmp_path / "git-http") as srv:
        yield srv


@pytest.fixture
async def git_auth(tmp_path: Path) -> AsyncIterator[GitHTTPServer]:
    async with GitHTTPServer(tmp_path / "git-auth", username="git", password=PASSWORD) as srv:
        yield srv


@pytest.fixture(scope="module")
def deploy_key() -> KeyPair:
    return generate_key_pair()  # ECDSA P-384, as `flux create secret git`


@pytest.fixture
async def git_ssh(tmp_path: Path, deploy_key: KeyPair) -> AsyncIterator[GitSSHServer]:
    async with GitSSHServer(tmp_path / "git-ssh", [deploy_key.public_key]) as srv:
        yield srv


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret(secrets: list[str], *texts: Any, logs: pytest.LogCaptureFixture) -> None:
    haystack = [repr(t) for t in texts]
    haystack += [r.getMessage() for r in logs.records]
    haystack += [r.exc_text or "" for r in logs.records]
    for secret in secrets:
        for text in haystack:
            assert secret not in text, f"secret leaked into: {text[:300]}"


async def assert_previous_artifact_kept(h: Harness, obj: Obj, previous: dict[str, Any]) -> None:
    artifact = obj["status"]["artifact"]
    assert artifact == previous
    assert h.storage.exists(artifact["path"])
    stored = condition(obj, "ArtifactInStorage")
    assert stored is not None and stored["status"] == "True"
    assert stored["message"] == f"stored artifact for revision '{previous['revision']}'"
    data = await h.download(obj)
    assert "sha256:" + hashlib.sha256(data).hexdigest() == previous["digest"]


# ----------------------------------------------------------------------------- tests


async def test_branch_artifact_status_events_and_ignore_rules(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    repo = git_http.create_repo(
        "app.git",
        {
            "deploy/app.yaml": "kind: ConfigMap\n",
            "deploy/logo.png": b"\x89PNG",
            ".github/workflows/ci.yaml": "on: push\n",
            "notes/private.md": "hidden\n",
            "notes/public.md": "shown\n",
            "notes/.sourceignore": "private.md\n",
            "tests/fixture.yaml": "kind: Secret\n",
        },
    )
    sha = repo.head()
    await harness.create(
        "app", git_http.repo_url("app.git"), ref={"branch": "main"}, ignore="/tests/\n"
    )
    obj = await harness.ready("app")
    status = obj["status"]
    art = status["artifact"]
    revision = f"main@sha1:{sha}"
    assert art["revision"] == revision
    assert art["path"] == f"gitrepository/{harness.namespace}/app/{sha}.tar.gz"
    assert art["url"] == f"http://{harness.server.address}/{art['path']}"
    assert art["lastUpdateTime"].endswith("Z")
    data = await harness.download(obj)
    assert art["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert art["size"] == len(data)
    files = members(data)
    assert files == {
        "deploy/app.yaml": b"kind: ConfigMap\n",
        "notes/.sourceignore": b"private.md\n",
        "notes/public.md": b"shown\n",
    }

    ready = condition(obj, "Ready")
    assert ready is not None
    assert (ready["reason"], ready["message"]) == (
        "Succeeded",
        f"stored artifact for revision '{revision}'",
    )
    assert ready["observedGeneration"] == obj["metadata"]["generation"]
    assert condition(obj, "ArtifactInStorage") is not None
    assert condition(obj, "Reconciling") is None
    assert condition(obj, "ArtifactOutdated") is None
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status["observedIgnore"] == "/tests/\n"
    assert FINALIZER in obj["metadata"]["finalizers"]
    events = await harness.event_list("app")
    new = [e for e in events if e["reason"] == "NewArtifact"]
    assert len(new) == 1
    assert new[0]["type"] == "Normal"
    assert new[0]["message"] == "stored artifact for commit 'initial commit'"
    assert new[0]["source"]["component"] == "source-controller"
    assert new[0]["reportingComponent"] == "source-controller"
    assert new[0]["metadata"]["annotations"]["source.toolkit.fluxcd.io/revision"] == revision


async def test_every_ref_kind_resolves_to_flux_revisions(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    repo = git_http.create_repo("refs.git", {"a.yaml": "v: 1\n"}, branch="master")
    first = repo.head()
    repo.tag("v1.0.0")
    second = repo.commit({"a.yaml": "v: 2\n"}, "second")
    repo.tag("v1.1.0", message="release 1.1.0")  # annotated
    repo.tag("v2.0.0-rc.1")
    third = repo.commit({"a.yaml": "v: 3\n"}, "third")
    repo.branch("feature", second)
    url = git_http.repo_url("refs.git")
    cases: dict[str, tuple[dict[str, str] | None, str]] = {
        "default": (None, f"master@sha1:{third}"),
        "branch": ({"branch": "feature"}, f"feature@sha1:{second}"),
        "tag": ({"tag": "v1.0.0"}, f"v1.0.0@sha1:{first}"),
        "annotated": ({"tag": "v1.1.0"}, f"v1.1.0@sha1:{second}"),
        "semver": ({"semver": ">=1.0.0 <2.0.0"}, f"v1.1.0@sha1:{second}"),
        "name": ({"name": "refs/heads/feature"}, f"refs/heads/feature@sha1:{second}"),
        "commit": ({"commit": first}, f"sha1:{first}"),
        "commit-on-branch": ({"branch": "master", "commit": second}, f"master@sha1:{second}"),
        # Precedence: semver beats tag, name beats semver, commit beats all.
        "semver-over-tag": ({"tag": "v1.0.0", "semver": "1.1.x"}, f"v1.1.0@sha1:{second}"),
        "name-over-semver": (
            {"semver": "1.x", "name": "refs/tags/v1.0.0"},
            f"refs/tags/v1.0.0@sha1:{first}",
        ),
    }
    for name, (ref, _) in cases.items():
        await harness.create(name, url, ref=ref)
    for name, (_, revision) in cases.items():
        obj = await harness.ready(name)
        assert obj["status"]["artifact"]["revision"] == revision, name
    tag_files = members(await harness.download(await harness.get("tag")))
    assert tag_files == {"a.yaml": b"v: 1\n"}


async def test_new_commit_is_picked_up_after_requested_at_and_no_change_means_no_clone(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    repo = git_http.create_repo("app.git", {"app.yaml": "v: 1\n"})
    first = repo.head()
    await harness.create("app", git_http.repo_url("app.git"), ref={"branch": "main"})
    obj = await harness.ready("app", f"main@sha1:{first}")
    first_artifact = obj["status"]["artifact"]

    # Nothing changed upstream: a requested reconcile only lists refs.
    git_http.requests.clear()
    await harness.request_reconcile("app", "2024-01-01T00:00:00Z")
    obj = await harness.wait(
        "app",
        lambda o: o["status"].get("lastHandledReconcileAt") == "2024-01-01T00:00:00Z",
        "request handled",
    )
    assert obj["status"]["artifact"] == first_artifact
    assert git_http.requests and not any("POST" in r for r in git_http.requests), git_http.requests

    second = repo.commit({"app.yaml": "v: 2\n"}, "bump to v2 with a rather long subject line")
    await harness.request_reconcile("app", "2024-01-01T00:01:00Z")
    # Like `flux reconcile`: once the request shows as handled, the outcome is final.
    obj = await harness.wait("app", lambda o: o["status"].get("lastHandledReconcileAt")
                             == "2024-01-01T00:01:00Z", "request handled")
    assert obj["status"]["artifact"]["revision"] == f"main@sha1:{second}"
    ready = condition(obj, "Ready")
    assert ready is not None and ready["status"] == "True"
    assert members(await harness.download(obj)) == {"app.yaml": b"v: 2\n"}
    new = [e for e in await harness.event_list("app") if e["reason"] == "NewArtifact"]
    assert sorted(e["message"] for e in new) == [
        "stored artifact for commit 'bump to v2 with a rather long subject line'",
        "stored artifact for commit 'initial commit'",
    ]
    # The previous artifact is retained (two per object), older ones go.
    assert harness.storage.exists(first_artifact["path"])
    third = repo.commit({"app.yaml": "v: 3\n"}, "third")
    await harness.request_reconcile("app", "2024-01-01T00:02:00Z")
    await harness.ready("app", f"main@sha1:{third}")
    assert not harness.storage.exists(first_artifact["path"])


async def test_an_outdated_mark_left_over_is_cleared_once_the_stored_artifact_is_current(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    # What a pass that marked the build and never finished it leaves (a pass started
    # from a stale copy did that under load); the next pass finds the remote at the
    # stored revision, and `flux reconcile` must read Ready=True, not NewRevision.
    repo = git_http.create_repo("app.git", {"app.yaml": "v: 1\n"})
    await harness.create("app", git_http.repo_url("app.git"), ref={"branch": "main"})
    obj = await harness.ready("app", f"main@sha1:{repo.head()}")
    revision = obj["status"]["artifact"]["revision"]
    outdated = {"type": "ArtifactOutdated", "status": "True", "reason": "NewRevision",
                "message": f"new upstream revision '{revision}'",
                "observedGeneration": obj["metadata"]["generation"],
                "lastTransitionTime": "2024-01-01T00:00:00Z"}
    await harness.objects.patch_status(harness.repos, "app", {"status": {"conditions": [
        *obj["status"]["conditions"], outdated]}}, harness.namespace)
    await harness.request_reconcile("app", "2024-01-01T00:03:00Z")
    obj = await harness.wait("app", lambda o: o["status"].get("lastHandledReconcileAt")
                             == "2024-01-01T00:03:00Z", "request handled")
    assert condition(obj, "ArtifactOutdated") is None
    ready = condition(obj, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "True", "Succeeded", f"stored artifact for revision '{revision}'")


async def test_missing_branch_fails_and_keeps_the_previous_artifact(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    git_http.create_repo("app.git", {"app.yaml": "v: 1\n"})
    url = git_http.repo_url("app.git")
    await harness.create("app", url, ref={"branch": "main"})
    previous = (await harness.ready("app"))["status"]["artifact"]
    await harness.patch("app", {"spec": {"ref": {"branch": "nope"}}})
    obj = await harness.failed("app", "GitOperationFailed")
    ready = condition(obj, "Ready")
    assert ready is not None
    assert ready["message"] == (
        "failed to checkout and determine revision: unable to list "
        f"references of '{url}': couldn't find remote ref "
        '"refs/heads/nope"'
    )
    fetch = condition(obj, "FetchFailed")
    assert fetch is not None and fetch["status"] == "True"
    assert fetch["reason"] == "GitOperationFailed" and fetch["message"] == ready["message"]
    reconciling = condition(obj, "Reconciling")
    assert reconciling is not None and reconciling["reason"] == "ProgressingWithRetry"
    # Not ready: the new generation is not observed yet (Flux does the same).
    assert obj["status"]["observedGeneration"] != obj["metadata"]["generation"]
    await assert_previous_artifact_kept(harness, obj, previous)
    warnings = [e for e in await harness.event_list("app") if e["type"] == "Warning"]
    assert warnings and warnings[0]["reason"] == "GitOperationFailed"
    assert warnings[0]["message"] == ready["message"]

    # Fixing the spec recovers.
    await harness.patch("app", {"spec": {"ref": {"branch": "main"}}})
    obj = await harness.ready("app")
    assert condition(obj, "FetchFailed") is None


async def test_basic_auth_and_wrong_password(
    harness: Harness, git_auth: GitHTTPServer, logs: pytest.LogCaptureFixture
) -> None:
    git_auth.create_repo("private.git", {"app.yaml": "v: 1\n"})
    await harness.secret("creds", {"username": "git", "password": PASSWORD})
    await harness.create(
        "app", git_auth.repo_url("private.git"), ref={"branch": "main"}, secret="creds"
    )
    obj = await harness.ready("app", "main@")
    previous = obj["status"]["artifact"]

    await harness.secret("creds", {"username": "git", "password": "wrong-" + PASSWORD[::-1]})
    await harness.request_reconcile("app", "now")
    obj = await harness.failed("app", "AuthenticationFailed")
    ready = condition(obj, "Ready")
    assert ready is not None
    assert ready["message"].startswith("failed to checkout and determine revision: ")
    assert git_auth.repo_url("private.git") in ready["message"]
    await assert_previous_artifact_kept(harness, obj, previous)
    events = await harness.event_list("app")
    assert_no_secret([PASSWORD, PASSWORD[::-1]], obj, events, logs=logs)


async def test_bearer_token(harness: Harness, tmp_path: Path,
                            logs: pytest.LogCaptureFixture) -> None:
    token = "tok-" + PASSWORD
    async with GitHTTPServer(tmp_path / "git-bearer", bearer_token=token) as srv:
        srv.create_repo("private.git", {"app.yaml": "v: 1\n"})
        await harness.secret("token", {"bearerToken": token})
        await harness.create("app", srv.repo_url("private.git"), ref={"branch": "main"},
                             secret="token")
        obj = await harness.ready("app", "main@")
        await harness.secret("token", {"bearerToken": "tok-wrong-" + PASSWORD[::-1]})
        await harness.request_reconcile("app", "wrong-token")
        failed = await harness.failed("app", "AuthenticationFailed")
    await assert_previous_artifact_kept(harness, failed, obj["status"]["artifact"])
    assert_no_secret([token, PASSWORD[::-1]], failed, await harness.event_list("app"),
                     logs=logs)


async def test_missing_secret_is_an_authentication_failure(
    harness: Harness, git_auth: GitHTTPServer
) -> None:
    git_auth.create_repo("private.git", {"app.yaml": "v: 1\n"})
    await harness.create(
        "app", git_auth.repo_url("private.git"), ref={"branch": "main"}, secret="absent"
    )
    obj = await harness.failed("app", "AuthenticationFailed")
    ready = condition(obj, "Ready")
    assert ready is not None
    assert ready["message"] == (
        f"failed to get secret '{harness.namespace}/absent': secrets \"absent\" not found"
    )
    assert "artifact" not in obj["status"]


async def test_ssh_deploy_key_with_pinned_host_key(
    harness: Harness, git_ssh: GitSSHServer, deploy_key: KeyPair, logs: pytest.LogCaptureFixture
) -> None:
    repo = git_ssh.create_repo("apps.git", {"app.yaml": "v: 1\n"})
    await harness.secret(
        "ssh",
        {
            "identity": deploy_key.private_key,
            "identity.pub": deploy_key.public_key,
            "known_hosts": git_ssh.known_hosts,
        },
    )
    await harness.create("apps", git_ssh.repo_url("apps.git"), ref={"branch": "main"}, secret="ssh")
    obj = await harness.ready("apps", f"main@sha1:{repo.head()}")
    previous = obj["status"]["artifact"]
    assert members(await harness.download(obj)) == {"app.yaml": b"v: 1\n"}

    # A key the server does not know.
    other = generate_key_pair("ed25519")
    await harness.secret("ssh", {"identity": other.private_key, "identity.pub": other.public_key})
    repo.commit({"app.yaml": "v: 2\n"}, "second")
    await harness.request_reconcile("apps", "wrong-key")
    obj = await harness.failed("apps", "AuthenticationFailed")
    ready = condition(obj, "Ready")
    assert ready is not None and git_ssh.repo_url("apps.git") in ready["message"]
    await assert_previous_artifact_kept(harness, obj, previous)
    assert_no_secret(
        [line for k in (deploy_key, other) for line in k.private_key.decode().splitlines()[1:-1]],
        obj,
        await harness.event_list("apps"),
        logs=logs,
    )


async def test_unknown_host_key_fails_before_offering_the_key(
    harness: Harness, git_ssh: GitSSHServer, deploy_key: KeyPair, tmp_path: Path
) -> None:
    repo = git_ssh.create_repo("apps.git", {"app.yaml": "v: 1\n"})
    await harness.secret(
        "ssh", {"identity": deploy_key.private_key, "known_hosts": git_ssh.known_hosts}
    )
    await harness.create("apps", git_ssh.repo_url("apps.git"), ref={"branch": "main"}, secret="ssh")
    previous = (await harness.ready("apps"))["status"]["artifact"]
    # The same address now presents another host key (a man in the middle).
    async with GitSSHServer(tmp_path / "impostor", [deploy_key.public_key]) as impostor:
        impostor.create_repo("apps.git", {"app.yaml": "evil: true\n"})
        await harness.secret(
            "ssh",
            {
                "identity": deploy_key.private_key,
                "known_hosts": git_ssh.known_hosts.replace(str(git_ssh.port), str(impostor.port)),
            },
        )
        await harness.patch("apps", {"spec": {"url": impostor.repo_url("apps.git")}})
        obj = await harness.failed("apps", "AuthenticationFailed")
        ready = condition(obj, "Ready")
        assert ready is not None and "host key" in ready["message"].lower()
        assert impostor.auth_attempts == []  # the deploy key was never offered
        assert impostor.commands == []
    await assert_previous_artifact_kept(harness, obj, previous)
    assert repo.head()


async def test_unreachable_host(harness: Harness, git_http: GitHTTPServer) -> None:
    git_http.create_repo("app.git", {"app.yaml": "v: 1\n"})
    await harness.create("app", git_http.repo_url("app.git"), ref={"branch": "main"})
    previous = (await harness.ready("app"))["status"]["artifact"]
    # A port nobody listens on (the one the closed server used).
    async with GitHTTPServer(harness.storage.root.parent / "gone") as gone:
        dead_url = gone.repo_url("app.git")
    await harness.patch("app", {"spec": {"url": dead_url}})
    obj = await harness.failed("app", "GitOperationFailed")
    ready = condition(obj, "Ready")
    assert ready is not None
    assert ready["message"].startswith(
        f"failed to checkout and determine revision: unable to list references of '{dead_url}'"
    )
    await assert_previous_artifact_kept(harness, obj, previous)


async def test_an_unusable_url_stalls_until_the_spec_changes(harness: Harness) -> None:
    await harness.create("app", "ssh://", ref={"branch": "main"})
    obj = await harness.failed("app", "URLInvalid")
    stalled = condition(obj, "Stalled")
    assert stalled is not None and stalled["status"] == "True"
    assert "'ssh://' is not supported" in stalled["message"]
    assert condition(obj, "Reconciling") is None
    # Stalled objects count as observed and are not retried.
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    controller = harness.manager.controllers[0]
    request = Request(harness.namespace, "app")

    async def settled() -> bool:
        return not controller.queue.is_processing(request)

    await async_wait_for(settled, what="the reconcile to finish")
    assert controller.queue.pending_delay(request) is None
    assert not controller.queue.is_queued(request)


async def test_symlink_out_of_the_repository_is_left_out(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    # Issue 15, finding 9: one such link used to fail the whole source; Flux
    # leaves it out of the artifact and carries on.
    repo = git_http.create_repo("app.git", {"app.yaml": "v: 1\n", "inside": symlink("app.yaml")})
    await harness.create("app", git_http.repo_url("app.git"), ref={"branch": "main"})
    obj = await harness.ready("app")
    assert members(await harness.download(obj))["inside"] == "-> app.yaml"
    sha = repo.commit({"deploy/passwd": symlink("../../../../etc/passwd"),
                       "deploy/app.yaml": "v: 2\n"}, "escape")
    await harness.request_reconcile("app", "escape")
    obj = await harness.ready("app", f"main@sha1:{sha}")
    assert members(await harness.download(obj)) == {
        "app.yaml": b"v: 1\n", "inside": "-> app.yaml", "deploy/app.yaml": b"v: 2\n"}
    assert condition(obj, "StorageOperationFailed") is None


async def test_path_traversal_entry_is_refused(harness: Harness, git_http: GitHTTPServer) -> None:
    repo = git_http.create_repo("app.git", {"app.yaml": "v: 1\n"})
    await harness.create("app", git_http.repo_url("app.git"), ref={"branch": "main"})
    previous = (await harness.ready("app"))["status"]["artifact"]
    _commit_raw_tree(repo, [("..", b"evil"), ("app.yaml", b"v: 2\n")])
    await harness.request_reconcile("app", "traversal")
    obj = await harness.failed("app", "GitOperationFailed")
    ready = condition(obj, "Ready")
    assert ready is not None
    assert ready["message"].endswith("cannot checkout to invalid path '..'")
    await assert_previous_artifact_kept(harness, obj, previous)


def _commit_raw_tree(repo: GitRepo, entries: list[tuple[str, bytes]]) -> str:
    """Commit a tree written byte by byte, bypassing libgit2's name checks."""
    import pygit2

    r = pygit2.Repository(str(repo.path))
    raw = b"".join(
        b"100644 " + name.encode() + b"\x00" + r.create_blob(content).raw
        for name, content in sorted(entries)
    )
    tree = r.odb.write(pygit2.enums.ObjectType.TREE, raw)
    sig = pygit2.Signature("Mallory", "m@example.invalid", 1_800_000_000, 0)
    return str(
        r.create_commit(
            "refs/heads/main", sig, sig, "traversal", tree, [pygit2.Oid(hex=repo.head())]
        )
    )


async def test_suspend_stops_fetching_but_acknowledges_requests(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    repo = git_http.create_repo("app.git", {"app.yaml": "v: 1\n"})
    await harness.create("app", git_http.repo_url("app.git"), ref={"branch": "main"})
    previous = (await harness.ready("app"))["status"]["artifact"]
    await harness.patch("app", {"spec": {"suspend": True}})
    repo.commit({"app.yaml": "v: 2\n"}, "second")
    git_http.requests.clear()
    await harness.request_reconcile("app", "while-suspended")
    obj = await harness.wait(
        "app",
        lambda o: o["status"].get("lastHandledReconcileAt") == "while-suspended",
        "request acknowledged",
    )
    assert obj["status"]["artifact"] == previous
    assert git_http.requests == []
    await harness.patch("app", {"spec": {"suspend": False}})
    await harness.ready("app", f"main@sha1:{repo.head()}")


async def test_include_copies_another_repository_and_follows_its_updates(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    lib = git_http.create_repo("lib.git", {"base/cm.yaml": "lib: 1\n", "README.md": "x\n"})
    git_http.create_repo("app.git", {"app.yaml": "app: 1\n"})
    await harness.create("lib", git_http.repo_url("lib.git"), ref={"branch": "main"})
    await harness.create(
        "app",
        git_http.repo_url("app.git"),
        ref={"branch": "main"},
        include=[{"repository": {"name": "lib"}, "fromPath": "base", "toPath": "vendor/lib"}],
    )
    obj = await harness.wait(
        "app", lambda o: bool(o["status"].get("includedArtifacts")), "included artifacts"
    )
    assert members(await harness.download(obj)) == {
        "app.yaml": b"app: 1\n",
        "vendor/lib/cm.yaml": b"lib: 1\n",
    }
    lib_rev = (await harness.get("lib"))["status"]["artifact"]["revision"]
    assert obj["status"]["includedArtifacts"][0]["revision"] == lib_rev
    # A new commit in the included repository rebuilds the including one at once.
    second = lib.commit({"base/cm.yaml": "lib: 2\n"}, "lib v2")
    await harness.request_reconcile("lib", "lib-v2")
    obj = await harness.wait(
        "app",
        lambda o: o["status"]["includedArtifacts"][0]["revision"] == f"main@sha1:{second}",
        "the include to follow lib",
    )
    assert members(await harness.download(obj))["vendor/lib/cm.yaml"] == b"lib: 2\n"


async def test_deletion_removes_artifacts_and_the_finalizer(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    git_http.create_repo("app.git", {"app.yaml": "v: 1\n"})
    await harness.create("app", git_http.repo_url("app.git"), ref={"branch": "main"})
    path = (await harness.ready("app"))["status"]["artifact"]["path"]
    assert harness.storage.exists(path)
    await harness.objects.delete(harness.repos, "app", harness.namespace)

    async def gone() -> bool:
        return await harness.objects.get_or_none(harness.repos, "app", harness.namespace) is None

    await async_wait_for(gone, what="the GitRepository to be deleted")
    assert not harness.storage.exists(path)
    assert not (harness.storage.root / "gitrepository" / harness.namespace / "app").exists()


async def test_reconciles_run_concurrently_for_different_objects(
    harness: Harness, git_http: GitHTTPServer
) -> None:
    git_http.create_repo("app.git", {"app.yaml": "v: 1\n"})
    names = [f"app-{i}" for i in range(6)]
    for name in names:
        await harness.create(name, git_http.repo_url("app.git"), ref={"branch": "main"})
    results = await asyncio.gather(*(harness.ready(n) for n in names))
    digests = {r["status"]["artifact"]["digest"] for r in results}
    assert len(digests) == 1  # same commit, same bytes, whoever built it
