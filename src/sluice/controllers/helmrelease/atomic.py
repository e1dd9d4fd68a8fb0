"""helm-controller's ``AtomicRelease``: determine the state, pick the next action, run it, repeat.

The rules (``internal/reconcile/atomic_release.go``), in short:

* each action has a type — ``release`` (install, upgrade), ``remediate``
  (rollback, uninstall remediation), ``test``, ``unlock``, ``drift`` — and a
  type runs at most once per reconcile: a second one ends the loop (with
  retries left: ``Reconciling ProgressingWithRetry`` and an immediate requeue);
* before an action, ``Reconciling=True Progressing`` ``Running '<name>' action
  with timeout of <d>`` (release actions also set Ready=Unknown) is written;
* after an action the conditions are summarised into Ready (`history`);
  an action that failed before Helm wrote anything returns its error;
* after a remediation the loop always stops: if retries remain (or it was an
  uninstall after an upgrade) it requeues, else ``Stalled RetriesExceeded``
  ``Failed to <install|upgrade> after <N> attempt(s)`` and a terminal error;
* retries: ``retries >= 0 && failures > retries`` means exhausted; upgrade's
  ``remediateLastFailure`` defaults to ``retries > 0`` (install's to false);
  the default (retries 0) never rolls back.

`next_action` is Flux's ``actionForState`` (table in `state`'s docs).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sluice.api.helm import (
    DRIFT_DETECTED,
    DRIFTED,
    INSTALL_FAILED,
    INSTALL_SUCCEEDED,
    NO_DRIFT_DETECTED,
    RELEASED,
    REMEDIATED,
    UPGRADE_FAILED,
    UPGRADE_SUCCEEDED,
    HelmRelease,
    Snapshot,
)
from sluice.api.helm_actions import InstallRemediation, UpgradeRemediation
from sluice.api.meta import PROGRESSING, PROGRESSING_WITH_RETRY, READY, RECONCILING
from sluice.core.durations import format_seconds, seconds_or
from sluice.runtime import conditions

from . import actions
from .drift import DriftReport, correct_drift, detect_drift
from .errors import HelmReleaseError
from .history import summarize, truncate
from .request import ReleaseRequest
from .state import State, determine_state
from .storage import StoredRelease

__all__ = ["AtomicRelease", "Outcome", "RetriesExceeded"]

log = logging.getLogger("sluice.controllers.helmrelease")

RETRIES_EXCEEDED = "RetriesExceeded"
MISSING_ROLLBACK_TARGET = "MissingRollbackTarget"
RELEASE, REMEDIATE, TEST, UNLOCK, DRIFT = "release", "remediate", "test", "unlock", "drift"


class RetriesExceeded(HelmReleaseError):
    """No retries left: the HelmRelease stalls until its spec, chart or values change."""


@dataclass
class Outcome:
    """How the loop ended: requeue now, after the retry interval, or at ``spec.interval``."""

    requeue_now: bool = False
    retry_after: float | None = None
    terminal: bool = False
    error: HelmReleaseError | None = None


@dataclass
class _Action:
    name: str
    kind: str
    run: Callable[[], Awaitable[HelmReleaseError | None]]
    timeout: float


def _remediation(hr: HelmRelease) -> InstallRemediation | UpgradeRemediation | None:
    if hr.status.last_attempted_release_action == "upgrade":
        return hr.spec.upgrade.remediation if hr.spec.upgrade else None
    if hr.status.last_attempted_release_action == "install":
        return hr.spec.install.remediation if hr.spec.install else None
    return None


def _retries(rem: InstallRemediation | UpgradeRemediation | None) -> int:
    return rem.retries if rem is not None and rem.retries is not None else 0


def _failure_count(hr: HelmRelease, action: str | None) -> int:
    if action == "upgrade":
        return hr.status.upgrade_failures or 0
    return hr.status.install_failures or 0


def _exhausted(retries: int, failures: int) -> bool:
    return retries >= 0 and failures > retries


def _remediate_last_failure(hr: HelmRelease) -> bool:
    rem = _remediation(hr)
    if isinstance(rem, UpgradeRemediation) or hr.status.last_attempted_release_action == "upgrade":
        if rem is not None and rem.remediate_last_failure is not None:
            return rem.remediate_last_failure
        return _retries(rem) > 0
    return bool(rem is not None and rem.remediate_last_failure)


def _retry_strategy(hr: HelmRelease) -> float | None:
    """``RetryOnFailure``'s retry interval for the last attempted action, else None."""
    spec = hr.spec.upgrade if hr.status.last_attempted_release_action == "upgrade" \
        else hr.spec.install
    strategy = spec.strategy if spec else None
    if strategy is not None and strategy.name == "RetryOnFailure":
        return seconds_or(strategy.retry_interval, 300.0)
    return None


DetectDrift = Callable[[ReleaseRequest, StoredRelease | None], Awaitable[DriftReport | None]]


class AtomicRelease:
    """Runs the state machine for one reconcile of one HelmRelease."""

    def __init__(self, req: ReleaseRequest, *, drift_check: bool = True,
                 detect: DetectDrift = detect_drift) -> None:
        self.req = req
        self.drift_check = drift_check
        # `livedrift.ReleaseLiveState.detect` skips the dry run while watches show no change.
        self.detect = detect
        self.drift: DriftReport | None = None

    async def run(self) -> Outcome:
        req, hr = self.req, self.req.hr
        seen: set[str] = set()
        while True:
            current = await req.storage.latest(req.storage_namespace, req.release_name)
            state = determine_state(hr, current, req.chart.name, req.chart.version,
                                    req.config_digest)
            if state.state is State.IN_SYNC and self.drift_check and _drift_mode(hr) in (
                    "enabled", "warn"):
                self.drift = await self.detect(req, current)
                if self.drift is not None and self.drift.changed:
                    state.state = State.DRIFTED
            log.debug("HelmRelease %s/%s: release state %s %s", hr.namespace, hr.name,
                      state.state, state.reason)
            try:
                action = await self._next(state.state)
            except RetriesExceeded as exc:
                conditions.mark_stalled(hr.status, RETRIES_EXCEEDED, exc.message,
                                        req.generation)
                return Outcome(terminal=True, error=exc)
            if action is None:
                return Outcome()
            if action.kind in seen:
                return self._second_action()
            seen.add(action.kind)
            message = (f"Running '{action.name}' action with timeout of "
                       f"{format_seconds(action.timeout)}")
            conditions.mark_reconciling(hr.status, PROGRESSING, message, req.generation)
            if action.kind == RELEASE:
                conditions.mark_unknown(hr.status, READY, PROGRESSING, message, req.generation)
            await req.write()
            error = await action.run()
            summarize(hr)
            if error is not None and isinstance(error, HelmReleaseError) and \
                    not getattr(error, "released", True):
                return Outcome(error=error, retry_after=_retry_strategy(hr))
            if action.kind == REMEDIATE:
                return self._after_remediation()
            if action.kind == DRIFT:
                return Outcome(error=error)

    def _second_action(self) -> Outcome:
        hr = self.req.hr
        retry = _retry_strategy(hr)
        if retry is not None:
            conditions.mark_reconciling(hr.status, PROGRESSING_WITH_RETRY,
                                        f"retrying after {format_seconds(retry)}",
                                        self.req.generation)
            return Outcome(retry_after=retry)
        action = hr.status.last_attempted_release_action
        if not _exhausted(_retries(_remediation(hr)), _failure_count(hr, action)):
            ready = hr.status.condition(READY)
            conditions.mark_reconciling(hr.status, PROGRESSING_WITH_RETRY,
                                        ready.message if ready and ready.message else "",
                                        self.req.generation)
            return Outcome(requeue_now=True)
        conditions.delete(hr.status, RECONCILING)
        return Outcome()

    def _after_remediation(self) -> Outcome:
        hr = self.req.hr
        retry = _retry_strategy(hr)
        if retry is not None:
            return Outcome(retry_after=retry)
        action = hr.status.last_attempted_release_action
        failures = _failure_count(hr, action)
        remediated = hr.status.condition(REMEDIATED)
        uninstall_after_upgrade = action == "upgrade" and remediated is not None and \
            remediated.reason == "UninstallSucceeded"
        if not _exhausted(_retries(_remediation(hr)), failures) or uninstall_after_upgrade:
            return Outcome(requeue_now=True)
        message = f"Failed to {action or 'install'} after {failures} attempt(s)"
        conditions.mark_stalled(hr.status, RETRIES_EXCEEDED, message, self.req.generation)
        return Outcome(terminal=True, error=RetriesExceeded(message))

    # ------------------------------------------------------------ next action
    def _make(self, name: str, kind: str, run: Callable[[], Awaitable[HelmReleaseError | None]],
              action_timeout: str | None = None) -> _Action:
        return _Action(name, kind, run, self.req.timeout(action_timeout))

    async def _next(self, state: State) -> _Action | None:
        req, hr = self.req, self.req.hr
        spec = hr.spec
        if state is State.IN_SYNC:
            truncate(hr)
            if req.forced:
                req.forced = False
                return self._upgrade()
            self._settle_in_sync()
            if _drift_mode(hr) in ("enabled", "warn"):
                conditions.mark_false(hr.status, DRIFTED, NO_DRIFT_DETECTED,
                                      "No drift detected against the cluster state",
                                      req.generation)
            return None
        if state is State.LOCKED:
            return self._make("unlock", UNLOCK, lambda: actions.unlock(req))
        if state is State.ABSENT:
            retries = _retries(spec.install.remediation if spec.install else None)
            if _exhausted(retries, hr.status.install_failures or 0) and not req.forced:
                raise RetriesExceeded(f"Failed to install after "
                                      f"{hr.status.install_failures} attempt(s)")
            req.forced = False
            return self._make("install", RELEASE, lambda: actions.install(req),
                              spec.install.timeout if spec.install else None)
        if state is State.UNMANAGED:
            hr.status.history = None
            return self._upgrade()
        if state is State.OUT_OF_SYNC:
            retries = _retries(spec.upgrade.remediation if spec.upgrade else None)
            if _exhausted(retries, hr.status.upgrade_failures or 0) and not req.forced:
                raise RetriesExceeded(f"Failed to upgrade after "
                                      f"{hr.status.upgrade_failures} attempt(s)")
            req.forced = False
            return self._upgrade()
        if state is State.DRIFTED:
            return await self._drifted()
        if state is State.UNTESTED:
            self._settle_in_sync()
            return self._make("test", TEST, lambda: actions.test(req),
                              spec.test.timeout if spec.test else None)
        if state is State.FAILED:
            return self._failed()
        return None

    def _upgrade(self) -> _Action:
        spec = self.req.hr.spec
        return self._make("upgrade", RELEASE, lambda: actions.upgrade(self.req),
                          spec.upgrade.timeout if spec.upgrade else None)

    def _settle_in_sync(self) -> None:
        """Flux's in-sync bookkeeping: a remediated or once-failed release that is fine again."""
        hr, gen = self.req.hr, self.req.generation
        status = hr.status
        snap = status.history[0] if status.history else None
        if snap is None:
            return
        released = status.condition(RELEASED)
        rel, chart = snap.full_release_name(), snap.versioned_chart_name()
        if conditions.is_true(status, REMEDIATED):
            conditions.delete(status, REMEDIATED)
            conditions.mark_true(status, RELEASED, UPGRADE_SUCCEEDED,
                                 f"Helm upgrade succeeded for release {rel} with chart {chart}",
                                 gen)
        elif released is not None and released.status != "True" and released.reason in (
                INSTALL_FAILED, UPGRADE_FAILED):
            if released.reason == INSTALL_FAILED:
                conditions.mark_true(status, RELEASED, INSTALL_SUCCEEDED,
                                     f"Helm install succeeded for release {rel} with chart "
                                     f"{chart}", gen)
            else:
                conditions.mark_true(status, RELEASED, UPGRADE_SUCCEEDED,
                                     f"Helm upgrade succeeded for release {rel} with chart "
                                     f"{chart}", gen)
        summarize(hr)

    async def _drifted(self) -> _Action | None:
        req, hr = self.req, self.req.hr
        snap = hr.status.history[0] if hr.status.history else None
        report = self.drift
        rel = snap.full_release_name() if snap else req.release_name
        summary = report.summary() if report else ""
        message = f"Cluster state of release {rel} has drifted from the desired state:\n{summary}"
        conditions.mark_true(hr.status, DRIFTED, DRIFT_DETECTED, message, req.generation)
        await req.event(True, DRIFT_DETECTED, message)
        if _drift_mode(hr) != "enabled" or report is None:
            return None
        return self._make("correct cluster drift", DRIFT,
                          lambda: correct_drift(req, report, rel))

    def _failed(self) -> _Action | None:
        req, hr = self.req, self.req.hr
        action = hr.status.last_attempted_release_action
        rem = _remediation(hr)
        if _retry_strategy(hr) is not None or (rem is None and action is None):
            return self._upgrade()
        failures = _failure_count(hr, action)
        if failures <= 0 or req.forced:
            req.forced = False
            return self._upgrade()
        if _exhausted(_retries(rem), failures) and not _remediate_last_failure(hr):
            raise RetriesExceeded(f"Failed to {action or 'install'} after {failures} attempt(s)")
        if action == "install":
            return self._make("uninstall", REMEDIATE, lambda: actions.uninstall_remediation(req),
                              hr.spec.uninstall.timeout if hr.spec.uninstall else None)
        strategy = rem.strategy if isinstance(rem, UpgradeRemediation) else None
        if strategy == "uninstall":
            return self._make("uninstall", REMEDIATE, lambda: actions.uninstall_remediation(req),
                              hr.spec.uninstall.timeout if hr.spec.uninstall else None)
        target = self._rollback_target()
        if target is None:
            message = ("Failed to perform remediation: no previous successful release to "
                       "roll back to")
            conditions.mark_stalled(hr.status, MISSING_ROLLBACK_TARGET, message,
                                    req.generation)
            raise RetriesExceeded(message)
        return self._make("rollback", REMEDIATE, lambda: actions.rollback(req, target),
                          hr.spec.rollback.timeout if hr.spec.rollback else None)

    def _rollback_target(self) -> Snapshot | None:
        history = self.req.hr.status.history or []
        for snap in history[1:]:
            if snap.status in ("deployed", "superseded"):
                return snap
        return None


def _drift_mode(hr: HelmRelease) -> str:
    return (hr.spec.drift_detection.mode if hr.spec.drift_detection else None) or "disabled"
