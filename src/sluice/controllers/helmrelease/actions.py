"""The release actions of helm-controller (``internal/reconcile``), one function each.

Every action runs Helm (`runner`), then reads the revision Helm wrote back
from storage and records it the way Flux does: a ``status.history``
snapshot, the action's condition with Flux's reason and message, the
failure counters, and an event (Warning for failures) carrying
``helm.toolkit.fluxcd.io/revision`` and ``token``. They return the Helm
error, if any; `atomic` decides what comes next.

=====================  =========================  ===========================
action                 condition on success       on failure
=====================  =========================  ===========================
install                Released InstallSucceeded  Released InstallFailed
upgrade                Released UpgradeSucceeded  Released UpgradeFailed
test                   TestSuccess TestSucceeded  TestSuccess TestFailed
rollback               Remediated                 Remediated RollbackFailed
                       RollbackSucceeded
uninstall remediation  Remediated                 Remediated UninstallFailed
                       UninstallSucceeded
uninstall              Released=False             Released UninstallFailed
                       UninstallSucceeded
unlock                 Released=False             Released PendingRelease
                       PendingRelease
=====================  =========================  ===========================
"""

from __future__ import annotations

import logging
import time

from sluice.api.helm import (
    INSTALL_FAILED,
    INSTALL_SUCCEEDED,
    RELEASED,
    REMEDIATED,
    ROLLBACK_FAILED,
    ROLLBACK_SUCCEEDED,
    TEST_FAILED,
    TEST_SUCCEEDED,
    TEST_SUCCESS,
    UNINSTALL_FAILED,
    UNINSTALL_SUCCEEDED,
    UPGRADE_FAILED,
    UPGRADE_SUCCEEDED,
    Snapshot,
)
from sluice.core.durations import format_seconds
from sluice.runtime import conditions

from .crds import apply_crds
from .errors import HelmActionError, HelmReleaseError
from .history import push_snapshot
from .request import ReleaseRequest
from .runner import ActionOptions

__all__ = ["install", "rollback", "test", "uninstall", "uninstall_remediation", "unlock",
           "upgrade"]

log = logging.getLogger("sluice.controllers.helmrelease")
PENDING_RELEASE = "PendingRelease"


def _chart(req: ReleaseRequest) -> str:
    return f"{req.chart.name}@{req.chart.version}"


def _ssa_mode(value: str | None) -> str:
    return {"enabled": "true", "disabled": "false"}.get(value or "auto", "auto")


def _bump(req: ReleaseRequest, counter: str | None) -> None:
    status = req.hr.status
    status.failures = (status.failures or 0) + 1
    if counter == "install":
        status.install_failures = (status.install_failures or 0) + 1
    elif counter == "upgrade":
        status.upgrade_failures = (status.upgrade_failures or 0) + 1


async def _record_latest(req: ReleaseRequest, action: str, *,
                         fresh: bool = False) -> Snapshot | None:
    """Snapshot the revision Helm just wrote; refresh older ones Helm re-wrote (superseded)."""
    revisions = await req.storage.history(req.storage_namespace, req.release_name)
    if not revisions:
        return None
    rel = revisions[-1]
    by_version = {r.version: r for r in revisions}
    for snap in req.hr.status.history or []:
        stored = by_version.get(snap.version)
        if stored is not None and stored.name == snap.name and stored.status != snap.status:
            snap.status = stored.status
            snap.digest = stored.digest()
    entry = rel.snapshot(req.config_digest, action)
    if req.chart.oci_digest and rel.chart_version == req.chart.version:
        entry["ociDigest"] = req.chart.oci_digest
    push_snapshot(req.hr, entry, fresh=fresh)
    history = req.hr.status.history or []
    return history[0] if history else None


async def _store_where_flux_does(req: ReleaseRequest) -> None:
    """Move what Helm's install wrote in the release namespace to the storage namespace."""
    if req.storage_namespace != req.release_namespace:
        await req.storage.relocate(req.release_name, req.release_namespace,
                                   req.storage_namespace)


async def _load(req: ReleaseRequest) -> object:
    return await req.runner.load_chart(req.chart.data)


async def install(req: ReleaseRequest) -> HelmActionError | None:
    hr, status, gen = req.hr, req.hr.status, req.generation
    spec = hr.spec.install
    opts = ActionOptions(
        release=req.release_name, namespace=req.release_namespace,
        timeout=req.timeout(spec.timeout if spec else None),
        wait=not (spec and spec.disable_wait), wait_for_jobs=not (spec and spec.disable_wait_for_jobs),
        disable_hooks=bool(spec and spec.disable_hooks),
        disable_openapi_validation=bool(spec and spec.disable_open_api_validation),
        disable_schema_validation=bool(spec and spec.disable_schema_validation),
        take_ownership=not (spec and spec.disable_take_ownership),
        create_namespace=bool(spec and spec.create_namespace and hr.spec.target_namespace),
        server_side_apply="false" if (spec and spec.server_side_apply is False) else "true",
        description="Install complete",
        post_renderer_args=req.post_renderer_args)
    status.last_attempted_release_action = "install"
    started = time.monotonic()
    chart = await _load(req)
    try:
        await apply_crds(req.acting, hr, req.chart, "install", req.release_name)
        try:
            await req.runner.install(req.user, chart, req.values, opts)
        finally:
            await _store_where_flux_does(req)
    except HelmActionError as exc:
        status.last_attempted_release_action_duration = format_seconds(time.monotonic() - started)
        if exc.released:
            await _record_latest(req, "install", fresh=True)
        _bump(req, "install")
        message = (f"Helm install failed for release {req.release_namespace}/{req.release_name} "
                   f"with chart {_chart(req)}: {exc.message}")
        conditions.mark_false(status, RELEASED, INSTALL_FAILED, message, gen)
        await req.event(True, INSTALL_FAILED, message)
        return exc
    finally:
        chart.close()  # type: ignore[attr-defined]
    status.last_attempted_release_action_duration = format_seconds(time.monotonic() - started)
    snap = await _record_latest(req, "install", fresh=True)
    rel = snap.full_release_name() if snap else f"{req.release_namespace}/{req.release_name}"
    message = f"Helm install succeeded for release {rel} with chart {_chart(req)}"
    conditions.mark_true(status, RELEASED, INSTALL_SUCCEEDED, message, gen)
    conditions.delete(status, REMEDIATED)
    await req.event(False, INSTALL_SUCCEEDED, message)
    return None


async def upgrade(req: ReleaseRequest) -> HelmActionError | None:
    hr, status, gen = req.hr, req.hr.status, req.generation
    spec = hr.spec.upgrade
    opts = ActionOptions(
        release=req.release_name, namespace=req.release_namespace,
        timeout=req.timeout(spec.timeout if spec else None),
        wait=not (spec and spec.disable_wait), wait_for_jobs=not (spec and spec.disable_wait_for_jobs),
        disable_hooks=bool(spec and spec.disable_hooks),
        disable_openapi_validation=bool(spec and spec.disable_open_api_validation),
        disable_schema_validation=bool(spec and spec.disable_schema_validation),
        take_ownership=not (spec and spec.disable_take_ownership),
        server_side_apply=_ssa_mode(spec.server_side_apply if spec else None),
        force=bool(spec and spec.force), cleanup_on_fail=bool(spec and spec.cleanup_on_fail),
        reset_values=not (spec and spec.preserve_values),
        reuse_values=bool(spec and spec.preserve_values),
        max_history=hr.max_history(), description="Upgrade complete",
        post_renderer_args=req.post_renderer_args)
    status.last_attempted_release_action = "upgrade"
    started = time.monotonic()
    chart = await _load(req)
    try:
        await apply_crds(req.acting, hr, req.chart, "upgrade", req.release_name)
        await req.runner.upgrade(req.storage_namespace, req.user, chart, req.values, opts)
    except HelmActionError as exc:
        status.last_attempted_release_action_duration = format_seconds(time.monotonic() - started)
        if exc.released:
            await _record_latest(req, "upgrade")
        _bump(req, "upgrade")
        message = (f"Helm upgrade failed for release {req.release_namespace}/{req.release_name} "
                   f"with chart {_chart(req)}: {exc.message}")
        conditions.mark_false(status, RELEASED, UPGRADE_FAILED, message, gen)
        await req.event(True, UPGRADE_FAILED, message)
        return exc
    finally:
        chart.close()  # type: ignore[attr-defined]
    status.last_attempted_release_action_duration = format_seconds(time.monotonic() - started)
    snap = await _record_latest(req, "upgrade")
    rel = snap.full_release_name() if snap else f"{req.release_namespace}/{req.release_name}"
    message = f"Helm upgrade succeeded for release {rel} with chart {_chart(req)}"
    conditions.mark_true(status, RELEASED, UPGRADE_SUCCEEDED, message, gen)
    conditions.delete(status, REMEDIATED)
    await req.event(False, UPGRADE_SUCCEEDED, message)
    return None


def _test_filters(req: ReleaseRequest) -> tuple[list[str], list[str]]:
    include: list[str] = []
    exclude: list[str] = []
    for f in (req.hr.spec.test.filters if req.hr.spec.test else None) or []:
        (exclude if f.exclude else include).append(f.name)
    return include, exclude


async def test(req: ReleaseRequest) -> HelmActionError | None:
    hr, status, gen = req.hr, req.hr.status, req.generation
    spec = hr.spec.test
    include, exclude = _test_filters(req)
    opts = ActionOptions(release=req.release_name, namespace=req.release_namespace,
                         timeout=req.timeout(spec.timeout if spec else None),
                         include_tests=include, exclude_tests=exclude)
    error: HelmActionError | None = None
    try:
        await req.runner.test(req.storage_namespace, req.user, opts)
    except HelmActionError as exc:
        error = exc
    snap = await _record_latest(req, (status.history[0].action if status.history else None)
                                or "upgrade")
    rel = snap.full_release_name() if snap else f"{req.release_namespace}/{req.release_name}"
    chart = snap.versioned_chart_name() if snap else _chart(req)
    if snap is not None and snap.test_hooks is None:
        # No test hooks at all: recorded as an empty map so the release counts as tested.
        snap.test_hooks = {}
    if error is not None:
        status.failures = (status.failures or 0) + 1
        from .state import ignores_test_failures
        if not ignores_test_failures(hr):
            _bump_release_counter(req)
        message = f"Helm test failed for release {rel} with chart {chart}: {error.message}"
        conditions.mark_false(status, TEST_SUCCESS, TEST_FAILED, message, gen)
        await req.event(True, TEST_FAILED, message)
        return error
    count = len(snap.test_hooks or {}) if snap else 0
    if count == 0:
        detail = "no test hooks"
    elif count == 1:
        detail = "1 test hook completed successfully"
    else:
        detail = f"{count} test hooks completed successfully"
    message = f"Helm test succeeded for release {rel} with chart {chart}: {detail}"
    conditions.mark_true(status, TEST_SUCCESS, TEST_SUCCEEDED, message, gen)
    await req.event(False, TEST_SUCCEEDED, message)
    return None


def _bump_release_counter(req: ReleaseRequest) -> None:
    status = req.hr.status
    if status.last_attempted_release_action == "install":
        status.install_failures = (status.install_failures or 0) + 1
    elif status.last_attempted_release_action == "upgrade":
        status.upgrade_failures = (status.upgrade_failures or 0) + 1


async def rollback(req: ReleaseRequest, target: Snapshot) -> HelmActionError | None:
    hr, status, gen = req.hr, req.hr.status, req.generation
    spec = hr.spec.rollback
    opts = ActionOptions(
        release=req.release_name, namespace=req.release_namespace,
        timeout=req.timeout(spec.timeout if spec else None), version=target.version,
        wait=not (spec and spec.disable_wait), wait_for_jobs=not (spec and spec.disable_wait_for_jobs),
        disable_hooks=bool(spec and spec.disable_hooks),
        server_side_apply=_ssa_mode(spec.server_side_apply if spec else None),
        force=bool(spec and spec.force), cleanup_on_fail=bool(spec and spec.cleanup_on_fail),
        max_history=hr.max_history())
    prev = f"{target.full_release_name()} with chart {target.versioned_chart_name()}"
    try:
        await req.runner.rollback(req.storage_namespace, req.user, opts)
    except HelmActionError as exc:
        await _record_latest(req, "rollback")
        status.failures = (status.failures or 0) + 1
        message = f"Helm rollback to previous release {prev} failed: {exc.message}"
        conditions.mark_false(status, REMEDIATED, ROLLBACK_FAILED, message, gen)
        await req.event(True, ROLLBACK_FAILED, message)
        return exc
    rel = await req.storage.latest(req.storage_namespace, req.release_name)
    if rel is not None:
        push_snapshot(hr, rel.snapshot(target.config_digest, "rollback"))
    message = f"Helm rollback to previous release {prev} succeeded"
    conditions.mark_true(status, REMEDIATED, ROLLBACK_SUCCEEDED, message, gen)
    await req.event(False, ROLLBACK_SUCCEEDED, message)
    return None


def _uninstall_options(req: ReleaseRequest) -> ActionOptions:
    spec = req.hr.spec.uninstall
    return ActionOptions(
        release=req.release_name, namespace=req.release_namespace,
        timeout=req.timeout(spec.timeout if spec else None),
        wait=not (spec and spec.disable_wait), disable_hooks=bool(spec and spec.disable_hooks),
        keep_history=bool(spec and spec.keep_history),
        deletion_propagation=(spec.deletion_propagation if spec else None) or "background")


async def uninstall_remediation(req: ReleaseRequest) -> HelmActionError | None:
    status, gen = req.hr.status, req.generation
    latest = status.history[0] if status.history else None
    rel = latest.full_release_name() if latest else f"{req.release_namespace}/{req.release_name}"
    chart = latest.versioned_chart_name() if latest else _chart(req)
    try:
        await req.runner.uninstall(req.storage_namespace, req.user, _uninstall_options(req))
    except HelmActionError as exc:
        status.failures = (status.failures or 0) + 1
        message = f"Helm uninstall remediation for release {rel} with chart {chart} failed: " \
                  f"{exc.message}"
        conditions.mark_false(status, REMEDIATED, UNINSTALL_FAILED, message, gen)
        await req.event(True, UNINSTALL_FAILED, message)
        return exc
    await _record_latest(req, "uninstall-remediation")
    message = f"Helm uninstall remediation for release {rel} with chart {chart} succeeded"
    conditions.mark_true(status, REMEDIATED, UNINSTALL_SUCCEEDED, message, gen)
    await req.event(False, UNINSTALL_SUCCEEDED, message)
    return None


async def uninstall(req: ReleaseRequest) -> HelmActionError | None:
    """Uninstall on deletion or when the release target moved (Released=False on success)."""
    status, gen = req.hr.status, req.generation
    latest = status.history[0] if status.history else None
    rel = latest.full_release_name() if latest else f"{req.release_namespace}/{req.release_name}"
    chart = latest.versioned_chart_name() if latest else _chart(req)
    current = await req.storage.latest(req.storage_namespace, req.release_name)
    if current is None:
        message = f"Release {rel} was not found, assuming it is uninstalled"
        conditions.mark_false(status, RELEASED, UNINSTALL_SUCCEEDED, message, gen)
        return None
    if current.status == "uninstalled":
        message = f"Release {rel} was already uninstalled"
        conditions.mark_false(status, RELEASED, UNINSTALL_SUCCEEDED, message, gen)
        return None
    try:
        await req.runner.uninstall(req.storage_namespace, req.user, _uninstall_options(req))
    except HelmActionError as exc:
        status.failures = (status.failures or 0) + 1
        message = f"Helm uninstall failed for release {rel} with chart {chart}: {exc.message}"
        conditions.mark_false(status, RELEASED, UNINSTALL_FAILED, message, gen)
        await req.event(True, UNINSTALL_FAILED, message)
        return exc
    message = f"Helm uninstall succeeded for release {rel} with chart {chart}"
    conditions.mark_false(status, RELEASED, UNINSTALL_SUCCEEDED, message, gen)
    await req.event(False, UNINSTALL_SUCCEEDED, message)
    return None


async def unlock(req: ReleaseRequest) -> HelmReleaseError | None:
    status, gen = req.hr.status, req.generation
    current = await req.storage.latest(req.storage_namespace, req.release_name)
    if current is None:
        return None
    previous = current.status
    rel = f"{current.namespace}/{current.name}.v{current.version}"
    chart = f"{current.chart_name}@{current.chart_version}"
    try:
        await req.storage.unlock(req.storage_namespace, current)
    except HelmReleaseError as exc:
        status.failures = (status.failures or 0) + 1
        message = f"Unlock of Helm release {rel} with chart {chart} in {previous} state " \
                  f"failed: {exc.message}"
        conditions.mark_false(status, RELEASED, PENDING_RELEASE, message, gen)
        await req.event(True, PENDING_RELEASE, message)
        return exc
    if status.history and status.history[0].version == current.version:
        push_snapshot(req.hr, current.snapshot(status.history[0].config_digest,
                                               status.history[0].action or "upgrade"))
    message = f"Unlocked Helm release {rel} with chart {chart} in {previous} state"
    conditions.mark_false(status, RELEASED, PENDING_RELEASE, message, gen)
    await req.event(False, PENDING_RELEASE, message)
    return None
