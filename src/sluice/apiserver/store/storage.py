"""Durable object storage for the embedded cluster: SQLite plus an in-memory mirror.

Kubernetes keeps every object in etcd under one monotonically increasing
revision that becomes each object's ``resourceVersion``. Here the same role is
played by a SQLite database in WAL mode: every write gets the next revision,
committed with its row (a deletion also records its revision, which no row
keeps; on start the counter resumes from the highest).

Reads never touch the database: all objects are mirrored in memory, keyed by
storage key (group, resource) and then (namespace, name). Restarting on the
same file reloads the mirror and resumes the revision counter.

Writes update the mirror at once, on the event loop, and queue their row for
one writer thread, which commits whatever has queued in one transaction
(group commit): the loop never waits for SQLite, and under load a hundred
rows cost one commit. What a client sees is never ahead of the disk: the API
answers a request only once `sync` says every revision it could reflect is
committed, and a watch sends an event only once its revision is, so a
``kill -9`` loses nothing that a client saw (WAL commits reach the operating
system before ``COMMIT`` returns; ``synchronous=NORMAL`` only gives up
durability across a power loss). After a commit fails (a full disk), writes
raise `StorageFailed` and every request is answered with it (a 500), since
the mirror then holds rows the file does not.

The database holds every Secret in clear, so the file is created ``0600``
before SQLite opens it; SQLite gives its ``-wal`` and ``-shm`` files the mode
of the database file, so they are owner-only from their first byte too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sluice.apiserver.errors import StorageFailed
from sluice.apiserver.store.datadir import create_private, private_file

StorageKey = tuple[str, str]
ObjectKey = tuple[str, str]
Obj = dict[str, Any]

log = logging.getLogger(__name__)

_UPSERT = ("INSERT INTO objects (grp, res, ns, name, rv, body) VALUES (?,?,?,?,?,?) "
           "ON CONFLICT (grp, res, ns, name) DO UPDATE SET rv=excluded.rv, body=excluded.body")
_DELETE = "DELETE FROM objects WHERE grp=? AND res=? AND ns=? AND name=?"
_SET_RV = ("INSERT INTO meta (key, value) VALUES ('rv', ?) "
           "ON CONFLICT (key) DO UPDATE SET value=excluded.value")

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
        # The writer's queue and the highest revision it has committed; _cond guards both.
        self._cond = threading.Condition()
        self._queue: list[tuple[str, tuple[Any, ...], int]] = []
        self._committed = self._rv
        self._closing = False
        self._failure: BaseException | None = None
        # Awaiting sync(): revision and future, touched on the loop only.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._writer = threading.Thread(target=self._write_loop, name="sluice-storage",
                                        daemon=True)
        self._writer.start()

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

    @property
    def committed(self) -> int:
        """The highest revision on disk (`revision` once the writer has caught up)."""
        return self._committed

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the database."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join()
        self._db.close()

    async def sync(self, revision: int | None = None) -> None:
        """Return once every revision up to ``revision`` (default: the latest) is committed.

        Raises `StorageFailed` if the commit that should have held it failed.
        """
        target = self._rv if revision is None else revision
        if self._committed >= target:
            self._check()
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append((target, fut))
        # The writer may have committed between the check and the registration.
        self._wake()
        await fut

    def _check(self) -> None:
        if self._failure is not None:
            raise StorageFailed(self._failure)

    def _wake(self) -> None:
        done = self._committed
        failure = self._failure
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self._waiters:
            if fut.done():
                continue
            if failure is not None:
                fut.set_exception(StorageFailed(failure))
            elif target <= done:
                fut.set_result(None)
            else:
                keep.append((target, fut))
        self._waiters = keep

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            top = batch[-1][2]
            try:
                self._commit(batch, top)
            except BaseException as exc:  # kept and raised to every later writer
                log.error("the cluster's database could not commit %d rows: %s",
                          len(batch), exc)
                with self._cond:
                    self._failure = exc
            else:
                with self._cond:
                    if self._failure is None:
                        self._committed = max(self._committed, top)
            loop = self._loop
            if loop is not None:
                try:
                    loop.call_soon_threadsafe(self._wake)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    self._loop = None

    def _commit(self, batch: list[tuple[str, tuple[Any, ...], int]], top: int) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params, _ in batch:
                db.execute(sql, params)
            # The revision of the batch's last write, kept apart from the rows since a
            # deletion's revision is in none of them.
            db.execute(_SET_RV, (str(top),))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _enqueue(self, sql: str, params: tuple[Any, ...], rv: int) -> None:
        with self._cond:
            self._queue.append((sql, params, rv))
            self._cond.notify()

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
        self._check()
        self._rv = rv
        self._enqueue(_UPSERT, (key[0], key[1], ns, name, rv, body), rv)
        self._objects.setdefault(key, {})[(ns, name)] = obj
        return body

    def delete(self, key: StorageKey, namespace: str, name: str) -> int:
        """Remove an object; returns the revision of the deletion."""
        self._check()
        rv = self._rv + 1
        self._rv = rv
        self._enqueue(_DELETE, (key[0], key[1], namespace, name), rv)
        self._objects.get(key, {}).pop((namespace, name), None)
        return rv

