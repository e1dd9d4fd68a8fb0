"""Artifacts as appliers see them: stable digests, ignore rules, safety.

Aspects: the same commit checked out twice gives byte-identical archives
whatever the file times, modes or owners; ignore rules shape the content;
symlinks inside the tree survive and ones leaving it are left out; storage
paths, atomic writes, garbage collection and removal; safe extraction
refusing traversal, absolute paths, escaping links, devices and hard links;
and the HTTP server handing out the exact stored bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import time
from pathlib import Path

import aiohttp
import pytest
import yarl

from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage, build_archive, extract
from sluice.controllers.source.errors import (
    ArchiveOperationFailed,
    StorageOperationFailed,
    UnsafeArchiveEntry,
)
from sluice.controllers.source.git import GitRef, checkout
from sluice.core.sourceignore import load_ignore_rules
from sluice.testing.gitserver import GitHTTPServer, executable, symlink


def archive_bytes(source: Path, spec_ignore: str | None = None) -> bytes:
    out = io.BytesIO()
    build_archive(source, out, load_ignore_rules(source, spec_ignore))
    return out.getvalue()


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


async def test_same_commit_same_digest(http_server: GitHTTPServer, tmp_path: Path) -> None:
    http_server.create_repo(
        "app.git",
        {
            "deploy/app.yaml": "kind: Deployment\n",
            "deploy/z.yaml": "kind: Service\n",
            "run.sh": executable("#!/bin/sh\n"),
            "link.yaml": symlink("deploy/app.yaml"),
            "logo.png": b"\x89PNG",
        },
    )
    url = http_server.repo_url("app.git")
    await checkout(url, GitRef(branch="main"), None, tmp_path / "one")
    old_umask = os.umask(0o077)
    try:
        await checkout(url, GitRef(branch="main"), None, tmp_path / "two")
    finally:
        os.umask(old_umask)
    # Different times and permission bits on the second copy.
    for path in (tmp_path / "two").rglob("*"):
        if not path.is_symlink():
            os.utime(path, (1_000_000, 1_000_000))
    first, second = archive_bytes(tmp_path / "one"), archive_bytes(tmp_path / "two")
    assert first == second

    entries = members(first)
    assert list(entries) == ["deploy", "deploy/app.yaml", "deploy/z.yaml", "link.yaml", "run.sh"]
    assert {m.mtime for m in entries.values()} == {0}
    assert {(m.uid, m.gid, m.uname, m.gname) for m in entries.values()} == {(0, 0, "", "")}
    assert entries["run.sh"].mode == 0o755
    assert entries["deploy/app.yaml"].mode == 0o644
    assert entries["link.yaml"].issym() and entries["link.yaml"].linkname == "deploy/app.yaml"

    (tmp_path / "two" / "deploy" / "z.yaml").write_text("kind: Service \n")
    assert archive_bytes(tmp_path / "two") != first


def test_archive_is_what_tarfile_writes_byte_for_byte(tmp_path: Path) -> None:
    """Headers are built without tarfile (speed); the tar stream must not change.

    A digest change would make every source publish a "new" artifact after an
    upgrade, so the uncompressed stream is compared with tarfile's own GNU
    headers for the same entries: long names and links (``././@LongLink``),
    non-ASCII and undecodable names, modes, a symlink, empty files.
    """
    src = tmp_path / "src"
    deep = src / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "long-name.yaml").write_text("kind: ConfigMap\n")
    (src / "é-ü.yaml").write_text("x: 1\n")
    (src / os.fsdecode(b"raw-\xff.yaml")).write_bytes(b"y: 2\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    (src / "empty").write_bytes(b"")
    os.symlink(os.path.relpath(deep / "long-name.yaml", src), src / "far.yaml")
    os.symlink("run.sh", src / "near")
    data = archive_bytes(src)
    expected = bytearray()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            expected += m.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
            if m.isfile():
                body = tar.extractfile(m)
                assert body is not None
                content = body.read()
                expected += content + tarfile.NUL * (-len(content) % tarfile.BLOCKSIZE)
        names = [m.name for m in tar.getmembers()]
    assert "far.yaml" in names and os.fsdecode(b"raw-\xff.yaml") in names
    raw = gzip.decompress(data)
    assert raw[:len(expected)] == bytes(expected)
    assert raw[len(expected):] == tarfile.NUL * (len(raw) - len(expected))
    assert len(raw) % tarfile.RECORDSIZE == 0


def test_ignore_rules_shape_the_archive(tmp_path: Path) -> None:
    for rel, text in {
        "apps/a.yaml": "a",
        "apps/notes.md": "n",
        "docs/readme.md": "d",
        ".github/workflows/ci.yaml": "ci",
        ".git/config": "git",
        ".sourceignore": "docs/\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    names = list(members(archive_bytes(tmp_path, "*.md\n")))
    assert names == [".sourceignore", "apps", "apps/a.yaml"]


@pytest.mark.parametrize("target", ["../outside.yaml", "/etc/passwd", "a/../../x", "loop/.."])
def test_symlinks_leaving_the_root_are_left_out(tmp_path: Path, target: str) -> None:
    # As Flux does: the link is not in the artifact, the rest is.
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "a" / "k.yaml").write_text("k")
    os.symlink(".", tmp_path / "src" / "loop")  # inside: "loop/.." leaves only physically
    os.symlink(target, tmp_path / "src" / "evil")
    entries = members(archive_bytes(tmp_path / "src"))
    assert list(entries) == ["a", "a/k.yaml", "loop"]
    assert entries["loop"].linkname == "."


def test_symlinks_into_ignored_or_nested_paths_stay(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "k.yaml").write_text("k")
    (tmp_path / "overlay").mkdir()
    os.symlink("../base/k.yaml", tmp_path / "overlay" / "k.yaml")
    os.symlink("base", tmp_path / "dirlink")
    entries = members(archive_bytes(tmp_path))
    assert entries["overlay/k.yaml"].linkname == "../base/k.yaml"
    assert entries["dirlink"].issym() and "dirlink/k.yaml" not in entries


# -------------------------------------------------------------------- storage


async def test_storage_archive_gc_and_removal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.yaml").write_text("a: 1\n")
    storage = Storage(tmp_path / "store", "source-controller.flux-system.svc")
    artifact = await storage.archive(
        "GitRepository", "flux-system", "app", "a" * 40 + ".tar.gz", src, "main@sha1:" + "a" * 40
    )
    assert artifact.path == f"gitrepository/flux-system/app/{'a' * 40}.tar.gz"
    assert artifact.url == f"http://source-controller.flux-system.svc/{artifact.path}"
    stored = storage.local_path(artifact.path).read_bytes()
    assert artifact.digest == "sha256:" + hashlib.sha256(stored).hexdigest()
    assert artifact.size == len(stored)
    status = artifact.to_status()
    assert status["revision"] == "main@sha1:" + "a" * 40
    assert status["lastUpdateTime"].endswith("Z") and set(status) == {
        "path",
        "url",
        "revision",
        "digest",
        "lastUpdateTime",
        "size",
    }

    # Three more revisions, oldest first.
    paths = [artifact.path]
    for n, ch in enumerate("bcd"):
        (src / "a.yaml").write_text(f"a: {n + 2}\n")
        newer = storage.archive_sync(
            "GitRepository", "flux-system", "app", ch * 40 + ".tar.gz", src, ch
        )
        os.utime(storage.local_path(newer.path), (time.time() + n, time.time() + n))
        paths.append(newer.path)
    stale = storage.local_path(paths[0]).parent / ".tmp-abandoned"
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))

    removed = storage.garbage_collect(
        "GitRepository", "flux-system", "app", keep=2, current=paths[1]
    )
    assert sorted(removed) == sorted([paths[0], paths[2]])
    assert [storage.exists(p) for p in paths] == [False, True, False, True]
    assert not stale.exists()

    assert storage.remove_all("GitRepository", "flux-system", "app") == sorted([paths[1], paths[3]])
    assert not (tmp_path / "store" / "gitrepository" / "flux-system" / "app").exists()
    assert storage.garbage_collect("GitRepository", "flux-system", "app") == []


def test_storage_refuses_bad_paths_and_writes_atomically(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    for bad in [
        ("GitRepository", "..", "x", "f"),
        ("GitRepository", "ns", "a/b", "f"),
        ("k", "ns", "n", ""),
    ]:
        with pytest.raises(StorageOperationFailed):
            storage.artifact_path(*bad)
    with pytest.raises(StorageOperationFailed):
        storage.local_path("gitrepository/../../etc/passwd")
    path = storage.artifact_path("HelmRepository", "ns", "repo", "index.yaml")
    storage.write_atomic(path, b"one")
    storage.write_atomic(path, b"two")
    assert storage.local_path(path).read_bytes() == b"two"
    assert [p.name for p in storage.local_path(path).parent.iterdir()] == ["index.yaml"]


# ----------------------------------------------------------------- extraction


def make_tar(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    buffer.seek(0)
    return buffer


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_extract_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "base").mkdir(parents=True)
    (src / "base" / "k.yaml").write_text("kind: Kustomization\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o700)
    os.symlink("base/k.yaml", src / "k.yaml")
    data = archive_bytes(src)
    count = extract(io.BytesIO(data), tmp_path / "out")
    out = tmp_path / "out"
    assert count == 4
    assert (out / "k.yaml").read_text() == "kind: Kustomization\n"
    assert os.readlink(out / "k.yaml") == "base/k.yaml"
    assert (out / "run.sh").stat().st_mode & 0o777 == 0o755
    (tmp_path / "artifact.tar.gz").write_bytes(data)
    assert extract(tmp_path / "artifact.tar.gz", tmp_path / "again") == 4


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("../evil.yaml", b"x")], "escapes the destination"),
        ([("a/../../evil.yaml", b"x")], "escapes the destination"),
        ([("/etc/cron.d/evil", b"x")], "absolute path"),
        ([link("l", "../../etc/passwd")], "points outside the destination"),
        ([link("l", "/etc/passwd")], "points outside the destination"),
        ([link("d", "."), link("d/up", "..")], "resolves outside the destination"),
        ([link("dir", "/tmp"), ("dir/evil", b"x")], "points outside the destination"),
        ([link("h", "a.yaml", tarfile.LNKTYPE)], "hard link"),
        ([link("dev", "", tarfile.CHRTYPE)], "device or special file"),
        ([link("fifo", "", tarfile.FIFOTYPE)], "device or special file"),
    ],
)
def test_extract_refuses_unsafe_entries(
    tmp_path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], message: str
) -> None:
    with pytest.raises(UnsafeArchiveEntry, match=message):
        extract(make_tar(entries), tmp_path / "out")
    assert not (tmp_path / "evil.yaml").exists()


def test_extract_never_writes_through_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # A link that is harmless by itself, then a regular file at the same name.
    data = make_tar([("real.yaml", b"real"), link("a.yaml", "real.yaml"), ("a.yaml", b"new")])
    extract(data, tmp_path / "out")
    assert (tmp_path / "out" / "real.yaml").read_bytes() == b"real"
    assert (tmp_path / "out" / "a.yaml").read_bytes() == b"new"
    # A directory symlinked outside before extraction is not followed.
    os.symlink(outside, tmp_path / "out2")
    (tmp_path / "dest").mkdir()
    os.symlink(outside, tmp_path / "dest" / "sub")
    with pytest.raises(UnsafeArchiveEntry, match="through a symlink"):
        extract(make_tar([("sub/x.yaml", b"x")]), tmp_path / "dest")
    assert list(outside.iterdir()) == []


def test_large_files_round_trip(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    blob = os.urandom(3 * 1024 * 1024 + 7)  # streamed rather than batched
    (tmp_path / "src" / "blob.bin").write_bytes(blob)
    (tmp_path / "src" / "small.yaml").write_text("s: 1\n")
    extract(io.BytesIO(archive_bytes(tmp_path / "src")), tmp_path / "out")
    assert (tmp_path / "out" / "blob.bin").read_bytes() == blob
    assert (tmp_path / "out" / "small.yaml").read_text() == "s: 1\n"


def test_extract_limits_size_and_rejects_garbage(tmp_path: Path) -> None:
    with pytest.raises(ArchiveOperationFailed, match="maximum extracted size"):
        extract(make_tar([("big", b"x" * 2048)]), tmp_path / "a", max_size=1024)
    with pytest.raises(ArchiveOperationFailed, match="failed to extract"):
        extract(io.BytesIO(b"not a tarball at all"), tmp_path / "b")


# --------------------------------------------------------------- HTTP server


async def test_artifact_server_serves_exact_bytes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.yaml").write_text("a: 1\n")
    (tmp_path / "secret.txt").write_text("top secret")
    async with ArtifactServer(tmp_path / "store") as server:
        storage = Storage(tmp_path / "store", server.address)
        artifact = storage.archive_sync("GitRepository", "ns", "app", "x.tar.gz", src, "rev")
        os.symlink(tmp_path / "secret.txt", storage.local_path(artifact.path).parent / "leak")
        async with aiohttp.ClientSession(auto_decompress=True) as client:
            async with client.get(artifact.url) as response:
                assert response.status == 200
                assert "Content-Encoding" not in response.headers
                body = await response.read()
            assert "sha256:" + hashlib.sha256(body).hexdigest() == artifact.digest
            for path, status in [
                ("/gitrepository/ns/app/missing.tar.gz", 404),
                ("/gitrepository/ns/app/leak", 404),
                ("/gitrepository/ns/app/../../../../secret.txt", 400),
                ("/gitrepository/ns/%2e%2e/%2e%2e/x", 400),
            ]:
                # encoded=True: send the path as is, without client-side clean-up
                async with client.get(yarl.URL(server.url + path, encoded=True)) as response:
                    assert response.status == status, path
                    assert b"top secret" not in await response.read()
