"""The Job controller (and the TTL-after-finished controller) for simulated pods.

A Job keeps ``min(parallelism, completions - succeeded)`` pods running; each
of its pods completes ``ready_delay`` after it runs (see :mod:`kubelet`),
so a Job finishes once enough have succeeded, with the conditions current
Kubernetes writes (``SuccessCriteriaMet`` then ``Complete``, reason
``CompletionsReached``), ``completionTime``, and ``completedIndexes`` for
Indexed Jobs. Simulated pods never fail, so ``backoffLimit`` never matters.
``suspend`` deletes the running pods and sets ``Suspended``.
``ttlSecondsAfterFinished`` deletes a finished Job (and, in the foreground,
its pods) when it expires.
"""

from __future__ import annotations

import time
from typing import Any

from sluice.apiserver.simulation.conditions import get_condition, set_condition
from sluice.apiserver.simulation.context import JOBS, KCM, PODS, Sim
from sluice.apiserver.simulation.podtemplate import pod_from_template
from sluice.apiserver.simulation.recorder import JOB_CONTROLLER
from sluice.apiserver.simulation.shapes import (
    epoch,
    int_field,
    meta,
    name_of,
    now,
    owner_reference,
    pod_active,
    pod_phase,
    pod_ready,
    scale_down_order,
    terminating,
    uid_of,
)
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
_DONE = "Reached expected number of succeeded pods"


def compress_indexes(indexes: set[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``"0-2,5"``, the format of ``completedIndexes``."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def _index(pod: Obj) -> int | None:
    raw = (meta(pod).get("annotations") or {}).get(INDEX_KEY)
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _finished(job: Obj) -> Obj | None:
    for ctype in ("Complete", "Failed"):
        c = get_condition((job.get("status") or {}).get("conditions") or [], ctype)
        if c is not None and c.get("status") == "True":
            return c
    return None


def _job_condition(conds: list[Obj], ctype: str, status: str, reason: str, message: str,
                   at: str) -> list[Obj]:
    """Job conditions also carry ``lastProbeTime``, set when they change."""
    out = set_condition(conds, ctype, status, reason, message, at)
    if out is not conds:
        for c in out:
            if c.get("type") == ctype:
                c["lastProbeTime"] = at
    return out


class Jobs:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def sync(self, ns: str, name: str) -> None:
        job = self.sim.get(JOBS, ns, name)
        if job is None or terminating(job):
            return
        done = _finished(job)
        if done is not None:
            self._expire(job, done)
            return
        spec = job.get("spec") or {}
        old = job.get("status") or {}
        at = now()
        pods = self.sim.owned(job, PODS)
        active = [p for p in pods if pod_active(p)]
        succeeded_pods = [p for p in pods if pod_phase(p) == "Succeeded"]
        failed = sum(1 for p in pods if pod_phase(p) == "Failed")
        completions = spec.get("completions")
        parallelism = int_field(job, "spec", "parallelism", default=1)
        indexed = spec.get("completionMode") == "Indexed"
        conds: list[Obj] = list(old.get("conditions") or [])
        status: Obj = {}
        done_indexes = {i for p in succeeded_pods if (i := _index(p)) is not None}
        succeeded = len(done_indexes) if indexed else len(succeeded_pods)

        if spec.get("suspend"):
            for pod in active:
                self.sim.terminate_pod(pod)
            active = []
            conds = _job_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended",
                                   at)
        else:
            suspended = get_condition(conds, "Suspended")
            if suspended is not None and suspended.get("status") == "True":
                conds = _job_condition(conds, "Suspended", "False", "JobResumed", "Job resumed",
                                       at)
            status["startTime"] = old.get("startTime") or at
            if indexed and isinstance(completions, int):
                active = self._run_indexed(job, active, done_indexes, completions, parallelism)
            else:
                active = self._run(job, active, succeeded, completions, parallelism)

        complete = (succeeded >= completions) if isinstance(completions, int) else (
            succeeded > 0 and not active)
        if complete and not spec.get("suspend"):
            for pod in active:
                self.sim.terminate_pod(pod)
            active = []
            conds = _job_condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached",
                                   _DONE, at)
            conds = _job_condition(conds, "Complete", "True", "CompletionsReached", _DONE, at)
            status["completionTime"] = at
        if old.get("startTime") and "startTime" not in status:
            status["startTime"] = old["startTime"]
        if active:
            status["active"] = len(active)
        status["ready"] = sum(1 for p in active if pod_ready(p))
        if succeeded:
            status["succeeded"] = succeeded
        if failed:
            status["failed"] = failed
        status["terminating"] = sum(1 for p in pods if terminating(p))
        status["uncountedTerminatedPods"] = {}
        if indexed and done_indexes:
            status["completedIndexes"] = compress_indexes(done_indexes)
        if conds:
            status["conditions"] = conds
        written = self.sim.write_status(JOBS, job, status, KCM)
        if complete and written is not job and _finished(job) is None and \
                _finished(written) is not None:
            self.sim.events.normal(written, "Completed", "Job completed", JOB_CONTROLLER,
                                   api_version="batch/v1", kind="Job")
        job = written
        if complete:
            finished = _finished(job)
            if finished is not None:
                self._expire(job, finished)

    def _run(self, job: Obj, active: list[Obj], succeeded: int, completions: Any,
             parallelism: int) -> list[Obj]:
        if isinstance(completions, int):
            want = max(0, min(parallelism, completions - succeeded))
        else:
            # A work-queue Job (no completions) stops starting pods after the first success.
            want = parallelism if succeeded == 0 else 0
        if len(active) > want:
            extra = sorted(active, key=scale_down_order)[:len(active) - want]
            for pod in extra:
                self.sim.terminate_pod(pod)
            gone = {uid_of(p) for p in extra}
            return [p for p in active if uid_of(p) not in gone]
        for _ in range(want - len(active)):
            made = self._create_pod(job, None)
            if made is None:
                break
            active.append(made)
        return active

    def _run_indexed(self, job: Obj, active: list[Obj], done: set[int], completions: int,
                     parallelism: int) -> list[Obj]:
        running = {i for p in active if (i := _index(p)) is not None}
        missing = [i for i in range(completions) if i not in done and i not in running]
        for i in missing[:max(0, parallelism - len(active))]:
            made = self._create_pod(job, i)
            if made is None:
                break
            active.append(made)
        return active

    def _create_pod(self, job: Obj, index: int | None) -> Obj | None:
        spec = job.get("spec") or {}
        jname = name_of(job)
        extra: dict[str, str] = {}
        generate = f"{jname}-"
        if index is not None:
            extra = {INDEX_KEY: str(index)}
            generate = f"{jname}-{index}-"
        template = json_copy(spec.get("template") or {})
        body = pod_from_template(template, owner_reference(job, "batch/v1", "Job"),
                                 generate_name=generate, labels=extra, annotations=extra)
        if index is not None:
            pspec = body["spec"]
            if pspec.get("subdomain"):
                pspec.setdefault("hostname", f"{jname}-{index}")
            for c in pspec.get("containers") or []:
                env = [e for e in c.get("env") or [] if e.get("name") != "JOB_COMPLETION_INDEX"]
                env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}})
                c["env"] = env
        created = self.sim.create(PODS, str(meta(job).get("namespace") or ""), body, KCM)
        if created is not None:
            self.sim.events.normal(job, "SuccessfulCreate", f"Created pod: {name_of(created)}",
                                   JOB_CONTROLLER, api_version="batch/v1", kind="Job")
        return created

    def _expire(self, job: Obj, finished: Obj) -> None:
        """ttlSecondsAfterFinished: delete the Job once that long has passed since it finished."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            return
        status = job.get("status") or {}
        since = epoch(status.get("completionTime")) or epoch(finished.get("lastTransitionTime"))
        left = (since or time.time()) + ttl - time.time()
        m = meta(job)
        ns, name = str(m.get("namespace") or ""), name_of(job)
        if left > 0:
            self.sim.after(left, ("job", ns, name))
            return
        self.sim.delete(JOBS, ns, name, uid=uid_of(job), propagation="Foreground")
