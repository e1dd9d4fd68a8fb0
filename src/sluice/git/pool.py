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
  hangs) is *old*: it moves to the *long* lane (at most `max_long`
  operations) and frees its slot, so operations that are slow or stuck
  cannot take the concurrency everyone shares; they cost a sleeping
  process each. At most `max_workers + max_long` processes ever run.
* hosts (scheme, host and port of the URL): a host with an old operation
  is *stalling*. Its operations may hold at most a quarter of the long lane
  and, together with other stalling hosts' and suspects' (below), half of
  the shared slots: the other half (the *reserve*) stays free for hosts
  that answer, however many operations one silent host has queued (issue 15: 100 hung fetches used to take all 72
  processes, and a healthy source waited one whole `spec.timeout`). Old
  operations that found the long lane full wait in their shared slot and
  move over as soon as it has room.
* preemption: when even that is not enough (more hosts hang at once than
  the long lane holds, each new one taking a reserve slot until it proves
  silent), a caller that may use the reserve and finds no shared slot free
  ends one of the old operations sitting in a shared slot: a suspect's
  first, then the host with the most old operations, then the oldest. It
  fails with `GitPreempted` (a `GitTimeout`), as it would have at its
  deadline, only sooner. The processes stay bounded; what is lost is the
  rest of that hung operation's `spec.timeout`.
* fairness: callers name themselves (`key`, e.g. ``GitRepository/ns/name``);
  a key whose last operation timed out is *suspect* until it succeeds
  again, and suspects never hold more than half of either lane. Waiting
  callers are served others before suspects, then hosts that are not
  stalling first, then the host with the fewest operations running, then
  in arrival order.

The pool works from whichever event loop calls it (one at a time): it
holds only plain sockets and registers them with the running loop per call.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.git import wire
from sluice.git.auth import check_url, safe_url
from sluice.git.errors import (
    BY_NAME,
    GitError,
    GitPreempted,
    GitTimeout,
    PushRejected,
    WorkerCrashed,
)

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
    stalling_hosts: int = 0  # hosts with an operation running past `young_for`
    preempted: int = 0  # operations ended early to free a slot (since the pool started)


@dataclass
class _Worker:
    pid: int
    sock: socket.socket
    trust: str = ""


@dataclass(eq=False)
class _Slot:
    suspect: bool
    host: str  # scheme://host:port of the operation's URL
    long: bool = False
    old: bool = False  # still running after `young_for`
    started: float = 0.0
    task: asyncio.Task[Any] | None = None  # the caller, preempted by cancelling it
    preempted: bool = False


@dataclass
class _Waiter:
    slot: _Slot
    future: asyncio.Future[None]
    order: int  # arrival


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
        # Shared slots kept for hosts that are not stalling; long-lane places per host.
        self._reserve = self.max_workers // 2
        self._host_long = max(1, self.max_long // 4)
        self._held: set[_Slot] = set()
        self._running_by_host: collections.Counter[str] = collections.Counter()
        self._old_by_host: collections.Counter[str] = collections.Counter()
        self._long_by_host: collections.Counter[str] = collections.Counter()
        self._arrivals = itertools.count()
        self._spawned = 0
        self._killed = 0
        self._preempted = 0

    # -------------------------------------------------------------- reading
    def stats(self) -> PoolStats:
        return PoolStats(self._used[0], self._used[1], sum(self._by_suspects), len(self._waiters),
                         len(self._idle), self._spawned, self._killed, len(self._old_by_host),
                         self._preempted)

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
        slot = _Slot(self.is_suspect(key), _host(op.url))
        try:
            await self._acquire(slot, deadline)
        except TimeoutError:
            raise GitTimeout(f"{op.step} '{safe_url(op.url)}': timed out after {timeout:g}s "
                             "waiting for a free git worker") from None
        slot.task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        aging = loop.call_later(self.young_for, self._age, slot)
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
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not slot.preempted or task is None or task.uncancel() > 0:
                raise  # cancelled by its caller (or by both)
            self._suspect(key)
            raise GitPreempted(
                f"{op.step} '{safe_url(op.url)}': stopped after "
                f"{time.monotonic() - slot.started:.0f}s of its {timeout:g}s to free a git "
                f"worker: {self._used[0] + self._used[1]} operations were hanging at once"
            ) from None
        except (OSError, EOFError):
            raise WorkerCrashed(f"{op.step} '{safe_url(op.url)}': the git worker process "
                                "exited unexpectedly") from None
        finally:
            aging.cancel()
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
    def _stalling(self, host: str) -> bool:
        return self._old_by_host[host] > 0

    def _restricted(self, slot: _Slot) -> bool:
        """Kept out of the reserve: a suspect, or an operation of a stalling host."""
        return slot.suspect or self._stalling(slot.host)

    def _restricted_shared(self) -> int:
        return sum(1 for s in self._held if not s.long and self._restricted(s))

    def _fits_shared(self, slot: _Slot, restricted_shared: int) -> bool:
        if self._used[0] >= self.max_workers:
            return False
        return (not self._restricted(slot)
                or restricted_shared < self.max_workers - self._reserve)

    def _fits_long(self, slot: _Slot) -> bool:
        if self._used[1] >= self.max_long:
            return False
        if slot.suspect and self._by_suspects[1] >= max(1, self.max_long // 2):
            return False
        return self._long_by_host[slot.host] < self._host_long

    def _occupy(self, slot: _Slot, lane: int, delta: int) -> None:
        self._used[lane] += delta
        self._by_suspects[lane] += delta * slot.suspect
        if lane:
            _count(self._long_by_host, slot.host, delta)

    async def _acquire(self, slot: _Slot, deadline: float) -> None:
        waiter = _Waiter(slot, asyncio.get_running_loop().create_future(), next(self._arrivals))
        self._waiters.append(waiter)
        self._wake()
        if waiter.future.done():
            return  # served at once
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                await waiter.future
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.future.done() and not waiter.future.cancelled():
                self._release(slot)  # handed a slot just as we gave up
            raise

    def _age(self, slot: _Slot) -> None:
        """Still running after `young_for`: old, its host stalling; off to the long lane."""
        slot.old = True
        _count(self._old_by_host, slot.host, 1)
        self._to_long(slot)
        self._wake()

    def _to_long(self, slot: _Slot) -> None:
        if slot.long or not self._fits_long(slot):
            return
        self._occupy(slot, 0, -1)
        self._occupy(slot, 1, 1)
        slot.long = True

    def _release(self, slot: _Slot) -> None:
        if slot not in self._held:
            return
        self._held.discard(slot)
        self._occupy(slot, int(slot.long), -1)
        _count(self._running_by_host, slot.host, -1)
        if slot.old:
            _count(self._old_by_host, slot.host, -1)
        if slot.long:
            # Room in the long lane: old operations waiting in shared slots move over.
            for waiting in sorted((s for s in self._held if s.old and not s.long),
                                  key=lambda s: s.started):
                self._to_long(waiting)
        self._wake()

    def _wake(self) -> None:
        """Hand free shared slots to waiters, best first (see the module docs)."""
        while True:
            restricted_shared = self._restricted_shared()
            best: tuple[tuple[bool, bool, int, int], _Waiter] | None = None
            for waiter in self._waiters:
                slot = waiter.slot
                if waiter.future.done() or not self._fits_shared(slot, restricted_shared):
                    continue
                rank = (slot.suspect, self._stalling(slot.host),
                        self._running_by_host[slot.host], waiter.order)
                if best is None or rank < best[0]:
                    best = (rank, waiter)
            if best is None:
                break
            waiter = best[1]
            self._waiters.remove(waiter)
            waiter.slot.started = time.monotonic()
            self._held.add(waiter.slot)
            self._occupy(waiter.slot, 0, 1)
            _count(self._running_by_host, waiter.slot.host, 1)
            waiter.future.set_result(None)
        self._preempt()

    def _preempt(self) -> None:
        """End old operations sitting in shared slots that callers of sound hosts wait for."""
        if self._used[0] < self.max_workers:
            return
        shared = [s for s in self._held if not s.long]
        needy = sum(1 for w in self._waiters
                    if not w.future.done() and not self._restricted(w.slot))
        needy -= sum(s.preempted for s in shared)
        candidates = [s for s in shared if s.old and not s.preempted and s.task is not None]
        while needy > 0 and candidates:
            # Suspects' first, then the host with the most old operations, then the oldest.
            victim = max(candidates, key=lambda s: (s.suspect, self._old_by_host[s.host],
                                                    -s.started))
            candidates.remove(victim)
            victim.preempted = True
            self._preempted += 1
            assert victim.task is not None
            victim.task.cancel()
            needy -= 1

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


def _host(url: str) -> str:
    """Whom an operation talks to: scheme://host:port of its URL."""
    try:
        scheme, where = check_url(url)
    except GitError:
        return url
    return f"{scheme}://{where}"


def _count(counter: collections.Counter[str], key: str, delta: int) -> None:
    counter[key] += delta
    if counter[key] <= 0:
        del counter[key]


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
