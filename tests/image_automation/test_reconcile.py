"""ImageUpdateAutomation against a real Git server and the embedded cluster.

Aspects: the seed's setter and template give a one-line commit by FluxCD
whose message is the image reference, pushed to main, with Flux's status and
event, and the GitRepository asked to reconcile; a second run changes
nothing; a branch that moved between checkout and push gets the change on
its new tip (never forced); a bad template is Ready=False naming the error
and pushes nothing; a missing source and a missing update path fail with
Flux's reasons; a push branch of its own is created from the checkout
branch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pygit2
from aiohttp import web

from sluice.testing.gitserver import GitHTTPServer, GitRepo

from .conftest import GIT_API, Harness, ready

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost"
SEED_TEMPLATE = "{{range .Updated.Images}}{{println .}}{{end}}"
DEPLOY = f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: agnhost
  namespace: agnhost
spec:
  template:
    spec:
      containers:
        - name: agnhost
          image: {AGNHOST}:2.39 # {{"$imagepolicy": "NS:agnhost"}}
          args: ["netexec"]
"""


def commit_of(repo: GitRepo, ref: str = "main") -> pygit2.Commit:
    git = pygit2.Repository(str(repo.path))
    return git.references[f"refs/heads/{ref}"].peel(pygit2.Commit)


def file_at(repo: GitRepo, path: str, ref: str = "main") -> str:
    git = pygit2.Repository(str(repo.path))
    blob = git[commit_of(repo, ref).tree[path].id]
    assert isinstance(blob, pygit2.Blob)
    return blob.data.decode()


def pushed(obj: dict[str, object] | None) -> bool:
    return bool(((obj or {}).get("status") or {}).get("lastPushCommit"))  # type: ignore[union-attr]


async def seed_setup(h: Harness, **spec: object) -> GitRepo:
    repo = h.git.create_repo("fleet.git", {
        "agnhost/deployment.yaml": DEPLOY.replace("NS", h.namespace),
        "README.md": "no markers here\n"})
    await h.git_repository("fleet.git")
    await h.policy("agnhost", AGNHOST, "2.10")
    await h.automation(**{"git": {
        "checkout": {"ref": {"branch": "main"}},
        "commit": {"author": {"name": "FluxCD", "email": "flux@example.com"},
                   "messageTemplate": SEED_TEMPLATE},
        "push": {"branch": "main"}}, **spec})
    return repo


async def test_seed_flow_one_line_commit_by_fluxcd(harness: Harness) -> None:
    repo = await seed_setup(harness)
    base = repo.head()
    auto = await harness.wait_automation(pushed, "a push")
    head = commit_of(repo)
    status = auto["status"]
    assert status["lastPushCommit"] == str(head.id)
    assert [str(p) for p in head.parent_ids] == [base]
    assert (head.author.name, head.author.email) == ("FluxCD", "flux@example.com")
    assert head.message == f"{AGNHOST}:2.10\n"
    assert file_at(repo, "agnhost/deployment.yaml") == DEPLOY.replace("NS", harness.namespace
                                                                      ).replace(":2.39", ":2.10")
    assert status["observedSourceRevision"] == f"main@sha1:{head.id}"
    assert status["observedPolicies"] == {"agnhost": {"name": AGNHOST, "tag": "2.10"}}
    assert ready(auto) == ("True", "Succeeded", "repository up-to-date")
    messages = await harness.wait_for(
        lambda: harness.events("ImageUpdateAutomation", "auto"),
        lambda ms: any(m.startswith("pushed commit") for m in ms), "the push event")
    assert f"pushed commit '{str(head.id)[:7]}' to branch 'main'\n{AGNHOST}:2.10\n" in messages
    # the source is asked to fetch the new commit now
    source = await harness.get(GIT_API, "GitRepository", "repo")
    assert source is not None
    assert "reconcile.fluxcd.io/requestedAt" in source["metadata"].get("annotations", {})

    # a later run with nothing new changes nothing
    await harness.apply({"apiVersion": auto["apiVersion"], "kind": "ImageUpdateAutomation",
                         "metadata": {"name": "auto", "annotations": {
                             "reconcile.fluxcd.io/requestedAt": "again"}}})
    again = await harness.wait_automation(
        lambda o: o["status"].get("lastHandledReconcileAt") == "again", "second run")
    assert again["status"]["lastPushCommit"] == str(head.id)
    assert repo.head() == str(head.id)


class RacingGitServer(GitHTTPServer):
    """Someone else pushes to the branch right before our push is negotiated."""

    race: Callable[[], None] | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if (request.query.get("service") == "git-receive-pack" and self.race is not None):
            race, self.race = self.race, None
            race()
        return await super()._handle(request)


async def test_moved_branch_gets_the_change_on_its_new_tip(harness: Harness,
                                                           tmp_path: Path) -> None:
    async with RacingGitServer(tmp_path / "racing") as git:
        harness.git = git
        repo = git.create_repo("fleet.git", {
            "agnhost/deployment.yaml": DEPLOY.replace("NS", harness.namespace)})
        other = DEPLOY.replace("NS", harness.namespace).replace('["netexec"]', '["pause"]')
        git.race = lambda: repo.commit({"agnhost/deployment.yaml": other}, "someone else")
        await harness.git_repository("fleet.git")
        await harness.policy("agnhost", AGNHOST, "2.10")
        await harness.automation()
        await harness.wait_automation(pushed, "a push")
        head = commit_of(repo)
        assert git.race is None  # the race happened
        assert commit_of(repo).parents[0].message == "someone else"
        # both changes are there: the other push was not overwritten
        assert file_at(repo, "agnhost/deployment.yaml") == other.replace(":2.39", ":2.10")
        assert head.message == "Update from image update automation"


async def test_bad_template_is_not_ready_and_pushes_nothing(harness: Harness) -> None:
    repo = await seed_setup(harness, git={
        "commit": {"author": {"name": "FluxCD", "email": "flux@example.com"},
                   "messageTemplate": "{{range .Updated.Images}}"},
        "push": {"branch": "main"}})
    base = repo.head()
    auto = await harness.wait_automation(lambda o: (ready(o) or ("",))[0] == "False",
                                         "Ready=False")
    assert ready(auto) == (
        "False", "GitOperationFailed",
        "failed to update source: unable to create commit message template from spec: "
        "template: commit message:1: unexpected EOF")
    assert repo.head() == base


async def test_missing_source_and_missing_path(harness: Harness) -> None:
    await harness.policy("agnhost", AGNHOST, "2.10")
    await harness.automation()
    auto = await harness.wait_automation(lambda o: (ready(o) or ("",))[0] == "False",
                                         "Ready=False")
    assert ready(auto) == (
        "False", "SourceManagerFailed",
        f"failed configuring source manager: unable to get source '{harness.namespace}/repo': "
        'gitrepositories.source.toolkit.fluxcd.io "repo" not found')

    harness.git.create_repo("fleet.git", {"a.yaml": "a: 1\n"})
    await harness.git_repository("fleet.git")
    await harness.automation(update={"strategy": "Setters", "path": "./clusters/nope"})
    auto = await harness.wait_automation(
        lambda o: (ready(o) or ("", ""))[1] == "UpdateFailed", "UpdateFailed")
    assert ready(auto) == ("False", "UpdateFailed", "failed to apply policies: update path "
                           "'./clusters/nope' is not a directory in the repository")


async def test_push_branch_of_its_own(harness: Harness) -> None:
    repo = await seed_setup(harness, git={
        "checkout": {"ref": {"branch": "main"}},
        "commit": {"author": {"name": "FluxCD", "email": "flux@example.com"}},
        "push": {"branch": "image-updates"}})
    base = repo.head()
    auto = await harness.wait_automation(pushed, "a push")
    assert repo.head() == base  # main untouched
    update = commit_of(repo, "image-updates")
    assert str(update.id) == auto["status"]["lastPushCommit"]
    assert [str(p) for p in update.parent_ids] == [base]
    assert auto["status"]["observedSourceRevision"] == f"main@sha1:{base}"


async def test_push_branch_that_exists_gets_the_update_on_its_tip(harness: Harness) -> None:
    # Flux switches to a push branch the remote has: what it holds is kept.
    repo = harness.git.create_repo("fleet.git", {
        "agnhost/deployment.yaml": DEPLOY.replace("NS", harness.namespace)})
    base = repo.head()
    repo.branch("image-updates")
    other = repo.commit({"NOTES.md": "kept\n"}, "someone's commit on the push branch",
                        branch="image-updates")
    await harness.git_repository("fleet.git")
    await harness.policy("agnhost", AGNHOST, "2.10")
    await harness.automation(git={
        "checkout": {"ref": {"branch": "main"}},
        "commit": {"author": {"name": "FluxCD", "email": "flux@example.com"}},
        "push": {"branch": "image-updates"}})
    auto = await harness.wait_automation(pushed, "a push")
    update = commit_of(repo, "image-updates")
    assert str(update.id) == auto["status"]["lastPushCommit"]
    assert [str(p) for p in update.parent_ids] == [other]
    assert file_at(repo, "NOTES.md", "image-updates") == "kept\n"
    assert ":2.10 " in file_at(repo, "agnhost/deployment.yaml", "image-updates")
    assert repo.head() == base
    assert auto["status"]["observedSourceRevision"] == f"main@sha1:{base}"


# Records the push options and the updated refs the server received.
HOOK = """#!/bin/sh
{{
i=0
while [ "$i" -lt "${{GIT_PUSH_OPTION_COUNT:-0}}" ]; do
  eval "echo option \\$GIT_PUSH_OPTION_$i"
  i=$((i + 1))
done
cat
}} >> {log}
"""


async def test_push_options_and_refspec_reach_the_git_server(harness: Harness) -> None:
    repo = harness.git.create_repo("fleet.git", {
        "agnhost/deployment.yaml": DEPLOY.replace("NS", harness.namespace)})
    base = repo.head()
    pygit2.Repository(str(repo.path)).config["receive.advertisePushOptions"] = True
    received = repo.path / "received.log"
    hook = repo.path / "hooks" / "post-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(HOOK.format(log=received))
    hook.chmod(0o755)
    await harness.git_repository("fleet.git")
    await harness.policy("agnhost", AGNHOST, "2.10")
    # the Gerrit example of Flux's docs: update on `auto`, then auto -> main
    refspec = "refs/heads/auto:refs/heads/main"
    await harness.automation(git={
        "checkout": {"ref": {"branch": "main"}},
        "commit": {"author": {"name": "FluxCD", "email": "flux@example.com"}},
        "push": {"branch": "auto", "refspec": refspec,
                 "options": {"merge_request.create": "", "ci.variable": "TEAM=platform"}}})
    auto = await harness.wait_automation(pushed, "a push")
    sha = auto["status"]["lastPushCommit"]
    assert repo.head("auto") == sha and repo.head("main") == sha
    assert [str(p) for p in commit_of(repo).parent_ids] == [base]
    lines = received.read_text().splitlines()
    # go-git sends every option as key=value, the empty value included
    assert [ln for ln in lines if ln.startswith("option ")] == [
        "option ci.variable=TEAM=platform", "option merge_request.create="]
    assert sorted(ln.split()[2] for ln in lines if not ln.startswith("option ")) == [
        "refs/heads/auto", "refs/heads/main"]
    messages = await harness.wait_for(
        lambda: harness.events("ImageUpdateAutomation", "auto"),
        lambda ms: any(m.startswith("pushed commit") for m in ms), "the push event")
    assert (f"pushed commit '{sha[:7]}' to branch 'auto' and refspecs '{refspec}'\n"
            "Update from image update automation") in messages


async def test_deleted_automation_releases_its_finalizer(harness: Harness) -> None:
    await seed_setup(harness)
    auto = await harness.wait_automation(pushed, "a push")
    assert auto["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]
    await harness.delete(auto["apiVersion"], "ImageUpdateAutomation", "auto")
    await harness.wait_for(
        lambda: _gone(harness), lambda gone: gone, "the automation deleted")


async def _gone(harness: Harness) -> bool | None:
    obj = await harness.get("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation", "auto")
    return True if obj is None else None
