"""Workloads on the embedded cluster progress as on a real one, without any node.

The workload simulator plays kube-controller-manager, the scheduler and a
kubelet. These tests drive a real ``Cluster`` in-process and watch what users
and Flux's health checks watch:

- a Deployment gets a ``<name>-<pod-template-hash>`` ReplicaSet and Running,
  Ready pods, and a status kstatus reads as Current;
- pods show Pending, ContainerCreating, Running, and Terminating when removed;
- a rollout never has fewer available pods than replicas - maxUnavailable,
  nor more than replicas + maxSurge; Recreate never overlaps old and new pods;
  paused Deployments do not roll; going back to a template reuses its
  ReplicaSet as a new revision;
- StatefulSets start pods in order, DaemonSets run one pod on the node, Jobs
  complete, Services get endpoints, claims get volumes, LoadBalancers an IP;
- work left from before the simulator started is picked up.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from sluice.apiserver.rest.registry import Cluster, DeleteOptions, WriteOptions
from sluice.apiserver.rest.selectors import FieldSelector, LabelSelector
from sluice.apiserver.schemas.resources import ResourceType
from sluice.apiserver.store.watch import Event
from sluice.testing.polling import wait_for

from ..conftest import SeedManifests
from .conftest import Controllers, eventually

Obj = dict[str, Any]
T = TypeVar("T")
NS = "apps"
DELAY = 0.05


class Kube:
    """A few kubectl-like verbs over a Cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster

    def rt(self, plural: str) -> ResourceType:
        for rt in self.c.catalogue:
            if rt.plural == plural:
                return rt
        raise KeyError(plural)

    def create(self, plural: str, body: Obj, ns: str = NS) -> Obj:
        return self.c.create(self.rt(plural), ns, body, WriteOptions(manager="kubectl"))

    def get(self, plural: str, name: str, ns: str = NS) -> Obj | None:
        rt = self.rt(plural)
        return self.c.storage.get(rt.storage_key, ns if rt.namespaced else "", name)

    def list(self, plural: str, ns: str | None = NS, **labels: str) -> list[Obj]:
        sel = LabelSelector.parse(",".join(f"{k}={v}" for k, v in labels.items()))
        return list(self.c.list(self.rt(plural), ns, sel, FieldSelector())["items"])

    def edit(self, plural: str, name: str, change: Callable[[Obj], None], ns: str = NS) -> Obj:
        obj = copy.deepcopy(self.get(plural, name, ns))
        assert obj is not None
        change(obj)
        return self.c.update(self.rt(plural), ns, name, obj, WriteOptions(manager="kubectl"))

    def delete(self, plural: str, name: str, ns: str = NS, propagation: str = "") -> None:
        self.c.delete(self.rt(plural), ns, name, DeleteOptions(propagation=propagation))


@pytest.fixture
async def kube(cluster: Cluster, controllers: Controllers) -> Kube:
    k = Kube(cluster)
    k.create("namespaces", {"metadata": {"name": NS}}, ns="")
    controllers.start_workloads(DELAY)
    controllers.start_gc()
    return k


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.25",
               strategy: Obj | None = None, **spec: Any) -> Obj:
    body: Obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                 "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                          "template": {"metadata": {"labels": {"app": name}},
                                       "spec": {"containers": [{"name": "main",
                                                                "image": image}]}},
                          **spec}}
    if strategy is not None:
        body["spec"]["strategy"] = strategy
    return body


def set_image(image: str) -> Callable[[Obj], None]:
    def change(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return change


def set_spec(field: str, value: Any) -> Callable[[Obj], None]:
    def change(o: Obj) -> None:
        o["spec"][field] = value
    return change


def condition(obj: Obj | None, ctype: str) -> Obj:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return dict(c)
    return {}


def kstatus_current(d: Obj | None) -> bool:
    """What kstatus (Flux's health check) requires of a Deployment to call it Current."""
    if d is None:
        return False
    st = d.get("status") or {}
    want = d["spec"].get("replicas", 1)
    return (st.get("observedGeneration") == d["metadata"]["generation"]
            and st.get("replicas", 0) == want and st.get("updatedReplicas", 0) == want
            and st.get("readyReplicas", 0) == want and st.get("availableReplicas", 0) == want
            and condition(d, "Available").get("status") == "True"
            and condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable")


def shown(pod: Obj) -> str:
    """The STATUS column of ``kubectl get pods``."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason"))
    if status.get("phase") == "Succeeded":
        return "Completed"
    return str(status.get("phase", "Pending"))


def ready(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or [])


# --------------------------------------------------------------- Deployments
async def test_deployment_gets_replicaset_ready_pods_and_current_status(kube: Kube) -> None:
    kube.create("deployments", deployment("agnhost", replicas=2))
    d = await eventually(lambda: (d := kube.get("deployments", "agnhost")) and
                         kstatus_current(d) and d)
    (rs,) = kube.list("replicasets")
    name = rs["metadata"]["name"]
    assert re.fullmatch(r"agnhost-[bcdfghjklmnpqrstvwxz2456789]{6,10}", name)
    pod_hash = name.removeprefix("agnhost-")
    assert rs["metadata"]["labels"]["pod-template-hash"] == pod_hash
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "agnhost",
                                                     "pod-template-hash": pod_hash}
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "2",
        "deployment.kubernetes.io/max-replicas": "3"}
    (ref,) = rs["metadata"]["ownerReferences"]
    assert ref == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "agnhost",
                   "uid": d["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert condition(d, "Progressing")["message"] == \
        f'ReplicaSet "{name}" has successfully progressed.'
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    assert "unavailableReplicas" not in d["status"]
    assert rs["status"] == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2,
                            "availableReplicas": 2, "observedGeneration": 1}

    pods = kube.list("pods")
    assert len(pods) == 2
    for pod in pods:
        assert re.fullmatch(rf"{name}-[bcdfghjklmnpqrstvwxz2456789]{{5}}",
                            pod["metadata"]["name"])
        assert pod["metadata"]["ownerReferences"][0]["name"] == name
        assert pod["spec"]["nodeName"] == "sluice-node"
        st = pod["status"]
        assert st["phase"] == "Running"
        assert st["podIP"].startswith("10.244.") and st["hostIP"] and st["startTime"]
        assert [c["type"] for c in st["conditions"]] == [
            "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
            "PodScheduled"]
        assert all(c["status"] == "True" and c["lastTransitionTime"] for c in st["conditions"])
        (cs,) = st["containerStatuses"]
        assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
        assert cs["image"] == "docker.io/library/nginx:1.25"
        assert cs["imageID"].startswith("docker.io/library/nginx@sha256:")
        assert cs["state"]["running"]["startedAt"]
    assert len({p["status"]["podIP"] for p in pods}) == 2
    managers = {e["manager"] for p in pods for e in p["metadata"]["managedFields"]}
    assert {"kube-controller-manager", "kubelet"} <= managers
    status_writer = [e for e in d["metadata"]["managedFields"] if e.get("subresource") == "status"]
    assert status_writer and status_writer[0]["manager"] == "kube-controller-manager"


async def test_pods_show_pending_containercreating_running_then_terminating(kube: Kube) -> None:
    seen: dict[str, list[str]] = {}

    def record(ev: Event) -> None:
        if ev.key == ("", "pods"):
            steps = seen.setdefault(ev.obj["metadata"]["name"], [])
            now = "gone" if ev.type == "DELETED" else shown(ev.obj)
            if not steps or steps[-1] != now:
                steps.append(now)

    kube.c.events.add_listener(record)
    kube.create("deployments", deployment("web", replicas=1))
    await eventually(lambda: kstatus_current(kube.get("deployments", "web")))
    kube.edit("deployments", "web", set_image("nginx:1.26"))
    await eventually(lambda: kstatus_current(kube.get("deployments", "web")) and
                     len(kube.list("pods")) == 1 and len(seen) == 2)
    old, new = sorted(seen.values(), key=len, reverse=True)
    assert old == ["Pending", "ContainerCreating", "Running", "Terminating", "gone"]
    assert new == ["Pending", "ContainerCreating", "Running"]


@pytest.mark.parametrize(("replicas", "strategy", "min_ready", "max_pods"), [
    (4, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}, 3, 5),
    (4, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}, 3, 4),
    (4, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}, 4, 6),
    # 25% of 10: surge rounds up to 3, unavailable rounds down to 2.
    (10, None, 8, 13),
])
async def test_rollout_respects_max_unavailable_and_max_surge(
        kube: Kube, replicas: int, strategy: Obj | None, min_ready: int, max_pods: int) -> None:
    kube.create("deployments", deployment("roll", replicas=replicas, strategy=strategy))
    await eventually(lambda: kstatus_current(kube.get("deployments", "roll")))
    first_rs = kube.list("replicasets")[0]["metadata"]["name"]
    violations: list[str] = []
    low_water = [replicas]

    def check(ev: Event) -> None:
        if ev.key != ("", "pods"):
            return
        live = [p for p in kube.c.storage.list(("", "pods"), NS)
                if not p["metadata"].get("deletionTimestamp")]
        n_ready = sum(1 for p in live if ready(p))
        low_water[0] = min(low_water[0], n_ready)
        if n_ready < min_ready:
            violations.append(f"{n_ready} ready pods after {ev.type} "
                              f"{ev.obj['metadata']['name']}")
        if len(live) > max_pods:
            violations.append(f"{len(live)} pods after {ev.type} {ev.obj['metadata']['name']}")

    kube.c.events.add_listener(check)
    kube.edit("deployments", "roll", set_image("nginx:1.26"))
    d = await eventually(lambda: (d := kube.get("deployments", "roll")) and
                         kstatus_current(d) and d["status"]["observedGeneration"] == 2 and
                         len(kube.list("pods")) == replicas and d, within=20)
    assert violations == []
    # The rollout did use its allowance (the check above could not pass vacuously).
    assert low_water[0] == min_ready
    rss = {rs["metadata"]["name"]: rs for rs in kube.list("replicasets")}
    assert rss[first_rs]["spec"]["replicas"] == 0
    (new_rs,) = [rs for name, rs in rss.items() if name != first_rs]
    assert new_rs["spec"]["replicas"] == replicas
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    for pod in kube.list("pods"):
        assert pod["spec"]["containers"][0]["image"] == "nginx:1.26"
        assert pod["metadata"]["labels"]["pod-template-hash"] == \
            new_rs["metadata"]["labels"]["pod-template-hash"]


async def test_recreate_stops_every_old_pod_before_starting_new_ones(kube: Kube) -> None:
    kube.create("deployments", deployment("rec", replicas=3, strategy={"type": "Recreate"}))
    await eventually(lambda: kstatus_current(kube.get("deployments", "rec")))
    overlaps: list[str] = []

    def check(ev: Event) -> None:
        if ev.key != ("", "pods"):
            return
        images = {p["spec"]["containers"][0]["image"]
                  for p in kube.c.storage.list(("", "pods"), NS)}
        if len(images) > 1:
            overlaps.append(f"{ev.type} {ev.obj['metadata']['name']}: {sorted(images)}")

    kube.c.events.add_listener(check)
    kube.edit("deployments", "rec", set_image("nginx:1.26"))
    await eventually(lambda: (d := kube.get("deployments", "rec")) and kstatus_current(d) and
                     d["status"]["observedGeneration"] == 2 and len(kube.list("pods")) == 3)
    assert overlaps == []
    assert {p["spec"]["containers"][0]["image"] for p in kube.list("pods")} == {"nginx:1.26"}


async def test_zero_replicas_is_current_and_scaling_follows_spec(kube: Kube) -> None:
    kube.create("deployments", deployment("zero", replicas=0))
    d = await eventually(lambda: (d := kube.get("deployments", "zero")) and
                         kstatus_current(d) and d)
    assert {k for k in d["status"] if k != "conditions"} == {"observedGeneration"}
    assert kube.list("replicasets")[0]["spec"]["replicas"] == 0
    assert kube.list("pods") == []

    kube.edit("deployments", "zero", set_spec("replicas", 3))
    await eventually(lambda: kstatus_current(kube.get("deployments", "zero")) and
                     len(kube.list("pods")) == 3)
    kube.edit("deployments", "zero", set_spec("replicas", 1))
    await eventually(lambda: kstatus_current(kube.get("deployments", "zero")) and
                     len(kube.list("pods")) == 1)
    assert len(kube.list("replicasets")) == 1


async def test_paused_deployment_does_not_roll_until_resumed(kube: Kube) -> None:
    kube.create("deployments", deployment("p", replicas=2))
    await eventually(lambda: kstatus_current(kube.get("deployments", "p")))

    def pause_and_change(o: Obj) -> None:
        o["spec"]["paused"] = True
        set_image("nginx:1.26")(o)

    kube.edit("deployments", "p", pause_and_change)
    d = await eventually(lambda: (d := kube.get("deployments", "p")) and
                         condition(d, "Progressing").get("reason") == "DeploymentPaused" and d)
    assert condition(d, "Progressing")["status"] == "Unknown"
    assert len(kube.list("replicasets")) == 1
    assert not kstatus_current(d)

    kube.edit("deployments", "p", set_spec("paused", False))
    await eventually(lambda: kstatus_current(kube.get("deployments", "p")) and
                     {p["spec"]["containers"][0]["image"] for p in kube.list("pods")} ==
                     {"nginx:1.26"} and len(kube.list("pods")) == 2)
    assert len(kube.list("replicasets")) == 2


async def test_going_back_to_a_template_reuses_its_replicaset_as_a_new_revision(
        kube: Kube) -> None:
    kube.create("deployments", deployment("back", replicas=1))
    await eventually(lambda: kstatus_current(kube.get("deployments", "back")))
    first = kube.list("replicasets")[0]["metadata"]["name"]
    kube.edit("deployments", "back", set_image("nginx:1.26"))
    await eventually(lambda: (d := kube.get("deployments", "back")) and kstatus_current(d) and
                     d["status"]["observedGeneration"] == 2)
    kube.edit("deployments", "back", set_image("nginx:1.25"))
    d = await eventually(lambda: (d := kube.get("deployments", "back")) and
                         kstatus_current(d) and d["status"]["observedGeneration"] == 3 and d)
    assert len(kube.list("replicasets")) == 2
    rs = kube.get("replicasets", first)
    assert rs is not None and rs["spec"]["replicas"] == 1
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


async def test_recreated_deployment_adopts_what_an_orphaning_delete_left(kube: Kube) -> None:
    kube.create("deployments", deployment("keep", replicas=2))
    await eventually(lambda: kstatus_current(kube.get("deployments", "keep")))
    pods = {p["metadata"]["uid"] for p in kube.list("pods")}
    (rs,) = kube.list("replicasets")
    kube.delete("deployments", "keep", propagation="Orphan")
    await eventually(lambda: kube.get("deployments", "keep") is None and
                     "ownerReferences" not in (kube.get("replicasets", rs["metadata"]["name"])
                                               or {"metadata": {"ownerReferences": 1}})["metadata"])
    d = kube.create("deployments", deployment("keep", replicas=2))
    await eventually(lambda: kstatus_current(kube.get("deployments", "keep")) and
                     (r := kube.get("replicasets", rs["metadata"]["name"])) is not None and
                     r["metadata"].get("ownerReferences", [{}])[0].get("uid") ==
                     d["metadata"]["uid"])
    assert [r["metadata"]["uid"] for r in kube.list("replicasets")] == [rs["metadata"]["uid"]]
    assert {p["metadata"]["uid"] for p in kube.list("pods")} == pods


async def test_work_left_before_the_simulator_started_is_picked_up(
        cluster: Cluster, controllers: Controllers) -> None:
    k = Kube(cluster)
    k.create("namespaces", {"metadata": {"name": NS}}, ns="")
    k.create("deployments", deployment("early", replicas=2))
    controllers.start_workloads(DELAY)
    await eventually(lambda: kstatus_current(k.get("deployments", "early")))


# ----------------------------------------------------- StatefulSets, DaemonSets
async def test_statefulset_starts_pods_in_order_and_rolls_from_the_top(kube: Kube) -> None:
    order: list[str] = []
    out_of_order: list[str] = []

    def check(ev: Event) -> None:
        if ev.key != ("", "pods") or ev.type != "ADDED":
            return
        name = ev.obj["metadata"]["name"]
        order.append(name)
        i = int(name.rsplit("-", 1)[1])
        for j in range(i):
            prev = kube.get("pods", f"db-{j}")
            if prev is None or not ready(prev):
                out_of_order.append(f"{name} created while db-{j} not ready")

    kube.c.events.add_listener(check)
    kube.create("statefulsets", {
        "metadata": {"name": "db"},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}]}})

    def rolled(generation: int, replicas: int = 3) -> Obj | None:
        s = kube.get("statefulsets", "db")
        st = (s or {}).get("status") or {}
        done = s is not None and st.get("observedGeneration") == generation and \
            st.get("readyReplicas") == replicas and st.get("updatedReplicas") == replicas and \
            st.get("currentReplicas") == replicas and \
            st.get("availableReplicas") == replicas and \
            st.get("currentRevision") == st.get("updateRevision")
        return s if done else None

    s = await eventually(lambda: rolled(1))
    assert order == ["db-0", "db-1", "db-2"] and out_of_order == []
    pod = kube.get("pods", "db-1")
    assert pod is not None
    assert pod["metadata"]["labels"]["controller-revision-hash"] == s["status"]["updateRevision"]
    assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert pod["spec"]["hostname"] == "db-1" and pod["spec"]["subdomain"] == "db"
    claim = kube.get("persistentvolumeclaims", "data-db-1")
    assert claim is not None
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in \
        pod["spec"]["volumes"]
    await eventually(lambda: (c := kube.get("persistentvolumeclaims", "data-db-1")) and
                     c["status"]["phase"] == "Bound")
    revision = s["status"]["updateRevision"]
    assert kube.get("controllerrevisions", revision) is not None

    order.clear()
    kube.edit("statefulsets", "db", set_image("postgres:17"))
    s = await eventually(lambda: rolled(2))
    assert s["status"]["currentRevision"] != revision
    assert order == ["db-2", "db-1", "db-0"] and out_of_order == []

    removed: list[str] = []

    def record_removal(ev: Event) -> None:
        if ev.key == ("", "pods") and ev.type == "DELETED":
            removed.append(ev.obj["metadata"]["name"])

    kube.c.events.add_listener(record_removal)
    kube.edit("statefulsets", "db", set_spec("replicas", 1))
    await eventually(lambda: [p["metadata"]["name"] for p in kube.list("pods")] == ["db-0"] and
                     kube.get("statefulsets", "db")["status"].get("replicas") == 1)
    assert removed == ["db-2", "db-1"]
    # Claims stay behind (persistentVolumeClaimRetentionPolicy defaults to Retain).
    assert kube.get("persistentvolumeclaims", "data-db-2") is not None

    # Deleted with --cascade=orphan and applied again, it takes its pod back.
    survivor = kube.get("pods", "db-0")
    assert survivor is not None
    spec = copy.deepcopy(s["spec"])
    kube.delete("statefulsets", "db", propagation="Orphan")
    await eventually(lambda: kube.get("statefulsets", "db") is None and
                     "ownerReferences" not in (kube.get("pods", "db-0") or {})["metadata"])
    spec["replicas"] = 1
    again = kube.create("statefulsets", {"metadata": {"name": "db"}, "spec": spec})
    await eventually(lambda: (p := kube.get("pods", "db-0")) and
                     p["metadata"].get("ownerReferences", [{}])[0].get("uid") ==
                     again["metadata"]["uid"] and rolled(1, replicas=1) is not None)
    assert [p["metadata"]["uid"] for p in kube.list("pods")] == [survivor["metadata"]["uid"]]


async def test_daemonset_runs_one_pod_on_the_node_that_matches(kube: Kube) -> None:
    tpl = {"metadata": {"labels": {"app": "agent"}},
           "spec": {"containers": [{"name": "agent", "image": "fluent-bit:3"}]}}
    kube.create("daemonsets", {"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}}, "template": tpl}})
    ds = await eventually(lambda: (ds := kube.get("daemonsets", "agent")) and
                          ds.get("status", {}).get("numberAvailable") == 1 and ds)
    assert ds["status"] == {"currentNumberScheduled": 1, "desiredNumberScheduled": 1,
                            "numberMisscheduled": 0, "numberReady": 1, "observedGeneration": 1,
                            "updatedNumberScheduled": 1, "numberAvailable": 1}
    (pod,) = kube.list("pods", app="agent")
    assert pod["spec"]["nodeName"] == "sluice-node"
    node = kube.get("nodes", "sluice-node", ns="")
    assert node is not None and condition(node, "Ready")["status"] == "True"

    kube.edit("daemonsets", "agent", set_image("fluent-bit:4"))

    def rolled() -> bool:
        ds = kube.get("daemonsets", "agent") or {}
        pods = kube.list("pods", app="agent")
        return ds.get("status", {}).get("observedGeneration") == 2 and \
            ds["status"].get("numberAvailable") == 1 and len(pods) == 1 and \
            pods[0]["spec"]["containers"][0]["image"] == "fluent-bit:4" and ready(pods[0])

    await eventually(rolled)
    assert kube.list("pods", app="agent")[0]["metadata"]["name"] != pod["metadata"]["name"]

    away = copy.deepcopy(tpl)
    away["metadata"]["labels"] = {"app": "gpu"}
    away["spec"]["nodeSelector"] = {"gpu": "true"}
    kube.create("daemonsets", {"metadata": {"name": "gpu"}, "spec": {
        "selector": {"matchLabels": {"app": "gpu"}}, "template": away}})
    gpu = await eventually(lambda: (g := kube.get("daemonsets", "gpu")) and
                           "observedGeneration" in g.get("status", {}) and g)
    assert gpu["status"]["desiredNumberScheduled"] == 0
    assert kube.list("pods", app="gpu") == []


# -------------------------------------------------------------------- Jobs
async def test_job_runs_its_pods_to_completion(kube: Kube) -> None:
    kube.create("jobs", {"metadata": {"name": "migrate"}, "spec": {
        "completions": 2, "parallelism": 1, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "migrate", "image": "busybox:1.36"}]}}}})
    job = await eventually(lambda: (j := kube.get("jobs", "migrate")) and
                           condition(j, "Complete").get("status") == "True" and j)
    st = job["status"]
    assert st["succeeded"] == 2 and st["completionTime"] and st["startTime"]
    assert "active" not in st and st["ready"] == 0
    assert [c["type"] for c in st["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert condition(job, "Complete")["reason"] == "CompletionsReached"
    pods = kube.list("pods")
    assert len(pods) == 2
    assert {shown(p) for p in pods} == {"Completed"}
    assert all(p["metadata"]["name"].startswith("migrate-") for p in pods)


async def test_indexed_job_reports_completed_indexes(kube: Kube) -> None:
    kube.create("jobs", {"metadata": {"name": "shards"}, "spec": {
        "completions": 3, "parallelism": 2, "completionMode": "Indexed", "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "w", "image": "busybox"}]}}}})
    job = await eventually(lambda: (j := kube.get("jobs", "shards")) and
                           condition(j, "Complete").get("status") == "True" and j)
    assert job["status"]["completedIndexes"] == "0-2"
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                     for p in kube.list("pods"))
    assert indexes == ["0", "1", "2"]


async def test_finished_job_is_deleted_after_its_ttl(kube: Kube) -> None:
    kube.create("jobs", {"metadata": {"name": "once"}, "spec": {
        "ttlSecondsAfterFinished": 0, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "w", "image": "busybox"}]}}}})
    await eventually(lambda: kube.get("jobs", "once") is None and kube.list("pods") == [])


# ------------------------------------------------------- Services, storage
async def test_service_endpoints_follow_ready_pods(kube: Kube) -> None:
    kube.create("services", {"metadata": {"name": "web", "labels": {"tier": "front"}}, "spec": {
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80,
                                               "targetPort": "http"}]}})
    body = deployment("web", replicas=2)
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "http", "containerPort": 8080}]
    kube.create("deployments", body)
    await eventually(lambda: kstatus_current(kube.get("deployments", "web")))

    def published() -> Obj | None:
        ep = kube.get("endpoints", "web")
        subsets = (ep or {}).get("subsets") or []
        return ep if len(subsets) == 1 and len(subsets[0].get("addresses", [])) == 2 else None

    ep = await eventually(published)
    ips = sorted(p["status"]["podIP"] for p in kube.list("pods"))
    (subset,) = ep["subsets"]
    assert sorted(a["ip"] for a in subset["addresses"]) == ips
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert ep["metadata"]["labels"] == {"tier": "front"}
    (eps,) = kube.list("endpointslices")
    assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    assert eps["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert sorted(e["addresses"][0] for e in eps["endpoints"]) == ips
    assert all(e["conditions"] == {"ready": True, "serving": True, "terminating": False}
               for e in eps["endpoints"])
    assert eps["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]

    kube.edit("deployments", "web", set_spec("replicas", 0))
    await eventually(lambda: (ep := kube.get("endpoints", "web")) is not None and
                     "subsets" not in ep and not kube.list("endpointslices")[0]["endpoints"])

    kube.delete("services", "web")
    await eventually(lambda: kube.get("endpoints", "web") is None and
                     kube.list("endpointslices") == [])


async def test_load_balancer_gets_an_ingress_address(kube: Kube) -> None:
    kube.create("services", {"metadata": {"name": "lb"}, "spec": {
        "type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 443}]}})
    svc = await eventually(lambda: (s := kube.get("services", "lb")) and
                           s["status"]["loadBalancer"].get("ingress") and s)
    (ingress,) = svc["status"]["loadBalancer"]["ingress"]
    assert ingress["ip"].startswith("172.18.255.")


async def test_claim_is_bound_to_a_provisioned_volume_that_goes_with_it(kube: Kube) -> None:
    claim = kube.create("persistentvolumeclaims", {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}})
    pv_name = f"pvc-{claim['metadata']['uid']}"
    bound = await eventually(lambda: (c := kube.get("persistentvolumeclaims", "data")) and
                             c["status"].get("phase") == "Bound" and c)
    assert bound["spec"]["volumeName"] == pv_name
    assert bound["status"]["capacity"] == {"storage": "2Gi"}
    pv = kube.get("persistentvolumes", pv_name, ns="")
    assert pv is not None and pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    kube.delete("persistentvolumeclaims", "data")
    await eventually(lambda: kube.get("persistentvolumes", pv_name, ns="") is None)


# -------------------------------------------------------------------- Events
def events_of(kube: Kube, kind: str, name: str) -> list[tuple[str, str]]:
    return [(e["reason"], e["message"]) for e in kube.list("events")
            if e["involvedObject"]["kind"] == kind and e["involvedObject"]["name"] == name]


def test_describe_deployment_lists_what_the_control_plane_did(
        kubectl: Any, seed: SeedManifests, namespace: str) -> None:
    kubectl.ok("apply", "-f", "-", input=seed.deployment(namespace))

    def ready() -> str | None:
        text = kubectl.ok("-n", namespace, "get", "deployment", "agnhost")
        return text if re.search(r"agnhost\s+1/1\s+1\s+1\s", text) else None

    wait_for(ready, 30, what="agnhost ready")
    rs = json.loads(kubectl.ok("-n", namespace, "get", "replicasets", "-o", "json"))["items"]
    pod = json.loads(kubectl.ok("-n", namespace, "get", "pods", "-o", "json"))["items"][0]
    rs_name, pod_name = rs[0]["metadata"]["name"], pod["metadata"]["name"]
    described = kubectl.ok("-n", namespace, "describe", "deployment", "agnhost")
    assert re.search(rf"Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+"
                     rf"Scaled up replica set {rs_name} from 0 to 1", described), described

    def pod_events() -> str | None:
        text = kubectl.ok("-n", namespace, "get", "events")
        return text if "Started container agnhost" in text else None

    text = wait_for(pod_events, 10, what="the pod's events")
    image = "registry.k8s.io/e2e-test-images/agnhost:2.39"
    for reason, obj, message in (
            ("SuccessfulCreate", f"replicaset/{rs_name}", f"Created pod: {pod_name}"),
            ("Scheduled", f"pod/{pod_name}",
             f"Successfully assigned {namespace}/{pod_name} to sluice-node"),
            ("Pulled", f"pod/{pod_name}", f'Container image "{image}" already present on machine'),
            ("Created", f"pod/{pod_name}", "Created container: agnhost"),
            ("Started", f"pod/{pod_name}", "Started container agnhost")):
        assert re.search(rf"Normal\s+{reason}\s+{re.escape(obj)}\s+{re.escape(message)}",
                         text), (reason, text)


async def test_scaling_down_and_jobs_leave_events(kube: Kube) -> None:
    kube.create("deployments", deployment("web", replicas=1))
    await eventually(lambda: kstatus_current(kube.get("deployments", "web")))
    kube.edit("deployments", "web", set_spec("replicas", 0))
    await eventually(lambda: not kube.list("pods", app="web"))
    (rs,) = kube.list("replicasets")
    rs_name = rs["metadata"]["name"]
    assert [r for r in events_of(kube, "Deployment", "web")] == [
        ("ScalingReplicaSet", f"Scaled up replica set {rs_name} from 0 to 1"),
        ("ScalingReplicaSet", f"Scaled down replica set {rs_name} from 1 to 0")]
    reasons = [r for r, _ in events_of(kube, "ReplicaSet", rs_name)]
    assert reasons == ["SuccessfulCreate", "SuccessfulDelete"]
    event = next(e for e in kube.list("events") if e["reason"] == "SuccessfulDelete")
    assert event["metadata"]["name"].startswith(f"{rs_name}.")
    assert re.fullmatch(r"[0-9a-f]{16}", event["metadata"]["name"].rsplit(".", 1)[1])
    assert event["involvedObject"]["uid"] == rs["metadata"]["uid"]
    assert event["source"] == {"component": "replicaset-controller"}
    assert event["count"] == 1 and event["type"] == "Normal"

    kube.create("jobs", {"metadata": {"name": "once"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "once", "image": "busybox:1.36"}]}}}})
    await eventually(lambda: condition(kube.get("jobs", "once"), "Complete"))
    (pod,) = kube.list("pods", **{"batch.kubernetes.io/job-name": "once"})
    assert events_of(kube, "Job", "once") == [
        ("SuccessfulCreate", f"Created pod: {pod['metadata']['name']}"),
        ("Completed", "Job completed")]
