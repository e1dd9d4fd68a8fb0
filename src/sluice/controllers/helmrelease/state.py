"""Where the release stands compared to the HelmRelease: helm-controller's ``DetermineReleaseState``.

The checks run in Flux's order on the latest revision in Helm's storage and
the newest ``status.history`` snapshot:

==============================================================  ============
condition                                                       state
==============================================================  ============
no release in storage                                           Absent
storage status ``pending-*``                                    Locked
no history and an uninstalled release                           Absent
no history                                                      Unmanaged
snapshot digest differs from the stored release                 Unmanaged
storage status ``failed``                                       Failed
storage status ``uninstalled``                                  Absent
chart name or version differs from the loaded chart             OutOfSync
values do not match the snapshot's config digest                OutOfSync
postRenderers / commonMetadata digests changed (new generation) OutOfSync
tests enabled and the snapshot not tested                       Untested
tests failed under a remediation that does not ignore them      Failed
drift detection on and the cluster differs                      Drifted
otherwise                                                       InSync
==============================================================  ============

Drift is checked by the caller (it needs the cluster), after this returns
InSync.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sluice.api.helm import HelmRelease, Snapshot
from sluice.api.helm_actions import InstallRemediation

from .storage import PENDING_STATUSES, StoredRelease

__all__ = ["ReleaseState", "State", "determine_state", "has_been_tested", "has_test_failures",
           "spec_digest", "tests_enabled"]


class State(StrEnum):
    ABSENT = "Absent"
    LOCKED = "Locked"
    UNMANAGED = "Unmanaged"
    FAILED = "Failed"
    OUT_OF_SYNC = "OutOfSync"
    UNTESTED = "Untested"
    DRIFTED = "Drifted"
    IN_SYNC = "InSync"


@dataclass
class ReleaseState:
    state: State
    reason: str = ""


def spec_digest(value: Any) -> str | None:
    """``sha256:`` of the JSON of a spec field (postRenderers, commonMetadata), None if unset."""
    if not value:
        return None
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def tests_enabled(hr: HelmRelease) -> bool:
    return bool(hr.spec.test and hr.spec.test.enable)


def has_been_tested(snap: Snapshot) -> bool:
    """Flux's HasBeenTested: test hooks recorded and all finished (or one failed)."""
    if snap.test_hooks is None:
        return False
    phases = [h.phase for h in snap.test_hooks.values()]
    if not phases:
        return True
    return "Failed" in phases or all(p == "Succeeded" for p in phases)


def has_test_failures(snap: Snapshot) -> bool:
    return any(h.phase == "Failed" for h in (snap.test_hooks or {}).values())


def ignores_test_failures(hr: HelmRelease) -> bool:
    """``ignoreTestFailures`` of the active remediation, defaulting to ``test.ignoreFailures``."""
    default = bool(hr.spec.test and hr.spec.test.ignore_failures)
    rem: InstallRemediation | None
    if hr.status.last_attempted_release_action == "upgrade":
        rem = hr.spec.upgrade.remediation if hr.spec.upgrade else None
    else:
        rem = hr.spec.install.remediation if hr.spec.install else None
    if rem is not None and rem.ignore_test_failures is not None:
        return rem.ignore_test_failures
    return default


def determine_state(hr: HelmRelease, current: StoredRelease | None, chart_name: str,
                    chart_version: str, config_digest: str) -> ReleaseState:
    """The release state; see the module docs."""
    if current is None:
        return ReleaseState(State.ABSENT, "no release in storage for object")
    if current.status in PENDING_STATUSES:
        return ReleaseState(State.LOCKED, f"release with status '{current.status}'")
    history = hr.status.history or []
    if not history:
        if current.status == "uninstalled":
            return ReleaseState(State.ABSENT, "found uninstalled release in storage")
        return ReleaseState(State.UNMANAGED, "found existing release in storage")
    latest = history[0]
    if latest.version != current.version or latest.name != current.name or \
            latest.digest != current.digest():
        return ReleaseState(State.UNMANAGED, "release not observed to be made for object")
    if current.status == "failed":
        return ReleaseState(State.FAILED)
    if current.status == "uninstalled":
        return ReleaseState(State.ABSENT, "found uninstalled release in storage")
    if current.chart_name != chart_name or current.chart_version != chart_version:
        return ReleaseState(State.OUT_OF_SYNC, "release chart changed")
    if latest.config_digest != config_digest:
        return ReleaseState(State.OUT_OF_SYNC, "release config values changed")
    if hr.metadata.generation != hr.status.observed_generation:
        renderers = spec_digest([p.to_dict() for p in hr.spec.post_renderers or []])
        if renderers != hr.status.observed_post_renderers_digest:
            return ReleaseState(State.OUT_OF_SYNC, "postrenderers digest has changed")
        common = spec_digest(hr.spec.common_metadata.to_dict()
                             if hr.spec.common_metadata else None)
        if common != hr.status.observed_common_metadata_digest:
            return ReleaseState(State.OUT_OF_SYNC, "common metadata digest has changed")
    if tests_enabled(hr):
        if not has_been_tested(latest):
            return ReleaseState(State.UNTESTED)
        if has_test_failures(latest) and not ignores_test_failures(hr):
            return ReleaseState(State.FAILED, "release has test in failed phase")
    return ReleaseState(State.IN_SYNC)
