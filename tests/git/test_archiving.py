"""Artifacts built from a commit's objects in a Git worker are the bytes archiving its files gives.

`sluice.git.archive` reads the blobs of a checkout made without a work tree
(`checkout(worktree=False)`) instead of writing every file and reading it
back. An upgrade must not change any digest, and `.sourceignore` /
`spec.ignore` must shape the artifact exactly as before, so each case here
compares it with `build_archive` on a full checkout of the same commit:
ordering that differs between Git's tree order and byte order, layered
ignore files with negations, executables, a file over the batch size, and
the trees only a checkout shows exactly (symlinks, ``.gitattributes``
filters, a ``spec.ignore`` that brings ``.git`` back), which must fall back
to the files.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from sluice.controllers.source.artifacts import build_archive
from sluice.core.sourceignore import load_ignore_rules
from sluice.git import ArchiveFailed, GitRef, archive, checkout
from sluice.testing.gitserver import FileValue, GitHTTPServer, executable, symlink

PLAIN: dict[str, FileValue] = {
    # Git orders the tree "a-b", "a.b", "a" (as "a/"), "a0"; the artifact wants byte order.
    "a/k.yaml": "k: 1\n",
    "a-b": "x\n",
    "a.b": "y\n",
    "a0/z.yaml": "z: 1\n",
    "apps/team/cm.yaml": "kind: ConfigMap\n",
    "apps/team/notes.md": "notes\n",
    "apps/team/keep.md": "keep\n",
    "apps/team/.sourceignore": "*.md\n!keep.md\n",
    "apps/logo.png": b"\x89PNG\r\n",
    "docs/guide.md": "guide\n",
    "docs/sub/deep.yaml": "deep: 1\n",
    ".github/workflows/ci.yaml": "on: push\n",
    ".sourceignore": "docs/\n# a comment\r\n/a-b\r\n",
    "bin/run.sh": executable("#!/bin/sh\nexit 0\n"),
    "big.bin": os.urandom(1 << 20) + b"tail" * 1000,  # over the 1 MiB batch
    "empty.yaml": "",
}


async def _both(server: GitHTTPServer, tmp_path: Path, files: dict[str, FileValue],
                spec_ignore: str | None = None) -> tuple[bytes, bytes, list[str]]:
    """(artifact from the objects, artifact of a full checkout, files the first checkout wrote)."""
    server.create_repo("app.git", files)
    url = server.repo_url("app.git")
    await checkout(url, GitRef(branch="main"), None, tmp_path / "bare", worktree=False)
    written = sorted(p.name for p in (tmp_path / "bare").iterdir())
    out = tmp_path / "objects.tar.gz"
    summary = await archive(tmp_path / "bare", out, spec_ignore=spec_ignore)
    data = out.read_bytes()
    assert summary.size == len(data)

    await checkout(url, GitRef(branch="main"), None, tmp_path / "full")
    reference = io.BytesIO()
    build_archive(tmp_path / "full", reference, load_ignore_rules(tmp_path / "full", spec_ignore))
    return data, reference.getvalue(), written


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getnames()


@pytest.mark.parametrize("spec_ignore", [None, "*.sh\n!docs/\n"])
async def test_objects_give_the_bytes_of_the_files(http_server: GitHTTPServer, tmp_path: Path,
                                                   spec_ignore: str | None) -> None:
    objects, files, written = await _both(http_server, tmp_path, PLAIN, spec_ignore)
    assert written == [".git"]  # no file of the tree was written
    assert objects == files
    names = _names(objects)
    # Byte order ("a.b" < "a0"; Git's tree has "a.b" before "a/"); "/a-b" ignored (CRLF line).
    assert names[:6] == [".sourceignore", "a", "a/k.yaml", "a.b", "a0", "a0/z.yaml"]
    assert "apps/team/keep.md" in names and "apps/team/notes.md" not in names
    assert "apps/logo.png" not in names and ".github" not in names
    if spec_ignore:
        # spec.ignore comes last: it can bring docs/ back, and drops the script.
        assert "docs/sub/deep.yaml" in names and "bin/run.sh" not in names
    else:
        assert "docs" not in names
        with tarfile.open(fileobj=io.BytesIO(objects), mode="r:gz") as tar:
            assert tar.getmember("bin/run.sh").mode == 0o755
            assert tar.getmember("a.b").mode == 0o644


@pytest.mark.parametrize("case", ["symlink", "attributes", "dotgit"])
async def test_trees_only_a_checkout_shows_exactly_use_the_files(
        http_server: GitHTTPServer, tmp_path: Path, case: str) -> None:
    files: dict[str, FileValue] = {"app/cm.yaml": "a: 1\nb: 2\n", "app/run.sh": "echo\n"}
    spec_ignore = None
    if case == "symlink":
        files |= {"link.yaml": symlink("app/cm.yaml"), "out.yaml": symlink("../../etc/passwd")}
    elif case == "attributes":
        files |= {".gitattributes": "*.yaml text eol=crlf\n"}
    else:
        spec_ignore = "!.git/\n"
    objects, reference, written = await _both(http_server, tmp_path, files, spec_ignore)
    names = _names(objects)
    # Two checkouts' `.git` directories differ (index, timestamps); the rest is compared.
    assert objects == reference or (case == "dotgit" and names == _names(reference))
    if case == "symlink":
        assert written == [".git", "app", "link.yaml", "out.yaml"]
        assert "link.yaml" in names and "out.yaml" not in names
    elif case == "attributes":
        with tarfile.open(fileobj=io.BytesIO(objects), mode="r:gz") as tar:
            body = tar.extractfile("app/cm.yaml")
            assert body is not None and body.read() == b"a: 1\r\nb: 2\r\n"
    else:
        assert ".git/HEAD" in names and "app/cm.yaml" in names


async def test_a_failed_archive_names_the_step(http_server: GitHTTPServer,
                                               tmp_path: Path) -> None:
    http_server.create_repo("app.git", {"a.yaml": "a\n"})
    await checkout(http_server.repo_url("app.git"), GitRef(branch="main"), None,
                   tmp_path / "co", worktree=False)
    with pytest.raises(ArchiveFailed) as caught:
        await archive(tmp_path / "co", tmp_path / "missing-dir" / "out.tar.gz")
    assert caught.value.reason == "ArchiveOperationFailed"
    assert "out.tar.gz" in caught.value.message
