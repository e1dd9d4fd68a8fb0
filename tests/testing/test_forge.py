"""The forge fixture answers as GitHub v3 and GitLab v4 do, and serves its repositories.

What clients of the fixture rely on: the token rules, the shapes and status
codes of the calls Sluice makes (repositories, deploy keys, statuses, pull and
merge requests), paging links, rate-limit answers, and git over HTTP and SSH
honouring the same permissions (a read-only deploy key cannot push).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sluice.core.sshkeys import generate_key_pair
from sluice.testing.forge import Forge
from sluice.testing.forge_model import DeployKey, key_line

TOKEN = "ghp_alice0000000000000000000000000000"
GH = {"Authorization": f"token {TOKEN}", "Accept": "application/vnd.github+json"}
GL = {"PRIVATE-TOKEN": TOKEN}


@pytest.fixture
async def forge(tmp_path: Path) -> AsyncIterator[Forge]:
    async with Forge(tmp_path / "forge") as server:
        server.add_user("alice", token=TOKEN)
        server.add_user("mallory", token="mallory-token")
        server.add_org("acme", members={"alice": "admin"})
        yield server


async def test_github_repository_keys_statuses_and_pulls(forge: Forge) -> None:
    async with httpx.AsyncClient(base_url=forge.api_url("github"), headers=GH) as api:
        assert (await api.get("/repos/alice/fleet")).status_code == 404
        bad = await api.get("/user", headers={"Authorization": "token nope"})
        assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")
        me = (await api.get("/user")).json()
        assert (me["login"], me["type"]) == ("alice", "User")

        created = await api.post("/user/repos", json={"name": "fleet", "private": True,
                                                      "auto_init": True})
        assert created.status_code == 201, created.text
        repo = created.json()
        assert (repo["full_name"], repo["private"], repo["default_branch"]) == (
            "alice/fleet", True, "main")
        assert repo["clone_url"] == forge.clone_url("alice/fleet")
        again = await api.post("/user/repos", json={"name": "fleet"})
        assert again.status_code == 422
        assert again.json()["errors"][0]["message"] == "name already exists on this account"
        # Someone else's private repository does not exist for them.
        hidden = await api.get("/repos/alice/fleet",
                               headers={"Authorization": "Bearer mallory-token"})
        assert hidden.status_code == 404 and hidden.json()["message"] == "Not Found"
        assert int(created.headers["X-RateLimit-Remaining"]) < 5000

        key = generate_key_pair().public_key
        added = await api.post("/repos/alice/fleet/keys", json={"title": "flux", "key": key})
        assert added.status_code == 201 and added.json()["read_only"] is True
        dup = await api.post("/repos/alice/fleet/keys", json={"title": "x", "key": key})
        assert dup.json()["errors"][0]["message"] == "key is already in use"

        sha = forge.repository("alice/fleet").head()  # type: ignore[union-attr]
        status = await api.post(f"/repos/alice/fleet/statuses/{sha}", json={
            "state": "success", "context": "kustomization/apps/0c9c2e41",
            "description": "reconciliation succeeded"})
        assert status.status_code == 201, status.text
        combined = (await api.get(f"/repos/alice/fleet/commits/{sha}/status")).json()
        assert (combined["state"], combined["total_count"]) == ("success", 1)
        missing = await api.post("/repos/alice/fleet/statuses/" + "0" * 40,
                                 json={"state": "success"})
        assert missing.status_code == 422

        stored = forge.repository("alice/fleet")
        assert stored is not None
        stored.git.branch("flux/update")
        stored.git.commit({"app.yaml": "image: podinfo:6.9.2\n"}, "bump", branch="flux/update")
        pr = await api.post("/repos/alice/fleet/pulls", json={
            "title": "Update images", "head": "flux/update", "base": "main", "body": "x"})
        assert pr.status_code == 201, pr.text
        assert pr.json()["number"] == 1 and pr.json()["head"]["ref"] == "flux/update"
        second = await api.post("/repos/alice/fleet/pulls", json={
            "title": "again", "head": "flux/update", "base": "main"})
        assert second.status_code == 422
        assert "A pull request already exists for alice:flux/update." in second.text
        listed = (await api.get("/repos/alice/fleet/pulls",
                                params={"head": "alice:flux/update"})).json()
        assert [p["number"] for p in listed] == [1]
        closed = await api.patch("/repos/alice/fleet/pulls/1", json={"state": "closed"})
        assert closed.json()["state"] == "closed"
        assert stored.pulls[0].state == "closed"
        assert stored.statuses[0].context == "kustomization/apps/0c9c2e41"


async def test_github_paging_and_rate_limit(forge: Forge) -> None:
    repo = forge.create_repository("acme", "fleet", files={"a": "1"})
    for n in range(5):
        repo.git.branch(f"b{n}")
    sha = repo.head()
    async with httpx.AsyncClient(base_url=forge.api_url("github"), headers=GH) as api:
        for n in range(3):
            await api.post(f"/repos/acme/fleet/statuses/{sha}",
                           json={"state": "pending", "context": f"c{n}"})
        page = await api.get(f"/repos/acme/fleet/commits/{sha}/statuses",
                             params={"per_page": 2})
        assert len(page.json()) == 2
        assert 'rel="next"' in page.headers["Link"] and "page=2" in page.headers["Link"]
        last = await api.get(f"/repos/acme/fleet/commits/{sha}/statuses",
                             params={"per_page": 2, "page": 2})
        assert len(last.json()) == 1 and 'rel="prev"' in last.headers["Link"]

        forge.rate_limit.remaining = 0
        limited = await api.get("/user")
        assert limited.status_code == 403
        assert limited.json()["message"].startswith("API rate limit exceeded")
        assert limited.headers["X-RateLimit-Reset"] == str(forge.rate_limit.reset)


async def test_gitlab_projects_keys_statuses_and_merge_requests(forge: Forge) -> None:
    async with httpx.AsyncClient(base_url=forge.api_url("gitlab"), headers=GL) as api:
        group = (await api.get("/groups/acme")).json()
        created = await api.post("/projects", json={
            "name": "fleet", "path": "fleet", "namespace_id": group["id"],
            "visibility": "private", "initialize_with_readme": True, "default_branch": "main"})
        assert created.status_code == 201, created.text
        project = created.json()
        assert project["path_with_namespace"] == "acme/fleet"
        assert project["namespace"]["kind"] == "group"
        got = await api.get("/projects/acme%2Ffleet")
        assert got.json()["id"] == project["id"]
        nobody = await api.get("/projects/acme%2Ffleet", headers={"PRIVATE-TOKEN": "x"})
        assert (nobody.status_code, nobody.json()) == (401, {"message": "401 Unauthorized"})
        hidden = await api.get("/projects/acme%2Ffleet",
                               headers={"PRIVATE-TOKEN": "mallory-token"})
        assert hidden.json() == {"message": "404 Project Not Found"}

        key = generate_key_pair().public_key
        added = await api.post(f"/projects/{project['id']}/deploy_keys",
                               json={"title": "flux", "key": key, "can_push": True})
        assert added.status_code == 201 and added.json()["can_push"] is True

        repo = forge.repository("acme/fleet")
        assert repo is not None
        sha = repo.head()
        body = {"state": "running", "name": "kustomization/apps/1"}
        first = await api.post(f"/projects/{project['id']}/statuses/{sha}", json=body)
        assert first.status_code == 201 and first.json()["status"] == "running"
        same = await api.post(f"/projects/{project['id']}/statuses/{sha}", json=body)
        assert same.status_code == 400
        assert same.json()["message"] == "Cannot transition status via :run from :running"

        repo.git.branch("flux/update")
        repo.git.commit({"x": "y"}, "bump", branch="flux/update")
        mr = await api.post(f"/projects/{project['id']}/merge_requests", json={
            "source_branch": "flux/update", "target_branch": "main", "title": "Update"})
        assert mr.status_code == 201 and mr.json()["iid"] == 1
        dup = await api.post(f"/projects/{project['id']}/merge_requests", json={
            "source_branch": "flux/update", "target_branch": "main", "title": "Update"})
        assert dup.status_code == 409
        opened = await api.get(f"/projects/{project['id']}/merge_requests",
                               params={"state": "opened", "per_page": 1})
        assert opened.headers["X-Total"] == "1" and opened.json()[0]["state"] == "opened"
        closed = await api.put(f"/projects/{project['id']}/merge_requests/1",
                               json={"state_event": "close"})
        assert closed.json()["state"] == "closed"

        forge.rate_limit.remaining = 0
        limited = await api.get("/user")
        assert limited.status_code == 429 and "Retry-After" in limited.headers


def _git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(cwd or Path.cwd()), **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=60, check=False)


async def test_git_over_http_and_ssh_follows_permissions(forge: Forge, tmp_path: Path) -> None:
    import asyncio

    repo = forge.create_repository("alice", "fleet", files={"README.md": "hi\n"})
    url = forge.clone_url("alice/fleet").replace("://", f"://alice:{TOKEN}@")
    work = tmp_path / "work"
    cloned = await asyncio.to_thread(_git, "clone", "-q", url, str(work))
    assert cloned.returncode == 0, cloned.stderr
    _git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty",
         "-m", "empty", cwd=work)
    pushed = await asyncio.to_thread(_git, "push", "-q", "origin", "main", cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    assert repo.log()[0][2].strip() == "empty"
    anonymous = await asyncio.to_thread(_git, "ls-remote", forge.clone_url("alice/fleet"))
    assert anonymous.returncode != 0
    other = forge.clone_url("alice/fleet").replace("://", "://m:mallory-token@")
    assert (await asyncio.to_thread(_git, "ls-remote", other)).returncode != 0

    # SSH: a read-only deploy key clones this repository and cannot push to it.
    pair = generate_key_pair("ed25519")
    key_file = tmp_path / "id"
    key_file.write_bytes(pair.private_key)
    key_file.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text(forge.known_hosts + "\n")
    ssh = {"GIT_SSH_COMMAND": f"ssh -i {key_file} -o IdentitiesOnly=yes "
                              f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"}
    denied = await asyncio.to_thread(_git, "ls-remote", forge.ssh_url("alice/fleet"), env=ssh)
    assert denied.returncode != 0
    repo.deploy_keys.append(DeployKey(forge.next_id(), "ro", key_line(pair.public_key), True))
    work2 = tmp_path / "work2"
    bare = forge.ssh_url("alice/fleet").removesuffix(".git")  # as Flux writes it for GitHub
    ok = await asyncio.to_thread(_git, "clone", "-q", bare,
                                 str(work2), env=ssh)
    assert ok.returncode == 0, ok.stderr
    _git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty",
         "-m", "two", cwd=work2)
    refused = await asyncio.to_thread(_git, "push", "-q", "origin", "main", cwd=work2, env=ssh)
    assert refused.returncode != 0 and "read-only" in refused.stderr
