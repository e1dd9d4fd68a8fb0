"""What a process has left behind: its threads, its sockets to some ports, its children.

Issue 15 found that every timed-out Git fetch leaked a blocked thread and a
socket (16 -> 42 threads, 37 sockets still open after the objects were
deleted). The stuck-source tests and `bench/bench_stuck_sources.py` take
stock before and after with these readings (Linux `/proc`), so a leak shows
as a difference rather than as a guess.
"""

from __future__ import annotations

import os
import threading

__all__ = ["descendants", "own_threads", "sockets_to"]


def sockets_to(ports: set[int]) -> int:
    """Sockets of this process connected to one of `ports` on loopback (/proc/net/tcp)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            mine.add(link[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) in ports and fields[9] in mine:
                    count += 1
    return count


def descendants() -> set[int]:
    """Pids of every process below this one (children, grandchildren, ...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            parents[int(entry)] = int(fields[1])
    out: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - out
        out |= frontier
    return out


def own_threads() -> list[str]:
    """Thread names, leaving out the event loop's bounded executor (reused, never leaked)."""
    return sorted(t.name for t in threading.enumerate() if not t.name.startswith("asyncio_"))
