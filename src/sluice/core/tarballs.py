"""Safe extraction of untrusted tarballs (source artifacts, chart archives).

Every consumer of an artifact (the Kustomization controller today, Helm and
image automation later) unpacks a tarball that came over the network. This
module is the one place that does it, refusing anything that could write
outside the destination: absolute paths, ``..`` entries, symlinks pointing out
(also through chains of links), hard links, devices and FIFOs, and archives
that expand beyond a size limit. It sits in ``core`` so that controllers share
it without importing each other.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import re
import shutil
import tarfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["ArchiveError", "UnsafeArchiveEntry", "extract"]

_CHUNK = 1 << 16


class ArchiveError(Exception):
    """The archive could not be extracted (corrupt, too large, or unreadable)."""


class UnsafeArchiveEntry(ArchiveError):
    """An entry would land outside the destination or is of a refused type."""


def _inside(base: str, path: str) -> bool:
    return path == base or path.startswith(base + os.sep)


def _member_path(name: str) -> str:
    """The normalised relative path of an entry, or raise UnsafeArchiveEntry."""
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveEntry(f"archive entry '{name}' has an absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveEntry(f"archive entry '{name}' escapes the destination")
    return "/".join(parts)


def _remove_existing(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def extract(tarball: Path | BinaryIO, dest: Path, *, max_size: int | None = None) -> int:
    """Safely extract a (gzipped) tarball into `dest`; returns the entry count.

    `dest` should be a fresh directory: on failure it keeps whatever was
    written before the offending entry. `max_size` bounds the total size of
    regular files.
    """
    dest.mkdir(parents=True, exist_ok=True)
    base = os.path.realpath(dest)
    count = total = 0
    links: list[Path] = []
    try:
        opened = (
            tarfile.open(tarball, mode="r|*")
            if isinstance(tarball, Path)
            else tarfile.open(fileobj=tarball, mode="r|*")
        )
        with opened as tar:
            for member in tar:
                rel = _member_path(member.name)
                if not rel:
                    continue  # the root directory itself
                target = dest / rel
                parent = os.path.realpath(target.parent)
                if not _inside(base, parent):
                    raise UnsafeArchiveEntry(
                        f"archive entry '{member.name}' would be written through a symlink "
                        "outside the destination"
                    )
                if member.isdir():
                    if target.is_symlink() or (target.exists() and not target.is_dir()):
                        _remove_existing(target)
                    target.mkdir(mode=0o755, parents=True, exist_ok=True)
                elif member.isreg():
                    total += member.size
                    if max_size is not None and total > max_size:
                        raise ArchiveError(
                            f"archive exceeds the maximum extracted size of {max_size} bytes"
                        )
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _remove_existing(target)
                    source = tar.extractfile(member)
                    assert source is not None
                    mode = 0o755 if member.mode & 0o111 else 0o644
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                    with os.fdopen(os.open(target, flags, mode), "wb") as out:
                        shutil.copyfileobj(source, out, _CHUNK)
                elif member.issym():
                    link = member.linkname
                    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
                    if posixpath.isabs(link) or resolved == ".." or resolved.startswith("../"):
                        raise UnsafeArchiveEntry(
                            f"symlink '{member.name}' points outside the destination "
                            f"(target '{link}')"
                        )
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _remove_existing(target)
                    os.symlink(link, target)
                    links.append(target)
                elif member.islnk():
                    raise UnsafeArchiveEntry(
                        f"archive entry '{member.name}' is a hard link, which is not supported"
                    )
                else:
                    raise UnsafeArchiveEntry(
                        f"archive entry '{member.name}' is a device or special file"
                    )
                count += 1
    except (ArchiveError, UnsafeArchiveEntry):
        raise
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as err:
        raise ArchiveError(f"failed to extract archive: {err}") from None
    # A chain of individually harmless links could still resolve outside.
    for created in links:
        if not _inside(base, os.path.realpath(created)):
            raise UnsafeArchiveEntry(
                f"symlink '{created.relative_to(dest)}' resolves outside the destination"
            )
    return count
