"""Runs Git operations in worker processes, under deadlines, shared fairly.

Why processes: libgit2 blocks in C (a host that accepts TCP and never
answers leaves a thread stuck in a socket read forever) and keeps
process-wide state (the SSH known_hosts home, the CA store). In a worker
process the deadline can simply end the operation: the pool closes the
worker's socket and has the zygote SIGKILL it, so its connection, threads
and memory go with it, and nothing is shared that another operation could
wait on. A libssh2 crash fails one operation (`WorkerCrashed`).

How:

* workers are forked by one zygote process (`zygote.py`) that has pygit2
  loaded, and are reused: an idle worker takes the next operation (a fork
  costs a few milliseconds, reuse nothing); at most `max_idle` are kept;
* a worker that trusted a CA (`trust`, the CA's digest) only ever runs
  operations of that same CA, so one source's CA is not trusted for another;
* `run` has one deadline for everything (waiting for a slot, spawning,
  the operation): past it the worker is killed and the slot freed at once,
  and the call fails with `GitTimeout`;
* slots: at most `max_workers` operations start and run at once. One that
  is still running after `young_for` seconds (a big clone, or a remote that
  hangs) moves to the *long* lane (at most `max_long` operations) and frees
  its slot, so operations that are slow or stuck cannot take the
  concurrency everyone shares; they cost a sleeping process each.
* fairness: callers name themselves (`key`, e.g. ``GitRepository/ns/name``);
  a key whose last operation timed out is *suspect* until it succeeds
  again, and suspects never hold more than half of either lane. Waiting
  callers are served in arrival order, others before suspects.

The pool works from whichever event loop calls it (one at a time): it
holds only plain sockets and registers them with the running loop per call.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.git import wire
from sluice.git.auth import safe_url
from sluice.git.errors import BY_NAME, GitError, GitTimeout, PushRejected, WorkerCrashed

__all__ = ["GitPool", "Op", "PoolStats", "default_pool"]

# Suspects are forgotten after this long without news (deleted objects).
_SUSPECT_TTL = 3600.0


@dataclass(frozen=True)
class Op:
    """One call of `sluice.git.ops.<name>(*args, timeout)`; `step`/`url` word its errors."""

    name: str
    args: tuple[Any, ...]
    step: str
    url: str


@dataclass(frozen=True)
class PoolStats:
    running: int  # in the shared slots
    long_running: int  # moved to the long lane
    suspects_running: int
    waiting: int
    idle: int
    spawned: int
    killed: int


@dataclass
class _Worker:
    pid: int
    sock: socket.socket
    trust: str = ""


@dataclass
class _Slot:
    suspect: bool
    long: bool = False


@dataclass
class _Waiter:
    slot: _Slot
    future: asyncio.Future[None]


@dataclass
class _Zygote:
    proc: subprocess.Popen[bytes]
    control: socket.socket
    replies: collections.deque[asyncio.Future[tuple[int, socket.socket]]] = field(
        default_factory=collections.deque)
    unanswered: int = 0  # spawn requests sent and not answered yet


class GitPool:
    """Worker processes for `sluice.git.ops`, with per-caller fairness."""

    def __init__(self, max_workers: int | None = None, max_idle: int = 2,
                 max_long: int | None = None, young_for: float = 1.0) -> None:
        self.max_workers = max(2, max_workers or max(8, 4 * (os.cpu_count() or 1)))
        self.max_long = max(2, max_long or 8 * self.max_workers)
        self.max_idle = max_idle
        self.young_for = young_for
        self._zygote: _Zygote | None = None
        self._idle: list[_Worker] = []
        self._busy: dict[int, _Worker] = {}
        self._waiters: collections.deque[_Waiter] = collections.deque()
        # [shared slots, long lane] in use, and by suspects.
        self._used = [0, 0]
        self._by_suspects = [0, 0]
        self._suspects: dict[str, float] = {}
        self._spawned = 0
        self._killed = 0

    # -------------------------------------------------------------- reading
    def stats(self) -> PoolStats:
        return PoolStats(self._used[0], self._used[1], sum(self._by_suspects), len(self._waiters),
                         len(self._idle), self._spawned, self._killed)

    def pids(self) -> set[int]:
        """Every process this pool owns: the zygote and its live workers."""
        out = {w.pid for w in self._idle} | set(self._busy)
        if self._zygote is not None:
            out.add(self._zygote.proc.pid)
        return out

    def busy_pids(self) -> set[int]:
        """The workers running an operation right now."""
        return set(self._busy)

    def is_suspect(self, key: str) -> bool:
        return bool(key) and key in self._suspects

    def _suspect(self, key: str) -> None:
        if not key:
            return
        now = time.monotonic()
        self._suspects[key] = now
        for old in [k for k, since in self._suspects.items() if now - since > _SUSPECT_TTL]:
            del self._suspects[old]

    # -------------------------------------------------------------- running
    async def run(self, op: Op, *, timeout: float, key: str = "",  # noqa: ASYNC109
                  trust: str = "") -> Any:
        """`op` in a worker; its result, or the GitError it raised."""
        deadline = time.monotonic() + timeout
        slot = _Slot(self.is_suspect(key))
        try:
            await self._acquire(slot, deadline)
        except TimeoutError:
            raise GitTimeout(f"{op.step} '{safe_url(op.url)}': timed out after {timeout:g}s "
                             "waiting for a free git worker") from None
        loop = asyncio.get_running_loop()
        promotion = loop.call_later(self.young_for, self._promote, slot)
        worker: _Worker | None = None
        answered = False
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                worker = await self._take(trust)
                reply = await self._call(worker, op, max(deadline - time.monotonic(), 0.001))
                answered = True
        except TimeoutError:
            self._suspect(key)
            raise GitTimeout(
                f"{op.step} '{safe_url(op.url)}': timed out after {timeout:g}s"
            ) from None
        except (OSError, EOFError):
            raise WorkerCrashed(f"{op.step} '{safe_url(op.url)}': the git worker process "
                                "exited unexpectedly") from None
        finally:
            promotion.cancel()
            self._release(slot)
            if worker is not None and not answered:
                # Timed out, cancelled or broken: the worker goes, whatever it was doing.
                self._kill(worker)
        self._give_back(worker)
        if reply[0] == "error" and reply[1] == GitTimeout.__name__:
            self._suspect(key)  # it ran out of time inside the worker
        else:
            self._suspects.pop(key, None)
        return _result(reply)

    async def _call(self, worker: _Worker, op: Op, remaining: float) -> Any:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(worker.sock, wire.encode((op.name, (*op.args, remaining))))
        header = await _recv_exactly(loop, worker.sock, wire.HEADER.size)
        (size,) = wire.HEADER.unpack(header)
        return wire.decode(await _recv_exactly(loop, worker.sock, size))

    # ---------------------------------------------------------------- slots
    def _room(self, lane: int, suspect: bool) -> bool:
        cap = (self.max_workers, self.max_long)[lane]
        if self._used[lane] >= cap:
            return False
        return not suspect or self._by_suspects[lane] < max(1, cap // 2)

    def _occupy(self, slot: _Slot, lane: int, delta: int) -> None:
        self._used[lane] += delta
        self._by_suspects[lane] += delta * slot.suspect

    async def _acquire(self, slot: _Slot, deadline: float) -> None:
        ahead = any(w.slot.suspect <= slot.suspect for w in self._waiters)
        if self._room(0, slot.suspect) and not ahead:
            self._occupy(slot, 0, 1)
            return
        waiter = _Waiter(slot, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                await waiter.future
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.future.done() and not waiter.future.cancelled():
                self._release(slot)  # handed a slot just as we gave up
            raise

    def _promote(self, slot: _Slot) -> None:
        """Still running after `young_for`: leave the shared slot for the long lane."""
        if slot.long or not self._room(1, slot.suspect):
            return
        self._occupy(slot, 0, -1)
        self._occupy(slot, 1, 1)
        slot.long = True
        self._wake()

    def _release(self, slot: _Slot) -> None:
        self._occupy(slot, int(slot.long), -1)
        self._wake()

    def _wake(self) -> None:
        # Others first, then suspects, each in arrival order.
        for wanted in (False, True):
            for waiter in list(self._waiters):
                if waiter.slot.suspect != wanted or not self._room(0, wanted):
                    continue
                self._waiters.remove(waiter)
                if not waiter.future.done():
                    self._occupy(waiter.slot, 0, 1)
                    waiter.future.set_result(None)

    # -------------------------------------------------------------- workers
    async def _take(self, trust: str) -> _Worker:
        for n, worker in enumerate(self._idle):
            if worker.trust in ("", trust):
                del self._idle[n]
                break
        else:
            worker = await self._spawn()
        worker.trust = worker.trust or trust
        self._busy[worker.pid] = worker
        return worker

    def _give_back(self, worker: _Worker | None) -> None:
        if worker is None or self._busy.pop(worker.pid, None) is None:
            return
        self._idle.append(worker)
        self._give_back_spares()

    def _give_back_spares(self) -> None:
        while len(self._idle) > self.max_idle:
            # Drop workers holding a CA first: a plain worker serves anyone.
            victim = max(self._idle, key=lambda w: bool(w.trust))
            self._idle.remove(victim)
            self._kill(victim)

    def _kill(self, worker: _Worker) -> None:
        self._busy.pop(worker.pid, None)
        with contextlib.suppress(OSError):
            worker.sock.close()  # the worker sees end of file and exits
        zygote = self._zygote
        if zygote is not None:
            with contextlib.suppress(OSError):
                zygote.control.send(b"k" + wire.PID.pack(worker.pid))
        self._killed += 1

    async def _spawn(self) -> _Worker:
        for attempt in (1, 2):
            zygote = self._zygote or self._start_zygote()
            loop = asyncio.get_running_loop()
            reply: asyncio.Future[tuple[int, socket.socket]] = loop.create_future()
            zygote.replies.append(reply)
            try:
                zygote.control.send(b"s")
                # Every request gets exactly one answer: read until all have come,
                # whoever is still waiting for them (on this loop: earlier
                # readers may belong to a loop that is gone).
                zygote.unanswered += 1
                loop.add_reader(zygote.control.fileno(), self._on_zygote, zygote)
                pid, sock = await reply
            except asyncio.CancelledError:
                if reply.done() and not reply.cancelled() and reply.exception() is None:
                    # The worker came just as our caller gave up: keep it as a spare.
                    self._idle.append(_Worker(*reply.result()))
                    self._give_back_spares()
                raise
            except (OSError, EOFError):
                reply.cancel()
                self._stop_zygote()
                if attempt == 2:
                    raise
                continue
            self._spawned += 1
            return _Worker(pid, sock)
        raise AssertionError("unreachable")

    def _on_zygote(self, zygote: _Zygote) -> None:
        error: OSError | None = None
        try:
            data, fds, _, _ = socket.recv_fds(zygote.control, wire.PID.size, 1)
        except BlockingIOError:
            return
        except OSError as err:
            data, fds, error = b"", [], err
        if not data or not fds:
            for fd in fds:
                os.close(fd)
            failed = error or EOFError("the git zygote exited")
            while zygote.replies:
                reply = zygote.replies.popleft()
                if not reply.done():
                    reply.set_exception(failed)
            self._drop_reader(zygote)
            return
        zygote.unanswered -= 1
        (pid,) = wire.PID.unpack(data)
        sock = socket.socket(fileno=fds[0])
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        while zygote.replies:
            reply = zygote.replies.popleft()
            # Skip callers that gave up, and any left by an event loop now gone.
            if not reply.done() and reply.get_loop() is loop:
                reply.set_result((pid, sock))
                break
        else:
            # Its caller gave up meanwhile: the new worker is spare.
            self._idle.append(_Worker(pid, sock))
            self._give_back_spares()
        if zygote.unanswered <= 0:
            self._drop_reader(zygote)

    @staticmethod
    def _drop_reader(zygote: _Zygote) -> None:
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            asyncio.get_running_loop().remove_reader(zygote.control.fileno())

    def _start_zygote(self) -> _Zygote:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        src = str(Path(__file__).resolve().parents[2])
        code = (f"import sys; sys.path.insert(0, {src!r}); "
                "from sluice.git.zygote import main; main(int(sys.argv[1]))")
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        ours.setblocking(False)
        self._zygote = _Zygote(proc, ours)
        return self._zygote

    def _stop_zygote(self) -> None:
        zygote, self._zygote = self._zygote, None
        if zygote is None:
            return
        self._drop_reader(zygote)
        zygote.control.close()  # it kills its workers and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            zygote.proc.wait(timeout=5)

    def close(self) -> None:
        """Kill every worker and the zygote (at exit, or when a test is done with a pool)."""
        for worker in [*self._idle, *self._busy.values()]:
            with contextlib.suppress(OSError):
                worker.sock.close()
        self._idle.clear()
        self._busy.clear()
        self._stop_zygote()



async def _recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                        size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = await loop.sock_recv(sock, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the git worker closed its connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _result(reply: Any) -> Any:
    if reply[0] == "ok":
        return reply[1]
    _, name, message, non_ff = reply
    cls = BY_NAME.get(name, GitError)
    if cls is PushRejected:
        raise PushRejected(message, non_fast_forward=bool(non_ff))
    raise cls(message)


_POOL: GitPool | None = None


def default_pool() -> GitPool:
    """The process's pool (created on first use, closed at exit)."""
    global _POOL
    if _POOL is None:
        _POOL = GitPool()
        atexit.register(_POOL.close)
    return _POOL
