"""Commit and push as an image automation does it, against real forges.

Aspects: a change is committed with the given author and message and lands
on the remote branch; an unchanged tree pushes nothing; when the branch
moved after the checkout, the change is re-applied on the new tip (merge
when the edits do not overlap, `reapply` callback when they do) instead of
failing; a conflicting change without `reapply` is refused with the file
named; a push to a new branch (Flux's "switch branch") works; SSH pushes; push
options a server does not advertise are dropped (as go-git does).
"""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from sluice.core.sshkeys import KeyPair
from sluice.git import Author, GitRef, PushRejected, checkout, commit_and_push
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.sshgit import GitSSHServer

from .conftest import ssh_auth

BOT = Author("fluxcdbot", "fluxcdbot@users.noreply.github.com")
MAIN = GitRef(branch="main")


def remote_file(path: Path, branch: str, name: str) -> str:
    repo = pygit2.Repository(str(path))
    tree = repo.references[f"refs/heads/{branch}"].peel(pygit2.Commit).tree
    blob = repo[tree[name].id]
    assert isinstance(blob, pygit2.Blob)
    return blob.data.decode()


async def test_commit_and_push_lands_on_the_branch(http_server: GitHTTPServer,
                                                   tmp_path: Path) -> None:
    repo = http_server.create_repo("app.git", {"app/deploy.yaml": "image: app:1.0\n"})
    url = http_server.repo_url("app.git")
    work = tmp_path / "work"
    base = await checkout(url, MAIN, None, work)

    unchanged = await commit_and_push(work, url, branch="main", message="nothing", author=BOT)
    assert not unchanged.pushed and unchanged.base == base.hash
    assert repo.head() == base.hash

    (work / "app/deploy.yaml").write_text("image: app:1.1\n")
    (work / "app/new.yaml").write_text("x: 1\n")
    result = await commit_and_push(work, url, branch="main", author=BOT,
                                   message="Update from image update automation")
    assert result.pushed and result.attempts == 1 and result.base == base.hash
    assert repo.head() == result.commit
    pushed = pygit2.Repository(str(repo.path)).get(result.commit)
    assert isinstance(pushed, pygit2.Commit)
    assert (pushed.author.name, pushed.author.email) == (BOT.name, BOT.email)
    assert pushed.message == "Update from image update automation"
    assert [str(p) for p in pushed.parent_ids] == [base.hash]
    assert remote_file(repo.path, "main", "app/deploy.yaml") == "image: app:1.1\n"


async def test_moved_branch_is_rebased_then_pushed(http_server: GitHTTPServer,
                                                   tmp_path: Path) -> None:
    repo = http_server.create_repo("app.git", {"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    url = http_server.repo_url("app.git")
    work = tmp_path / "work"
    await checkout(url, MAIN, None, work)
    other = repo.commit({"b.yaml": "b: 2\n"}, "someone else")  # the branch moves on

    (work / "a.yaml").write_text("a: 2\n")
    result = await commit_and_push(work, url, branch="main", message="bump a", author=BOT)
    assert result.pushed and result.attempts == 2 and result.base == other
    assert repo.head() == result.commit
    assert remote_file(repo.path, "main", "a.yaml") == "a: 2\n"
    assert remote_file(repo.path, "main", "b.yaml") == "b: 2\n"


async def test_conflicting_move_needs_reapply(http_server: GitHTTPServer, tmp_path: Path) -> None:
    repo = http_server.create_repo("app.git", {"a.yaml": "image: app:1.0\n"})
    url = http_server.repo_url("app.git")
    work = tmp_path / "work"
    await checkout(url, MAIN, None, work)
    moved = repo.commit({"a.yaml": "# edited by hand\nimage: app:1.0\n"}, "hand edit")
    (work / "a.yaml").write_text("image: app:2.0\n")

    with pytest.raises(PushRejected, match=r"conflicts with it in a\.yaml") as caught:
        await commit_and_push(work, url, branch="main", message="bump", author=BOT)
    assert caught.value.non_fast_forward and caught.value.reason == "GitOperationFailed"
    assert repo.head() == moved  # nothing was forced over the other commit

    seen: list[str] = []

    async def reapply(tree: Path) -> bool:
        text = (tree / "a.yaml").read_text()
        seen.append(text)
        (tree / "a.yaml").write_text(text.replace("app:1.0", "app:2.0"))
        return True

    result = await commit_and_push(work, url, branch="main", message="bump", author=BOT,
                                   reapply=reapply)
    assert seen == ["# edited by hand\nimage: app:1.0\n"]
    assert result.pushed and result.attempts == 2 and result.base == moved
    assert remote_file(repo.path, "main", "a.yaml") == "# edited by hand\nimage: app:2.0\n"


async def test_push_to_a_new_branch_over_ssh(ssh_server: GitSSHServer, client_key: KeyPair,
                                             tmp_path: Path) -> None:
    repo = ssh_server.create_repo("app.git", {"a.yaml": "a: 1\n"})
    url, auth = ssh_server.repo_url("app.git"), ssh_auth(ssh_server, client_key)
    work = tmp_path / "work"
    base = await checkout(url, MAIN, auth, work)
    (work / "a.yaml").write_text("a: 2\n")
    result = await commit_and_push(work, url, auth, branch="auto/update", message="bump",
                                   author=BOT, force=True,
                                   refspecs=["refs/heads/auto/update:refs/heads/also"])
    assert result.pushed and result.branch == "auto/update"
    assert repo.head("auto/update") == result.commit == repo.head("also")
    assert repo.head() == base.hash  # main untouched


async def test_push_options_to_a_server_without_them_are_dropped(
        http_server: GitHTTPServer, tmp_path: Path) -> None:
    # go-git (Flux) sends push options only when the server advertises them.
    repo = http_server.create_repo("plain.git", {"a.yaml": "a: 1\n"})
    url = http_server.repo_url("plain.git")
    work = tmp_path / "work"
    await checkout(url, MAIN, None, work)
    (work / "a.yaml").write_text("a: 2\n")
    result = await commit_and_push(work, url, branch="main", message="m", author=BOT,
                                   push_options=("merge_request.create=",))
    assert result.pushed and repo.head() == result.commit
