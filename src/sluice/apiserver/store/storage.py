"""Durable object storage for the embedded cluster: SQLite plus an in-memory mirror.

Kubernetes keeps every object in etcd under one monotonically increasing
revision that becomes each object's ``resourceVersion``. Here the same role is
played by a SQLite database in WAL mode: every write gets the next revision,
committed with its row (a deletion also records its revision, which no row
keeps; on start the counter resumes from the highest) before the request is
acknowledged, so a ``kill -9`` loses nothing that a client saw
succeed (WAL commits reach the operating system before ``commit()`` returns;
``synchronous=NORMAL`` only gives up durability across a power loss).

Reads never touch the database: all objects are mirrored in memory, keyed by
storage key (group, resource) and then (namespace, name). Restarting on the
same file reloads the mirror and resumes the revision counter.

The database holds every Secret in clear, so the file is created ``0600``
before SQLite opens it; SQLite gives its ``-wal`` and ``-shm`` files the mode
of the database file, so they are owner-only from their first byte too.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sluice.apiserver.store.datadir import create_private, private_file

StorageKey = tuple[str, str]
ObjectKey = tuple[str, str]
Obj = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
  grp TEXT NOT NULL, res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
  rv INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (grp, res, ns, name)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def encode(obj: Obj) -> str:
    """The compact JSON an object is stored (and served) as."""
    return json.dumps(obj, separators=(",", ":"))


def _ns_name(obj: Obj) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


class Storage:
    """Objects by storage key and (namespace, name), with one revision counter."""

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            os.close(create_private(path))
            for suffix in ("-wal", "-shm"):
                private_file(path.with_name(path.name + suffix))
        self._db = sqlite3.connect(str(path) if path else ":memory:", isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._objects: dict[StorageKey, dict[ObjectKey, Obj]] = {}
        self._rv = 0
        self._load()

    def _load(self) -> None:
        # The revision is the highest of any stored row's and of the last deletion's
        # (kept in meta, since a deleted row no longer shows it).
        row = self._db.execute("SELECT value FROM meta WHERE key='rv'").fetchone()
        top = self._db.execute("SELECT MAX(rv) FROM objects").fetchone()
        self._rv = max(int(row[0]) if row else 0, int(top[0] or 0) if top else 0)
        for grp, res, ns, name, body in self._db.execute(
                "SELECT grp, res, ns, name, body FROM objects"):
            self._objects.setdefault((grp, res), {})[(ns, name)] = json.loads(body)

    @property
    def revision(self) -> int:
        return self._rv

    def close(self) -> None:
        self._db.close()

    def get(self, key: StorageKey, namespace: str, name: str) -> Obj | None:
        return self._objects.get(key, {}).get((namespace, name))

    def list(self, key: StorageKey, namespace: str | None = None) -> list[Obj]:
        """Objects of one resource, in (namespace, name) order like etcd's key order."""
        bucket = self._objects.get(key, {})
        keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
        return [bucket[k] for k in keys]

    def keys(self) -> Iterable[StorageKey]:
        return list(self._objects)

    def count(self, key: StorageKey) -> int:
        return len(self._objects.get(key, {}))

    def put(self, key: StorageKey, obj: Obj, body: str | None = None) -> str:
        """Store ``obj`` under the next revision, which becomes its resourceVersion.

        ``body`` is ``obj`` already encoded with that revision set (the registry
        encodes it once to check its size, and serves the same text); returns
        the encoding stored.
        """
        rv = self._rv + 1
        meta = obj.setdefault("metadata", {})
        if body is None or meta.get("resourceVersion") != str(rv):
            meta["resourceVersion"] = str(rv)
            body = encode(obj)
        ns, name = _ns_name(obj)
        # One statement, committed on its own (autocommit): the row carries the revision.
        self._db.execute(
            "INSERT INTO objects (grp, res, ns, name, rv, body) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (grp, res, ns, name) DO UPDATE SET rv=excluded.rv, body=excluded.body",
            (key[0], key[1], ns, name, rv, body))
        self._rv = rv
        self._objects.setdefault(key, {})[(ns, name)] = obj
        return body

    def delete(self, key: StorageKey, namespace: str, name: str) -> int:
        """Remove an object; returns the revision of the deletion."""
        rv = self._rv + 1
        with self._transaction():
            self._db.execute("DELETE FROM objects WHERE grp=? AND res=? AND ns=? AND name=?",
                             (key[0], key[1], namespace, name))
            self._set_rv(rv)
        self._rv = rv
        self._objects.get(key, {}).pop((namespace, name), None)
        return rv

    def _set_rv(self, rv: int) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES ('rv', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value=excluded.value", (str(rv),))

    def _transaction(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
