"""``status.history`` and the Ready summary, as helm-controller keeps them.

* History holds release snapshots, newest first. A successful install
  starts it afresh; other actions push their new revision on top (or update
  the top entry when it is the same revision, e.g. after a test run).
  `truncate` keeps everything up to and including the previous successful
  release (``deployed``/``superseded`` without failed tests unless they are
  ignored), at most 5 entries.
* `summarize` is helm-controller's ``summarize``: Ready takes the reason and
  message of the highest-priority condition among Remediated, TestSuccess
  (only when tests are enabled and their failures not ignored) and Released,
  preferring the one computed for the newest generation; a winning
  Remediated makes Ready False (a remediated release is not what was asked
  for). Ready=True removes Stalled; TestSuccess goes when tests are
  disabled; the post-renderer and common-metadata digests are refreshed.
"""

from __future__ import annotations

from typing import Any

from sluice.api.helm import (
    RELEASED,
    REMEDIATED,
    TEST_SUCCESS,
    HelmRelease,
    Snapshot,
)
from sluice.api.meta import FALSE, READY, STALLED
from sluice.runtime import conditions

from .state import ignores_test_failures, spec_digest, tests_enabled

__all__ = ["MAX_SNAPSHOTS", "push_snapshot", "summarize", "truncate"]

MAX_SNAPSHOTS = 5


def push_snapshot(hr: HelmRelease, snap: dict[str, Any], *, fresh: bool = False) -> None:
    """Record ``snap`` as the newest history entry (replacing one of the same version)."""
    entry = Snapshot.from_dict(snap)
    history = [] if fresh else list(hr.status.history or [])
    if history and history[0].version == entry.version and history[0].name == entry.name:
        history[0] = entry
    else:
        history.insert(0, entry)
    hr.status.history = history[:MAX_SNAPSHOTS * 2]


def _successful(snap: Snapshot, ignore_tests: bool) -> bool:
    if snap.status not in ("deployed", "superseded"):
        return False
    return ignore_tests or not any(h.phase == "Failed" for h in (snap.test_hooks or {}).values())


def truncate(hr: HelmRelease) -> None:
    history = list(hr.status.history or [])
    ignore = ignores_test_failures(hr)
    keep: list[Snapshot] = []
    successes = 0
    for snap in history:
        keep.append(snap)
        if _successful(snap, ignore):
            successes += 1
            if successes == 2:
                break
    hr.status.history = keep[:MAX_SNAPSHOTS] or None


def summarize(hr: HelmRelease) -> None:
    status = hr.status
    gen = hr.metadata.generation
    if not tests_enabled(hr):
        conditions.delete(status, TEST_SUCCESS)
    order = [REMEDIATED]
    if tests_enabled(hr) and not ignores_test_failures(hr):
        order.append(TEST_SUCCESS)
    order.append(RELEASED)
    present = [c for t in order if (c := status.condition(t)) is not None]
    if present:
        newest = max((c.observed_generation or 0) for c in present)
        winner = next(c for c in present if (c.observed_generation or 0) == newest)
        value = FALSE if winner.type == REMEDIATED else winner.status
        conditions.set_condition(status, READY, value, winner.reason or "", winner.message or "",
                                 gen)
    if conditions.is_true(status, READY):
        conditions.delete(status, STALLED)
    status.observed_post_renderers_digest = spec_digest(
        [p.to_dict() for p in hr.spec.post_renderers or []])
    status.observed_common_metadata_digest = spec_digest(
        hr.spec.common_metadata.to_dict() if hr.spec.common_metadata else None)
