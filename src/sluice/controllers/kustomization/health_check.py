"""Step 9 of a Kustomization reconcile: wait until what it applied is healthy.

``wait: true`` checks every object the apply wrote or found (not the
skipped ones), ``healthChecks`` the objects it names; a Kustomization never
waits on itself. The check runs within the reconcile's timeout, failing fast
on a Failed object, as kustomize-controller does with kstatus:
``Running health checks for revision <rev> with a timeout of <t>`` while it
runs (``Reconciling`` and ``Healthy=Unknown``), then ``Healthy=True``
``Health check passed in <d>`` (an event when it was not healthy before or
the revision is new), or ``Healthy=False`` and ``Ready=False``
``HealthCheckFailed`` with ``health check failed after <d>: <why>``.

Objects are judged from what the apply was answered and what the live-state
watches see next (`sluice.kube.latest`), read with GETs only when no watch
brings their changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sluice.api.kustomize import GROUP, Kustomization
from sluice.api.meta import HEALTH_CHECK_FAILED, HEALTHY, PROGRESSING, READY, SUCCEEDED
from sluice.controllers.kustomization.progress import ReconcileState, StepFailed
from sluice.core.durations import format_seconds
from sluice.kube.apply import ResourceManager
from sluice.kube.health import wait_for_health
from sluice.kube.inventory import ChangeSet
from sluice.kube.mapping import split_api_version
from sluice.kube.ordering import ObjectRef
from sluice.runtime import conditions

__all__ = ["check_health", "health_refs"]

KIND = "Kustomization"


def health_refs(obj: Kustomization, changes: ChangeSet) -> list[ObjectRef]:
    """What ``wait``/``healthChecks`` check after an apply that made ``changes``."""
    if obj.spec.wait:
        refs = changes.refs(skipped=False)
    else:
        refs = []
        for check in obj.spec.health_checks or []:
            group, version = split_api_version(check.api_version or "")
            refs.append(ObjectRef(group, check.kind, check.namespace or obj.namespace or "",
                                  check.name, version))
    # Waiting on itself would deadlock.
    return [r for r in refs if not (r.group == GROUP and r.kind == KIND
                                    and r.namespace == obj.namespace and r.name == obj.name)]


async def check_health(state: ReconcileState, manager: ResourceManager, refs: list[ObjectRef],
                       budget: float, poll: float, changed_revision: bool, *,
                       progress: Callable[[ReconcileState], Awaitable[None]],
                       event: Callable[[ReconcileState, str], Awaitable[None]]
                       ) -> list[ObjectRef]:
    """Wait for ``refs`` to be healthy (see the module docs); returns them.

    ``progress`` writes the running status, ``event`` records an info event.
    """
    status, gen = state.obj.status, state.generation
    if not refs:
        conditions.delete(status, HEALTHY)
        return refs
    was_healthy = conditions.is_true(status, HEALTHY)
    message = (f"Running health checks for revision {state.revision} with a timeout of "
               f"{format_seconds(budget)}")
    conditions.mark_reconciling(status, PROGRESSING, message, gen)
    conditions.mark_unknown(status, HEALTHY, PROGRESSING, message, gen)
    await progress(state)
    report = await wait_for_health(manager.client, refs, budget, poll, fail_fast=True,
                                   latest=manager.latest)
    elapsed = format_seconds(report.elapsed)
    if not report.healthy:
        error = report.error or "health check failed"
        conditions.mark_false(status, HEALTHY, HEALTH_CHECK_FAILED, error, gen)
        failure = f"health check failed after {elapsed}: {error}"
        conditions.mark_false(status, READY, HEALTH_CHECK_FAILED, failure, gen)
        raise StepFailed(HEALTH_CHECK_FAILED, failure)
    message = f"Health check passed in {elapsed}"
    if not was_healthy or changed_revision:
        await event(state, message)
    # Written with the final status, a moment later.
    conditions.mark_true(status, HEALTHY, SUCCEEDED, message, gen)
    return refs
