"""Is an applied object healthy? kstatus-style status, and waiting for a set of objects.

A Kustomization with ``wait: true`` or ``healthChecks`` is Ready only once
what it applied works: Deployments rolled out, Jobs complete, Flux objects
Ready. Flux decides this with kstatus, which reads each kind's own status
fields and reduces them to one of a few statuses; this module does the same
for the kinds users deploy most, with messages in kstatus' wording:

- ``Current``: the object has reached its desired state;
- ``InProgress``: not yet (rollout under way, replicas not ready, Pending PVC);
- ``Failed``: it will not get there without a change (Job failed, rollout
  past its progress deadline, Stalled condition, Pod in CrashLoopBackOff);
- ``Terminating``: it carries a ``deletionTimestamp``;
- ``NotFound``: it does not exist.

Any other kind is judged generically: an ``observedGeneration`` behind
``metadata.generation`` means InProgress; ``Stalled=True`` means Failed;
``Reconciling=True`` or a ``Ready`` condition other than True means
InProgress; otherwise (no conditions at all, like a ConfigMap) it is Current.
That covers Flux's own kinds (Ready plus observedGeneration).

`wait_for_health` polls a set of objects until all are Current, one is
Failed (fail-fast, Flux's default), or the timeout passes, and words the
outcome as kustomize-controller does:
``timeout waiting for: [Deployment/agnhost/agnhost status: 'InProgress']``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.latest import LatestObjects
from sluice.kube.objects import Objects
from sluice.kube.ordering import ObjectRef

__all__ = [
    "DEFAULT_POLL",
    "HealthReport",
    "HealthResult",
    "Status",
    "compute_status",
    "wait_for_health",
]

Obj = dict[str, Any]

# kustomize-controller polls every 5 s; the embedded cluster answers in
# milliseconds, so callers usually pass something shorter.
DEFAULT_POLL = 5.0
# Pods in these waiting states will not start without a change to the spec.
_FATAL_WAITING = frozenset({"CrashLoopBackOff", "InvalidImageName", "CreateContainerConfigError",
                            "CreateContainerError"})


class Status(StrEnum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class HealthResult:
    """The health of one object at one moment."""

    ref: ObjectRef
    status: Status
    message: str = ""

    @property
    def current(self) -> bool:
        return self.status is Status.CURRENT

    def __str__(self) -> str:
        return f"{self.ref.subject} status: '{self.status}'"


@dataclass
class HealthReport:
    """The outcome of `wait_for_health`: every object's last status, and a verdict."""

    results: list[HealthResult]
    # None when every object is Current; otherwise Flux's message.
    error: str | None = None
    elapsed: float = 0.0
    timed_out: bool = False
    failed_fast: bool = False
    _by_key: dict[tuple[str, str, str, str], HealthResult] = field(
        default_factory=dict, init=False, repr=False)

    @property
    def healthy(self) -> bool:
        return self.error is None

    def result(self, ref: ObjectRef) -> HealthResult | None:
        if not self._by_key:
            self._by_key = {r.ref.key: r for r in self.results}
        return self._by_key.get(ref.key)

    @property
    def not_current(self) -> list[HealthResult]:
        return [r for r in self.results if not r.current]


# ---------------------------------------------------------------- helpers


def _int(obj: Mapping[str, Any], *path: str, default: int = 0) -> int:
    cur: Any = obj
    for part in path:
        if not isinstance(cur, Mapping):
            return default
        cur = cur.get(part)
    return cur if isinstance(cur, int) and not isinstance(cur, bool) else default


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = obj.get("status")
    conds = status.get("conditions") if isinstance(status, Mapping) else None
    out: dict[str, Mapping[str, Any]] = {}
    for c in conds if isinstance(conds, list) else []:
        if isinstance(c, Mapping) and isinstance(c.get("type"), str):
            out[c["type"]] = c
    return out


def _is_true(conds: Mapping[str, Mapping[str, Any]], type_: str) -> bool:
    c = conds.get(type_)
    return c is not None and c.get("status") == "True"


def _generation_lag(obj: Mapping[str, Any]) -> str | None:
    """kstatus' first test: has the controller seen the latest spec?"""
    meta = obj.get("metadata") or {}
    gen = meta.get("generation")
    status = obj.get("status")
    if not isinstance(gen, int) or not isinstance(status, Mapping):
        return None
    observed = status.get("observedGeneration")
    if not isinstance(observed, int):
        return None
    if observed < gen:
        return f"{obj.get('kind', 'Resource')} generation is {gen}, but latest observed " \
               f"generation is {observed}"
    return None


def _in_progress(message: str) -> tuple[Status, str]:
    return Status.IN_PROGRESS, message


def _shortfall(want: int, counts: list[tuple[str, int]]) -> tuple[Status, str] | None:
    """kstatus's rollout checks: the first count still below ``want``, as ``Label: n/want``."""
    for label, count in counts:
        if want > count:
            return _in_progress(f"{label}: {count}/{want}")
    return None


# ---------------------------------------------------------------- per kind


def _deployment(obj: Mapping[str, Any]) -> tuple[Status, str]:
    spec = obj.get("spec") or {}
    replicas = _int(obj, "spec", "replicas", default=1)
    status_replicas = _int(obj, "status", "replicas")
    updated = _int(obj, "status", "updatedReplicas")
    ready = _int(obj, "status", "readyReplicas")
    available = _int(obj, "status", "availableReplicas")
    conds = _conditions(obj)
    progressing = conds.get("Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Status.FAILED, "Progress deadline exceeded"
    paused = bool(spec.get("paused"))
    if replicas > status_replicas:
        return _in_progress(f"Replicas: {status_replicas}/{replicas}")
    if replicas > updated:
        if paused:
            # A paused Deployment never rolls its pods: say why it is stuck.
            return _in_progress(f"Deployment is paused. Updated: {updated}/{replicas}")
        return _in_progress(f"Updated: {updated}/{replicas}")
    if status_replicas > replicas:
        return _in_progress(f"Pending termination: {status_replicas - replicas}")
    if updated > available:
        return _in_progress(f"Available: {available}/{updated}")
    if replicas > ready:
        return _in_progress(f"Ready: {ready}/{replicas}")
    # No Progressing condition at all is fine (progressDeadlineSeconds at its
    # "never" value removes it); a present one must say the rollout finished,
    # unless the Deployment is paused, which keeps it Unknown for good.
    if progressing is not None and not paused and not (
            progressing.get("status") == "True"
            and progressing.get("reason") == "NewReplicaSetAvailable"):
        return _in_progress("ReplicaSet not Available")
    if replicas > 0 and not _is_true(conds, "Available"):
        return _in_progress("Deployment not Available")
    return Status.CURRENT, f"Deployment is available. Replicas: {status_replicas}"


def _statefulset(obj: Mapping[str, Any]) -> tuple[Status, str]:
    spec = obj.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return Status.CURRENT, "StatefulSet is using the OnDelete update strategy"
    replicas = _int(obj, "spec", "replicas", default=1)
    status_replicas = _int(obj, "status", "replicas")
    ready = _int(obj, "status", "readyReplicas")
    current = _int(obj, "status", "currentReplicas")
    updated = _int(obj, "status", "updatedReplicas")
    if replicas > status_replicas:
        return _in_progress(f"Replicas: {status_replicas}/{replicas}")
    if replicas > ready:
        return _in_progress(f"Ready: {ready}/{replicas}")
    if status_replicas > replicas:
        return _in_progress(f"Pending termination: {status_replicas - replicas}")
    partition = _int(strategy, "rollingUpdate", "partition")
    if partition > 0:
        wanted = max(0, replicas - partition)
        if updated < wanted:
            return _in_progress(f"updated: {updated}/{wanted}")
        return Status.CURRENT, f"Partition rollout complete. updated: {updated}"
    status = obj.get("status") or {}
    if status.get("updateRevision") and status.get("currentRevision") != \
            status.get("updateRevision"):
        return _in_progress(f"Waiting for updated revision: updated: {updated}/{replicas}")
    if replicas > current:
        return _in_progress(f"current: {current}/{replicas}")
    return Status.CURRENT, f"All replicas scheduled as expected. Replicas: {replicas}"


def _daemonset(obj: Mapping[str, Any]) -> tuple[Status, str]:
    desired = _int(obj, "status", "desiredNumberScheduled")
    scheduled = _int(obj, "status", "currentNumberScheduled")
    updated = _int(obj, "status", "updatedNumberScheduled")
    available = _int(obj, "status", "numberAvailable")
    ready = _int(obj, "status", "numberReady")
    if "status" not in obj or "desiredNumberScheduled" not in (obj.get("status") or {}):
        return _in_progress("Missing .status.desiredNumberScheduled")
    short = _shortfall(desired, [("Current", scheduled), ("Updated", updated),
                                 ("Available", available), ("Ready", ready)])
    if short is not None:
        return short
    return Status.CURRENT, f"All replicas scheduled as expected. Replicas: {desired}"


def _replicaset(obj: Mapping[str, Any]) -> tuple[Status, str]:
    replicas = _int(obj, "spec", "replicas", default=1)
    status_replicas = _int(obj, "status", "replicas")
    labelled = _int(obj, "status", "fullyLabeledReplicas")
    available = _int(obj, "status", "availableReplicas")
    ready = _int(obj, "status", "readyReplicas")
    failure = _conditions(obj).get("ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return _in_progress(f"Replica Failure condition. Reason: {failure.get('reason', '')}, "
                            f"Message: {failure.get('message', '')}")
    short = _shortfall(replicas, [("Labelled", labelled), ("Available", available),
                                  ("Ready", ready)])
    if short is not None:
        return short
    if status_replicas > replicas:
        return _in_progress(f"Pending termination: {status_replicas - replicas}")
    return Status.CURRENT, f"ReplicaSet is available. Replicas: {replicas}"


def _job(obj: Mapping[str, Any]) -> tuple[Status, str]:
    # kstatus calls a running Job Current; Flux's health check waits for it
    # to finish, which is what a user running a migration Job expects.
    completions = _int(obj, "spec", "completions", default=1)
    succeeded = _int(obj, "status", "succeeded")
    failed = _int(obj, "status", "failed")
    active = _int(obj, "status", "active")
    conds = _conditions(obj)
    if _is_true(conds, "Failed"):
        reason = conds["Failed"].get("message") or conds["Failed"].get("reason") or ""
        suffix = f": {reason}" if reason else ""
        return Status.FAILED, f"Job Failed. failed: {failed}/{completions}{suffix}"
    if _is_true(conds, "Complete"):
        return Status.CURRENT, f"Job Completed. succeeded: {succeeded}/{completions}"
    if not (obj.get("status") or {}).get("startTime"):
        return _in_progress("Job not started")
    return _in_progress(f"Job in progress. success:{succeeded}, active: {active}, "
                        f"failed: {failed}")


def _pod(obj: Mapping[str, Any]) -> tuple[Status, str]:
    status = obj.get("status") or {}
    phase = status.get("phase")
    if phase == "Succeeded":
        return Status.CURRENT, "Pod has completed successfully"
    if phase == "Failed":
        return Status.FAILED, "Pod has completed, but not successfully"
    for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses")
                                                         or []):
        waiting = ((c or {}).get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _FATAL_WAITING:
            return Status.FAILED, f"Pod container {c.get('name', '')} is in " \
                                  f"{waiting['reason']}"
    conds = _conditions(obj)
    if phase == "Running":
        if _is_true(conds, "Ready"):
            return Status.CURRENT, "Pod is Ready"
        return _in_progress("Pod is running but is not Ready")
    scheduled = conds.get("PodScheduled")
    if scheduled is not None and scheduled.get("reason") == "Unschedulable":
        return _in_progress("Pod could not be scheduled")
    return _in_progress("Pod is in the Pending phase" if phase == "Pending"
                        else "Pod has not been scheduled")


def _pvc(obj: Mapping[str, Any]) -> tuple[Status, str]:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Bound":
        return Status.CURRENT, "PVC is Bound"
    if phase == "Lost":
        return Status.FAILED, "PVC is Lost"
    return _in_progress(f"PVC is not Bound. phase: {phase or 'Pending'}")


def _service(obj: Mapping[str, Any]) -> tuple[Status, str]:
    spec = obj.get("spec") or {}
    if spec.get("type") == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if not ingress:
            return _in_progress("Pending external IP")
        return Status.CURRENT, "Service is ready"
    return Status.CURRENT, "Service is ready"


def _namespace(obj: Mapping[str, Any]) -> tuple[Status, str]:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Terminating":
        return Status.TERMINATING, "Namespace is terminating"
    if phase in (None, "Active"):
        return Status.CURRENT, "Namespace is active"
    return _in_progress(f"Namespace phase: {phase}")


def _crd(obj: Mapping[str, Any]) -> tuple[Status, str]:
    conds = _conditions(obj)
    names = conds.get("NamesAccepted")
    if names is not None and names.get("status") == "False":
        return Status.FAILED, f"CRD names not accepted: {names.get('message', '')}"
    if _is_true(conds, "Established"):
        return Status.CURRENT, "CRD is established"
    return _in_progress("CRD is not established")


def _pdb(obj: Mapping[str, Any]) -> tuple[Status, str]:
    healthy = _int(obj, "status", "currentHealthy")
    desired = _int(obj, "status", "desiredHealthy")
    if healthy < desired:
        return _in_progress(f"Budget not met. healthy replicas: {healthy}/{desired}")
    return Status.CURRENT, f"Budget is met. healthy replicas: {healthy}/{desired}"


def _generic(obj: Mapping[str, Any]) -> tuple[Status, str]:
    conds = _conditions(obj)
    stalled = conds.get("Stalled")
    if stalled is not None and stalled.get("status") == "True":
        return Status.FAILED, str(stalled.get("message") or stalled.get("reason") or "Stalled")
    reconciling = conds.get("Reconciling")
    if reconciling is not None and reconciling.get("status") == "True":
        return _in_progress(str(reconciling.get("message") or "Reconciling"))
    ready = conds.get("Ready")
    if ready is not None:
        if ready.get("status") == "True":
            return Status.CURRENT, str(ready.get("message") or "Resource is Ready")
        return _in_progress(str(ready.get("message") or "Resource is not Ready"))
    return Status.CURRENT, "Resource is current"


_KINDS = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("", "Namespace"): _namespace,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    ("policy", "PodDisruptionBudget"): _pdb,
}


def compute_status(obj: Mapping[str, Any] | None, ref: ObjectRef | None = None) -> HealthResult:
    """The kstatus-style health of ``obj`` (None: it does not exist)."""
    if ref is None:
        if obj is None:
            raise ValueError("compute_status needs the object or its reference")
        ref = ObjectRef.of(obj)
    if obj is None:
        return HealthResult(ref, Status.NOT_FOUND, "Resource not found")
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return HealthResult(ref, Status.TERMINATING, "Resource scheduled for deletion")
    lag = _generation_lag(obj)
    if lag is not None:
        return HealthResult(ref, Status.IN_PROGRESS, lag)
    check = _KINDS.get((ref.group, ref.kind), _generic)
    status, message = check(obj)
    return HealthResult(ref, status, message)


# ---------------------------------------------------------------- waiting


def _ref_of(item: ObjectRef | Mapping[str, Any]) -> ObjectRef:
    return item if isinstance(item, ObjectRef) else ObjectRef.of(item)


async def _probe(client: Objects, ref: ObjectRef, sem: asyncio.Semaphore,
                 latest: LatestObjects | None = None) -> HealthResult:
    async with sem:
        try:
            mapping = await client.mapping(ref.api_version, ref.kind)
        except KubeError as exc:
            return HealthResult(ref, Status.UNKNOWN, exc.message)
        try:
            obj = await client.get(mapping, ref.name, ref.namespace if mapping.namespaced
                                   else None)
        except KubeError as exc:
            if is_not_found(exc):
                return compute_status(None, ref)
            return HealthResult(ref, Status.UNKNOWN, exc.message)
        if latest is not None:
            latest.offer(obj)
        return compute_status(obj, ref)


def _listing(results: Sequence[HealthResult]) -> str:
    return "[" + ", ".join(str(r) for r in results) + "]"


async def wait_for_health(client: Objects, objects: Sequence[ObjectRef | Mapping[str, Any]],
                          timeout: float,  # noqa: ASYNC109 - Flux's spec.timeout, polled
                          poll: float = DEFAULT_POLL, *, fail_fast: bool = True,
                          concurrency: int = 8,
                          latest: LatestObjects | None = None) -> HealthReport:
    """Poll ``objects`` until all are Current, one Failed (``fail_fast``), or ``timeout``.

    The first check runs at once, so objects that are already healthy cost one
    round of GETs. Objects are given as `ObjectRef` (with a version) or as the
    manifests that were applied. Never raises for an unhealthy set: the
    verdict is in the returned report's ``error``.

    With ``latest`` (`sluice.kube.latest`: the copies an apply was answered
    and what watches saw since), an object with a copy there not judged yet
    is judged from it instead of a GET, at once when it arrives; one without
    news is read with a GET each ``poll`` seconds, as before. A set fed by
    answers and watches is then checked without any request.
    """
    refs = [_ref_of(o) for o in objects]
    start = time.monotonic()
    deadline = start + timeout
    sem = asyncio.Semaphore(max(1, concurrency))
    pending = list(refs)
    latest_result: dict[tuple[str, str, str, str], HealthResult] = {}
    judged: dict[tuple[str, str, str, str], int] = {}  # the copy of `latest` each was judged on
    next_get: dict[tuple[str, str, str, str], float] = {}
    while True:
        now = time.monotonic()
        to_get: list[ObjectRef] = []
        for ref in pending:
            seen = latest.get(ref.key) if latest is not None else None
            if latest is not None and seen is not None and judged.get(ref.key) != seen.seq:
                judged[ref.key] = seen.seq
                result = latest_result[ref.key] = compute_status(seen.obj, ref)
                if result.current or latest.fed(ref.key):
                    next_get[ref.key] = now + poll
                    continue
                # Not healthy yet and no watch brings its next change: read it now,
                # as polling would (a controller may have written its status already).
                next_get[ref.key] = now
            if next_get.get(ref.key, 0.0) <= now:
                to_get.append(ref)
        if to_get:
            fetched = await asyncio.gather(*(_probe(client, ref, sem, latest)
                                             for ref in to_get))
            now = time.monotonic()
            for r in fetched:
                latest_result[r.ref.key] = r
                next_get[r.ref.key] = now + poll
                seen = latest.get(r.ref.key) if latest is not None else None
                if seen is not None:
                    judged[r.ref.key] = seen.seq
        results = [latest_result[ref.key] for ref in pending]
        pending = [r.ref for r in results if not r.current]
        ordered = [latest_result[ref.key] for ref in refs]
        elapsed = time.monotonic() - start
        if not pending:
            return HealthReport(ordered, None, elapsed)
        failed = [r for r in results if r.status is Status.FAILED]
        if fail_fast and failed:
            return HealthReport(ordered, "failed early due to stalled resources: "
                                + _listing(failed), elapsed,
                                failed_fast=True)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            waiting = [latest_result[ref.key] for ref in refs
                       if not latest_result[ref.key].current]
            return HealthReport(ordered, "timeout waiting for: " + _listing(waiting), elapsed,
                                timed_out=True)
        due = min(next_get[ref.key] for ref in pending) - time.monotonic()
        if latest is None:
            await asyncio.sleep(min(max(due, 0.0), remaining))
        else:
            await latest.wait(min(max(due, 0.0), remaining))
