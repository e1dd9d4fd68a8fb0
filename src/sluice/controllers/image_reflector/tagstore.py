"""Scanned tags on disk, one file per ImageRepository, so a restart does not rescan.

Flux kept tags in BadgerDB (disk growth and mmap crashes were its most
reported problems) and moved to plain files behind its ``FluxStorage``
gate; Sluice does the latter from the start:
``<root>/imagerepository/<namespace>/<name>/tags.txt``, one tag per line in
the stored (descending) order, gzipped (``tags.txt.gz``) from 64 KiB. Files
are replaced atomically (write, fsync, rename), so a reader never sees half
a list. Keyed per object, not per image: deleting one ImageRepository
removes its tags without touching another scanning the same image.

All methods block: callers run them in worker threads.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["GZIP_THRESHOLD", "TagStore"]

GZIP_THRESHOLD = 64 * 1024


class TagStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, namespace: str, name: str) -> Path:
        for part in (namespace, name):
            if not part or "/" in part or part in (".", ".."):
                raise ValueError(f"invalid object key {namespace!r}/{name!r}")
        return self.root / "imagerepository" / namespace / name

    def read(self, namespace: str, name: str) -> list[str]:
        """The stored tags, ``[]`` when the object was never scanned (or lost its file)."""
        folder = self._dir(namespace, name)
        plain, packed = folder / "tags.txt", folder / "tags.txt.gz"
        try:
            if packed.exists():
                data = gzip.decompress(packed.read_bytes())
            else:
                data = plain.read_bytes()
        except FileNotFoundError:
            return []
        return [t for t in data.decode("utf-8").split("\n") if t]

    def write(self, namespace: str, name: str, tags: list[str]) -> None:
        folder = self._dir(namespace, name)
        folder.mkdir(parents=True, exist_ok=True)
        data = ("\n".join(tags) + "\n").encode("utf-8") if tags else b""
        packed = len(data) >= GZIP_THRESHOLD
        target = folder / ("tags.txt.gz" if packed else "tags.txt")
        other = folder / ("tags.txt" if packed else "tags.txt.gz")
        if packed:
            data = gzip.compress(data, compresslevel=6, mtime=0)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tags-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        other.unlink(missing_ok=True)

    def delete(self, namespace: str, name: str) -> None:
        shutil.rmtree(self._dir(namespace, name), ignore_errors=True)
