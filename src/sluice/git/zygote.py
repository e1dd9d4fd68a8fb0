"""The zygote: a small process that forks Git workers with libgit2 already loaded.

Why: a worker must be a separate process (so a deadline can kill it and a
libssh2 crash cannot take the controllers down), but starting Python and
importing pygit2 costs ~150 ms, and forking the controller process itself
(threads, an event loop, sockets) is unsafe. So the pool starts this process
once (``python -m sluice.git.zygote <fd>``); it imports everything a worker
needs, then serves one control socket:

* ``b"s"`` (spawn): fork a worker connected by a new socket pair; the
  controller's end comes back over the control socket (SCM_RIGHTS) with the
  worker's pid;
* ``b"k" + pid`` (kill): SIGKILL that worker. The zygote is the worker's
  parent and reaps it (SIGCHLD), so a pid is never signalled after reuse.

Each worker gets a private scratch directory (`TMPDIR`, `HOME`) that the
zygote deletes when it reaps the worker: a killed worker leaves no temporary
files behind. When the controller process goes away (end of file on the
control socket) the zygote kills its workers and exits.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile

from sluice.git import wire, worker

__all__ = ["main"]

PID = wire.PID
_children: dict[int, str] = {}  # pid -> scratch directory


def _reap(signum: int = 0, frame: object = None) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        scratch = _children.pop(pid, None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _spawn(control: socket.socket) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    scratch = tempfile.mkdtemp(prefix="sluice-git-worker-")
    # No reaping between fork and bookkeeping: a worker dying at once must
    # still have its scratch directory removed.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            control.close()
            ours.close()
            os.environ["HOME"] = os.environ["TMPDIR"] = scratch
            tempfile.tempdir = scratch
            worker.serve(theirs)
        finally:
            os._exit(1)
    _children[pid] = scratch
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    theirs.close()
    socket.send_fds(control, [PID.pack(pid)], [ours.fileno()])
    ours.close()


def main(fd: int) -> None:
    # Make libgit2's global config/home lookups point at nothing of the user's.
    os.environ["HOME"] = tempfile.gettempdir()
    control = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the controller, not us
    try:
        while True:
            command = control.recv(1 + PID.size)
            if not command:
                break
            if command[:1] == b"s":
                _spawn(control)
            elif command[:1] == b"k" and len(command) == 1 + PID.size:
                (pid,) = PID.unpack(command[1:])
                if pid in _children:
                    os.kill(pid, signal.SIGKILL)
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for pid, scratch in list(_children.items()):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
