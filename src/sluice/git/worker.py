"""The body of one Git worker process: run operations until told to stop.

A worker is forked by the zygote (`zygote.py`) with one end of a socket
pair. It runs one operation at a time from `sluice.git.ops` on a thread
while its main thread watches the socket: when the controller closes its
end (the operation's deadline passed, or the caller was cancelled) the
worker leaves at once with `os._exit`, whatever libgit2 is blocked in, so
its connection is closed by the kernel and nothing lingers. As a backstop,
a worker whose operation overruns its own deadline by `GRACE` seconds exits
too, even if nobody closed the socket.

libgit2 state that is process-wide (`pygit2.settings.homedir` for the
known_hosts pin, the CA store) is therefore private to the worker: one
operation's host never waits on another's.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from sluice.git import archiving, changes, ops, wire
from sluice.git.errors import GitError, PushRejected

__all__ = ["GRACE", "serve"]

GRACE = 5.0
_OPS: dict[str, Callable[..., Any]] = {"remote_revision": ops.remote_revision, "checkout": ops.checkout,
        "commit_push": ops.commit_push, "commit_changes": changes.read_changes,
        "archive": archiving.archive}


def _reply(result: Any = None, error: BaseException | None = None) -> bytes:
    if error is None:
        return wire.encode(("ok", result))
    if isinstance(error, GitError):
        non_ff = isinstance(error, PushRejected) and error.non_fast_forward
        return wire.encode(("error", type(error).__name__, error.message, non_ff))
    # Not a GitError: a bug, never a secret-bearing library message.
    return wire.encode(("error", "GitOperationFailed",
                        f"git worker failed: {type(error).__name__}", False))


def _timeout_of(args: tuple[Any, ...]) -> float:
    last = args[-1] if args else None
    return float(last) if isinstance(last, int | float) else 3600.0


def _work(name: str, args: tuple[Any, ...], reply: list[bytes], done_w: int) -> None:
    try:
        reply.append(_reply(_OPS[name](*args)))
    except BaseException as err:  # sent back, never raised here
        reply.append(_reply(error=err))
    os.write(done_w, b"x")


def serve(sock: socket.socket) -> None:
    """Answer requests on `sock` until it closes; never returns normally."""
    while True:
        request = wire.recv_blocking(sock)
        if request is None:
            os._exit(0)
        name, args = request
        done_r, done_w = os.pipe()
        reply: list[bytes] = []
        threading.Thread(target=_work, args=(name, args, reply, done_w), name="sluice-git-op",
                         daemon=True).start()
        deadline = time.monotonic() + _timeout_of(args) + GRACE
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os._exit(3)  # overran its deadline and nobody stopped it
            readable, _, _ = select.select([sock.fileno(), done_r], [], [], left)
            if done_r in readable:
                break
            if readable:
                os._exit(0)  # closed: the controller gave up on this operation
        os.close(done_r)
        os.close(done_w)
        sock.sendall(reply[0])
