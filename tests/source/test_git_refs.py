"""Checking out every kind of GitRepository `ref`, over HTTP and SSH.

Aspects: Flux revision strings per ref kind, ref precedence, the `master`
default, semver tag selection, `remote_revision` agreeing with `checkout`
without fetching objects, shallow fetches, commit metadata, submodules,
and the messages users get for missing branches, tags and commits.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.controllers.source.errors import GitOperationFailed
from sluice.controllers.source.git import Commit, GitAuth, GitRef, checkout, remote_revision
from sluice.core.sshkeys import KeyPair
from sluice.testing.gitserver import GitHTTPServer, GitRepo
from sluice.testing.sshgit import GitSSHServer

from .conftest import History, make_history, ssh_auth


@pytest.fixture(params=["http", "ssh"])
def remote(
    request: pytest.FixtureRequest,
    http_server: GitHTTPServer,
    ssh_server: GitSSHServer,
    client_key: KeyPair,
) -> tuple[str, GitAuth, History]:
    """(url, auth, history) of the same history over one transport."""
    if request.param == "http":
        history = make_history(http_server.create_repo("app.git"))
        return http_server.repo_url("app.git"), GitAuth(), history
    history = make_history(ssh_server.create_repo("app.git"))
    return ssh_server.repo_url("app.git"), ssh_auth(ssh_server, client_key), history


def files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


CASES = [
    # (ref, revision template, commit attribute)
    (GitRef(branch="main"), "main@sha1:{}", "tip"),
    (GitRef(branch="dev"), "dev@sha1:{}", "dev"),
    (GitRef(tag="v1.0.0"), "v1.0.0@sha1:{}", "first"),
    (GitRef(tag="v1.1.0"), "v1.1.0@sha1:{}", "second"),  # annotated: peeled
    (GitRef(semver=">=1.0.0 <2.0.0"), "v1.1.0@sha1:{}", "second"),
    (GitRef(semver="~1.0"), "v1.0.0@sha1:{}", "first"),
    (GitRef(semver=">=2.0.0-0"), "v2.0.0-rc.1@sha1:{}", "second"),
    (GitRef(name="refs/heads/dev"), "refs/heads/dev@sha1:{}", "dev"),
    (GitRef(name="refs/tags/v1.0.0"), "refs/tags/v1.0.0@sha1:{}", "first"),
    (GitRef(commit="{first}"), "sha1:{}", "first"),
    (GitRef(branch="main", commit="{second}"), "main@sha1:{}", "second"),
    # precedence: commit > name > semver > tag > branch
    (GitRef(branch="main", tag="v1.0.0"), "v1.0.0@sha1:{}", "first"),
    (GitRef(tag="v1.0.0", semver="1.1.x"), "v1.1.0@sha1:{}", "second"),
    (GitRef(semver="1.1.x", name="refs/heads/dev"), "refs/heads/dev@sha1:{}", "dev"),
    (GitRef(name="refs/heads/dev", commit="{first}"), "sha1:{}", "first"),
]


@pytest.mark.parametrize(("ref", "template", "attr"), CASES)
async def test_checkout_reports_flux_revisions(
    remote: tuple[str, GitAuth, History], tmp_path: Path, ref: GitRef, template: str, attr: str
) -> None:
    url, auth, history = remote
    if ref.commit:
        ref = GitRef(ref.branch, ref.tag, ref.semver, ref.name, ref.commit.format(**vars(history)))
    sha = getattr(history, attr)
    expected = template.format(sha)

    commit = await checkout(url, ref, auth, tmp_path / "out")

    assert commit.revision == expected
    assert commit.hash == sha
    assert await remote_revision(url, ref, auth) == expected
    deploy = (tmp_path / "out" / "app" / "deploy.yaml").read_text()
    assert deploy == {"first": "replicas: 1\n", "second": "replicas: 2\n"}.get(
        attr, "replicas: 3\n"
    )


async def test_default_branch_is_master(http_server: GitHTTPServer, tmp_path: Path) -> None:
    repo = http_server.create_repo("m.git", {"a.yaml": "a: 1\n"}, branch="master")
    repo.branch("main", repo.commit({"a.yaml": "a: 2\n"}, branch="main"))
    url = http_server.repo_url("m.git")
    commit = await checkout(url, GitRef(), None, tmp_path / "out")
    assert commit.revision == f"master@sha1:{repo.head('master')}"
    assert files(tmp_path / "out") == {"a.yaml": "a: 1\n"}
    assert GitRef.from_spec(None) == GitRef()
    assert GitRef.from_spec({"branch": "main", "semver": None}) == GitRef(branch="main")


async def test_checkout_content_metadata_and_shallowness(
    http_server: GitHTTPServer, tmp_path: Path
) -> None:
    history = make_history(http_server.create_repo("app.git"))
    out = tmp_path / "out"
    commit = await checkout(http_server.repo_url("app.git"), GitRef(branch="main"), None, out)
    assert files(out) == {
        "README.md": "hello\n",
        "app/deploy.yaml": "replicas: 3\n",
        "app/extra.yaml": "x: 1\n",
    }
    assert isinstance(commit, Commit)
    assert commit.message == "third"
    assert commit.short_message == "third"
    assert commit.author.email == "test@sluice.invalid"
    assert commit.reference == "refs/heads/main"
    # Only the tip was fetched: the history behind it is not there.
    assert (out / ".git" / "shallow").read_text().strip() == history.tip


async def test_short_message_is_cut_like_flux_events() -> None:
    from datetime import UTC, datetime

    from sluice.controllers.source.git import Signature

    sig = Signature("a", "a@b", datetime.now(UTC))
    long = Commit("0" * 40, "", "sha1:" + "0" * 40, "x" * 60 + "\n\nbody", sig, sig)
    assert long.short_message == "x" * 50 + "..."


async def test_remote_revision_lists_refs_without_fetching(
    http_server: GitHTTPServer,
) -> None:
    history = make_history(http_server.create_repo("app.git"))
    url = http_server.repo_url("app.git")
    http_server.requests.clear()
    assert await remote_revision(url, GitRef(branch="main")) == f"main@sha1:{history.tip}"
    assert all("info/refs" in line for line in http_server.requests)
    # A pinned commit cannot move: no network at all.
    http_server.requests.clear()
    pinned = GitRef(branch="dev", commit=history.first.upper())
    assert await remote_revision(url, pinned) == f"dev@sha1:{history.first}"
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (GitRef(branch="nope"), 'couldn\'t find remote ref "refs/heads/nope"'),
        (GitRef(tag="v0.0.1"), 'couldn\'t find remote ref "refs/tags/v0.0.1"'),
        (GitRef(name="refs/pull/1/head"), 'couldn\'t find remote ref "refs/pull/1/head"'),
        (GitRef(semver=">=5.0.0"), "no match found for semver: >=5.0.0"),
        (GitRef(semver="not a range"), "semver parse error"),
        (GitRef(name="main"), "must be a full reference"),
        (GitRef(commit="abc123"), "is not a full 40-character SHA-1"),
    ],
)
async def test_missing_refs_name_what_is_missing(
    remote: tuple[str, GitAuth, History], tmp_path: Path, ref: GitRef, message: str
) -> None:
    url, auth, _ = remote
    with pytest.raises(GitOperationFailed) as caught:
        await checkout(url, ref, auth, tmp_path / "out")
    assert message in str(caught.value)
    assert caught.value.reason == "GitOperationFailed"
    if ref.name.startswith("refs/") or ref.branch or ref.tag:
        assert str(caught.value).startswith(f"unable to clone '{url}': ")
    with pytest.raises(GitOperationFailed) as listed:
        await remote_revision(url, ref, auth)
    assert message in str(listed.value)


async def test_commit_must_exist_and_be_on_the_branch(
    http_server: GitHTTPServer, tmp_path: Path
) -> None:
    history = make_history(http_server.create_repo("app.git"))
    url = http_server.repo_url("app.git")
    # `dev` is ahead of main: its head is not reachable from main.
    with pytest.raises(GitOperationFailed, match="unable to resolve commit object for"):
        await checkout(url, GitRef(branch="main", commit=history.dev), None, tmp_path / "a")
    # But it is found when no branch is named.
    commit = await checkout(url, GitRef(commit=history.dev), None, tmp_path / "b")
    assert commit.revision == f"sha1:{history.dev}"
    with pytest.raises(GitOperationFailed, match="object not found"):
        await checkout(url, GitRef(commit="f" * 40), None, tmp_path / "c")
    with pytest.raises(GitOperationFailed, match='couldn\'t find remote ref "refs/heads/gone"'):
        await checkout(url, GitRef(branch="gone", commit=history.first), None, tmp_path / "d")


async def test_destination_must_be_empty(http_server: GitHTTPServer, tmp_path: Path) -> None:
    http_server.create_repo("app.git", {"a": "b"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "leftover").write_text("x")
    with pytest.raises(GitOperationFailed, match="is not empty"):
        await checkout(
            http_server.repo_url("app.git"), GitRef(branch="main"), None, tmp_path / "out"
        )


async def test_submodules_only_when_asked(http_server: GitHTTPServer, tmp_path: Path) -> None:
    lib: GitRepo = http_server.create_repo("lib.git", {"lib.yaml": "lib: true\n"})
    app = http_server.create_repo("app.git", {"app.yaml": "app: true\n"})
    app.add_submodule("vendor/lib", http_server.repo_url("lib.git"), lib.head())
    url = http_server.repo_url("app.git")

    await checkout(url, GitRef(branch="main"), None, tmp_path / "plain")
    assert not (tmp_path / "plain" / "vendor" / "lib" / "lib.yaml").exists()

    await checkout(url, GitRef(branch="main"), None, tmp_path / "deep", recurse_submodules=True)
    assert (tmp_path / "deep" / "vendor" / "lib" / "lib.yaml").read_text() == "lib: true\n"
