"""kstatus-style health checks: objects the embedded cluster's simulator brings to life."""

from __future__ import annotations

import time
from typing import Any

from sluice.kube.apply import ApplyOptions, ResourceManager
from sluice.kube.health import Status, compute_status, wait_for_health
from sluice.kube.objects import Objects
from sluice.kube.ordering import ObjectRef

Obj = dict[str, Any]
FAST = ApplyOptions(wait_timeout=20, wait_poll=0.1)


def deployment(ns: str, replicas: int = 2) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "agnhost", "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "agnhost"}},
                     "template": {"metadata": {"labels": {"app": "agnhost"}}, "spec": {
                         "containers": [{"name": "agnhost",
                                         "image": "registry.k8s.io/e2e-test-images/agnhost:2.39"}]}}}}


async def test_deployment_becomes_healthy(manager: ResourceManager, client: Objects,
                                          namespace: str) -> None:
    await manager.apply_all_staged([deployment(namespace)], FAST)
    m = await client.mapping("apps/v1", "Deployment")
    fresh = compute_status(await client.get(m, "agnhost", namespace))
    # Pods become Ready only after the simulator's delay.
    assert fresh.status is Status.IN_PROGRESS, fresh
    report = await wait_for_health(client, [deployment(namespace)], timeout=20, poll=0.05)
    assert report.healthy, report.error
    [result] = report.results
    assert str(result) == f"Deployment/{namespace}/agnhost status: 'Current'"
    assert result.message == "Deployment is available. Replicas: 2"
    dep = await client.get(m, "agnhost", namespace)
    assert dep["status"]["readyReplicas"] == 2


async def test_workloads_services_and_claims(manager: ResourceManager, client: Objects,
                                             namespace: str) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": namespace},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "m", "image": "busybox"}]}}}}
    lb = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "edge", "namespace": namespace},
          "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "data", "namespace": namespace},
           "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}
    objs = [job, lb, pvc]
    await manager.apply_all_staged(objs, FAST)
    report = await wait_for_health(client, objs, timeout=20, poll=0.05)
    assert report.healthy, report.error
    assert [r.message for r in report.results] == [
        "Job Completed. succeeded: 1/1", "Service is ready", "PVC is Bound"]


async def flux_object(manager: ResourceManager, client: Objects, ns: str,
                      conditions: list[Obj]) -> Obj:
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "apps", "namespace": ns},
            "spec": {"url": "https://example.com/apps.git", "interval": "1m"}}
    await manager.apply_all_staged([repo], FAST)
    m = await client.mapping("source.toolkit.fluxcd.io/v1", "GitRepository")
    await client.patch_status(m, "apps", {"status": {
        "observedGeneration": 1, "conditions": [
            {"lastTransitionTime": "2026-01-01T00:00:00Z", **c} for c in conditions]}}, ns)
    return repo


async def test_not_ready_flux_object_times_out(manager: ResourceManager, client: Objects,
                                               namespace: str) -> None:
    repo = await flux_object(manager, client, namespace, [
        {"type": "Ready", "status": "False", "reason": "Progressing",
         "message": "building artifact"}])
    missing = ObjectRef("apps", "Deployment", namespace, "nowhere", "v1")
    report = await wait_for_health(client, [repo, missing], timeout=0.3, poll=0.05)
    assert report.timed_out
    assert report.error == (
        f"timeout waiting for: [GitRepository/{namespace}/apps status: 'InProgress', "
        f"Deployment/{namespace}/nowhere status: 'NotFound']")
    assert report.results[0].message == "building artifact"


async def test_stalled_object_fails_fast(manager: ResourceManager, client: Objects,
                                         namespace: str) -> None:
    repo = await flux_object(manager, client, namespace, [
        {"type": "Ready", "status": "False", "reason": "URLInvalid", "message": "bad url"},
        {"type": "Stalled", "status": "True", "reason": "URLInvalid", "message": "bad url"}])
    started = time.monotonic()
    report = await wait_for_health(client, [repo], timeout=30, poll=0.05)
    assert time.monotonic() - started < 10
    assert report.failed_fast
    assert report.error == ("failed early due to stalled resources: "
                            f"[GitRepository/{namespace}/apps status: 'Failed']")
    assert report.results[0].message == "bad url"
    slow = await wait_for_health(client, [repo], timeout=0.2, poll=0.05, fail_fast=False)
    assert slow.timed_out


async def test_ready_flux_object_is_current(manager: ResourceManager, client: Objects,
                                            namespace: str) -> None:
    repo = await flux_object(manager, client, namespace, [
        {"type": "Ready", "status": "True", "reason": "Succeeded",
         "message": "stored artifact for revision 'main@sha1:abc'"}])
    report = await wait_for_health(client, [repo], timeout=5, poll=0.05)
    assert report.healthy
    assert report.results[0].message == "stored artifact for revision 'main@sha1:abc'"


def status_of(kind: str, api_version: str, spec: Obj, status: Obj, **meta: Any) -> Status:
    obj = {"apiVersion": api_version, "kind": kind,
           "metadata": {"name": "x", "namespace": "ns", **meta}, "spec": spec, "status": status}
    return compute_status(obj).status


def test_kind_rules() -> None:
    dep_ok = {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
              "availableReplicas": 2, "conditions": [
                  {"type": "Available", "status": "True"},
                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    assert status_of("Deployment", "apps/v1", {"replicas": 2}, dep_ok,
                     generation=3) is Status.CURRENT
    assert status_of("Deployment", "apps/v1", {"replicas": 2}, dep_ok,
                     generation=4) is Status.IN_PROGRESS
    assert status_of("Deployment", "apps/v1", {"replicas": 3}, dep_ok,
                     generation=3) is Status.IN_PROGRESS
    stuck = {**dep_ok, "conditions": [{"type": "Progressing", "status": "False",
                                       "reason": "ProgressDeadlineExceeded"}]}
    assert status_of("Deployment", "apps/v1", {"replicas": 2}, stuck,
                     generation=3) is Status.FAILED
    assert status_of("Job", "batch/v1", {}, {"startTime": "t", "failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}) is Status.FAILED
    assert status_of("Job", "batch/v1", {}, {"startTime": "t", "active": 1}) is \
        Status.IN_PROGRESS
    assert status_of("Service", "v1", {"type": "LoadBalancer"}, {}) is Status.IN_PROGRESS
    assert status_of("Service", "v1", {"type": "ClusterIP"}, {}) is Status.CURRENT
    assert status_of("PersistentVolumeClaim", "v1", {}, {"phase": "Pending"}) is \
        Status.IN_PROGRESS
    assert status_of("Pod", "v1", {}, {"phase": "Running", "containerStatuses": [
        {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}) is Status.FAILED
    assert status_of("StatefulSet", "apps/v1", {"replicas": 3}, {
        "replicas": 3, "readyReplicas": 2, "currentReplicas": 3}) is Status.IN_PROGRESS
    assert status_of("DaemonSet", "apps/v1", {}, {
        "desiredNumberScheduled": 1, "currentNumberScheduled": 1, "updatedNumberScheduled": 1,
        "numberAvailable": 1, "numberReady": 1}) is Status.CURRENT
    assert status_of("CustomResourceDefinition", "apiextensions.k8s.io/v1", {}, {
        "conditions": [{"type": "Established", "status": "False"}]}) is Status.IN_PROGRESS
    assert status_of("ConfigMap", "v1", {}, {}) is Status.CURRENT
    assert status_of("ConfigMap", "v1", {}, {},
                     deletionTimestamp="2026-01-01T00:00:00Z") is Status.TERMINATING
