"""Pacing drift corrections: at once, unless the drift keeps coming back.

The live-state watches (`sluice.runtime.livestate`) report drift the moment
it happens, and the controllers using them (Kustomization, HelmRelease drift
detection) enqueue a correction at once. Something that keeps rewriting a
field they own would then be fought in a tight loop; `DriftPacer` lets a few
corrections through immediately and spaces out the rest.
"""

from __future__ import annotations

__all__ = ["DriftPacer"]


class DriftPacer:
    """How soon to correct drift: at once, unless it keeps coming back.

    Something that keeps rewriting a field the controller owns (an autoscaler
    setting ``replicas``, another tool) would otherwise be fought in a tight
    loop. Up to ``free`` corrections within ``window`` seconds are immediate;
    each one after that waits twice as long as the last (1 s, 2 s, 4 s ... up
    to ``cap``); a quiet ``window`` resets it.
    """

    def __init__(self, window: float = 30.0, cap: float = 300.0, free: int = 5) -> None:
        self.window = window
        self.cap = cap
        self.free = free
        self._last: dict[str, tuple[float, int, float]] = {}  # owner -> (when, count, delay)

    def delay(self, owner: str, now: float) -> float:
        when, count, delay = self._last.get(owner, (float("-inf"), 0, 0.0))
        if now - when > self.window + delay:
            count, delay = 0, 0.0
        count += 1
        delay = 0.0 if count <= self.free else min(max(1.0, delay * 2), self.cap)
        self._last[owner] = (now, count, delay)
        if len(self._last) > 10_000:  # forget the quiet ones
            self._last = {o: v for o, v in self._last.items() if now - v[0] <= self.window}
        return delay
