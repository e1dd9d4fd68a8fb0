"""The scheduler and the kubelet of the one simulated node, ``sluice-node``.

No container ever runs: a pod is bound to the node (``spec.nodeName``, as
the scheduler does), then its status moves the way a kubelet reports it, so
``kubectl get pods -w`` shows each step:

    Pending (unscheduled) -> Pending (bound) -> ContainerCreating -> Running 1/1

The last step comes ``ready_delay`` seconds after the containers were
"created". Pods of Jobs and bare pods (restartPolicy other than Always) finish
``ready_delay`` later as ``Completed``. A pod deleted by a controller keeps
``Terminating`` for ``ready_delay`` seconds, held by a finalizer this kubelet
removes (see :meth:`Sim.terminate_pod`). Pods bound to other nodes, or waiting
for another scheduler, stay Pending, as they would without that node.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sluice.apiserver.schemas.discovery import GIT_VERSION
from sluice.apiserver.simulation.components import NOT_RUNNING, ComponentPods, not_running_message
from sluice.apiserver.simulation.context import (
    KUBELET,
    NODE_IP,
    NODE_NAME,
    NODES,
    PODS,
    SCHEDULER,
    TERMINATION_FINALIZER,
    Sim,
)
from sluice.apiserver.simulation.pod_subresources import component_of
from sluice.apiserver.simulation.recorder import DEFAULT_SCHEDULER
from sluice.apiserver.simulation.shapes import (
    controller_ref,
    int_field,
    meta,
    now,
    pod_phase,
    terminating,
    uid_of,
)
from sluice.apiserver.store.watch import Event
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]

NODE_LABELS = {
    "beta.kubernetes.io/arch": "amd64",
    "beta.kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    "kubernetes.io/hostname": NODE_NAME,
    "kubernetes.io/os": "linux",
    "node-role.kubernetes.io/control-plane": "",
}


def qualified_image(image: str) -> tuple[str, str]:
    """``nginx`` -> (``docker.io/library/nginx:latest``, digest), as container runtimes report."""
    name, _, digest = image.partition("@")
    first, slash, _ = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + (name if slash else "library/" + name)
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name, digest


def _image_fields(image: str) -> tuple[str, str]:
    """The ``image`` and ``imageID`` of a container status."""
    name, digest = qualified_image(image)
    repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    if not digest:
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        return name, f"{repo}@{digest}"
    return f"{repo}@{digest}", f"{repo}@{digest}"


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                  if isinstance(c, dict)]
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        limits = res.get("limits") or {}
        requests = {**limits, **(res.get("requests") or {})}
        if any(k in requests or k in limits for k in ("cpu", "memory")):
            any_set = True
        for k in ("cpu", "memory"):
            if k not in limits or str(requests.get(k)) != str(limits.get(k)):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _runs_to_completion(pod: Obj) -> bool:
    """Job pods, and bare pods that do not restart (Helm test hooks, ``kubectl run
    --restart=Never``): their containers exit 0 and the pod completes."""
    ref = controller_ref(pod)
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    if policy == "Always":
        return False
    return ref is None or ref.get("kind") == "Job"


def _conditions(existing: list[Obj], wanted: list[tuple[str, str, str, str]], at: str) -> list[Obj]:
    """Pod conditions in the kubelet's order, keeping transition times that did not change."""
    old = {c.get("type"): c for c in existing if isinstance(c, dict)}
    out: list[Obj] = []
    for ctype, status, reason, message in wanted:
        prev = old.get(ctype)
        since = prev.get("lastTransitionTime", at) if prev and prev.get("status") == status else at
        cond: Obj = {"type": ctype, "status": status, "lastProbeTime": None,
                     "lastTransitionTime": since}
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        out.append(cond)
    return out


class Kubelet:
    """Binds pods to the node and reports their containers' progress."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        # (namespace, name) -> (uid, stage, due time on the loop clock)
        self._due: dict[tuple[str, str], tuple[str, str, float]] = {}
        self.components = ComponentPods(sim)

    # --------------------------------------------------------------- node
    def ensure_node(self) -> None:
        if self.sim.get(NODES, "", NODE_NAME) is not None:
            return
        at = now()
        resources = {"cpu": "4", "ephemeral-storage": "102400Mi", "hugepages-2Mi": "0",
                     "memory": "8144760Ki", "pods": "110"}
        conditions = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID "
             "available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
        body: Obj = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": dict(NODE_LABELS),
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"podCIDR": "10.244.0.0/16", "podCIDRs": ["10.244.0.0/16"]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": NODE_IP},
                              {"type": "Hostname", "address": NODE_NAME}],
                "capacity": resources, "allocatable": dict(resources),
                "conditions": [{"type": t, "status": s, "lastHeartbeatTime": at,
                                "lastTransitionTime": at, "reason": r, "message": m}
                               for t, s, r, m in conditions],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"architecture": "amd64", "bootID": "", "machineID": "",
                             "systemUUID": "", "containerRuntimeVersion": "sluice://simulated",
                             "kernelVersion": "", "kubeProxyVersion": "",
                             "kubeletVersion": GIT_VERSION, "operatingSystem": "linux",
                             "osImage": "Sluice simulated node"},
            },
        }
        self.sim.create(NODES, "", body, KUBELET)

    # ------------------------------------------------------------ events
    def reserve_addresses(self) -> None:
        for pod in self.sim.cluster.storage.list(PODS):
            ip = (pod.get("status") or {}).get("podIP")
            if ip and ip != NODE_IP:
                self.sim.pod_ips.reserve(str(ip))

    def observe(self, ev: Event) -> None:
        if ev.key != PODS or ev.type != "DELETED":
            return
        m = meta(ev.obj)
        self._due.pop((str(m.get("namespace") or ""), str(m.get("name"))), None)
        ip = (ev.obj.get("status") or {}).get("podIP")
        if ip and ip != NODE_IP:
            self.sim.pod_ips.release(str(ip))

    # -------------------------------------------------------------- sync
    def sync(self, ns: str, name: str) -> None:
        pod = self.sim.get(PODS, ns, name)
        if pod is None:
            self._due.pop((ns, name), None)
            return
        if terminating(pod):
            self._finish_termination(pod)
            return
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            if spec.get("schedulerName", "default-scheduler") != "default-scheduler":
                return
            bound = self._bind(pod)
            if bound is None:
                return
            pod, spec = bound, bound.get("spec") or {}
        if spec.get("nodeName") != NODE_NAME or pod_phase(pod) in ("Succeeded", "Failed"):
            return
        status = pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        component = component_of(pod)
        if not status.get("startTime") or not statuses:
            self._start(pod)
        elif component is not None and not self._component_runs(pod, component):
            self._hold(pod, component)
        elif any("waiting" in (cs.get("state") or {}) for cs in statuses):
            if self._is_due(pod, "running"):
                self._run(pod)
        elif _runs_to_completion(pod) and self._is_due(pod, "complete"):
            self._complete(pod)

    def _component_runs(self, pod: Obj, component: str) -> bool:
        """Whether the component's Lease is live; if so, look again when it runs out."""
        remaining = self.components.remaining(component)
        if remaining <= 0:
            return False
        m = meta(pod)
        self.sim.after(remaining + 0.05, ("pod", str(m.get("namespace") or ""), str(m.get("name"))))
        return True

    def _hold(self, pod: Obj, component: str) -> None:
        """No process runs this component: its containers wait, the pod is not ready."""
        spec = pod.get("spec") or {}
        status = json_copy(pod.get("status") or {})
        statuses = status.get("containerStatuses") or []
        if statuses and all(((cs.get("state") or {}).get("waiting") or {}).get("reason")
                            == NOT_RUNNING for cs in statuses):
            return
        names = sorted(str(c.get("name")) for c in spec.get("containers") or [])
        unready = f"containers with unready status: [{' '.join(names)}]"
        status["conditions"] = _conditions(status.get("conditions") or [], [
            ("PodReadyToStartContainers", "True", "", ""),
            ("Initialized", "True", "", ""),
            ("Ready", "False", "ContainersNotReady", unready),
            ("ContainersReady", "False", "ContainersNotReady", unready),
            ("PodScheduled", "True", "", ""),
        ], now())
        message = not_running_message(component)
        held = []
        for c in _by_name(spec.get("containers")):
            cs = self._waiting(c, NOT_RUNNING)
            cs["state"]["waiting"]["message"] = message
            held.append(cs)
        status["containerStatuses"] = held
        self.sim.write_status(PODS, pod, status, KUBELET)

    def _is_due(self, pod: Obj, stage: str, delay: float | None = None) -> bool:
        m = meta(pod)
        key = (str(m.get("namespace") or ""), str(m.get("name")))
        uid = uid_of(pod)
        t = self.sim.clock()
        entry = self._due.get(key)
        if entry is None or entry[0] != uid or entry[1] != stage:
            due = t + (self.sim.ready_delay if delay is None else delay)
            self._due[key] = (uid, stage, due)
        else:
            due = entry[2]
        # Timers may fire a clock tick early; a millisecond is not worth another round.
        if t + 0.001 >= due:
            return True
        self.sim.after(due - t, ("pod", key[0], key[1]))
        return False

    def _schedule(self, pod: Obj, stage: str) -> None:
        m = meta(pod)
        key = (str(m.get("namespace") or ""), str(m.get("name")))
        self._due[key] = (uid_of(pod), stage, self.sim.clock() + self.sim.ready_delay)
        self.sim.after(self.sim.ready_delay, ("pod", key[0], key[1]))

    def _bind(self, pod: Obj) -> Obj | None:
        body = json_copy(pod)
        body["spec"]["nodeName"] = NODE_NAME
        bound = self.sim.update(PODS, body, SCHEDULER, subresource="binding")
        if bound is not None:
            m = meta(bound)
            self.sim.events.normal(
                bound, "Scheduled",
                f"Successfully assigned {m.get('namespace')}/{m.get('name')} to {NODE_NAME}",
                DEFAULT_SCHEDULER, api_version="v1", kind="Pod")
        return bound

    # ------------------------------------------------------------ stages
    def _start(self, pod: Obj) -> None:
        """Sandbox up, containers being created: ``ContainerCreating`` (or ``Init:0/N``)."""
        at = now()
        spec = pod.get("spec") or {}
        status = json_copy(pod.get("status") or {})
        ip = status.get("podIP") or (NODE_IP if spec.get("hostNetwork") else
                                     self.sim.pod_ips.allocate())
        inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
        names = sorted(str(c.get("name")) for c in spec.get("containers") or [])
        unready = f"containers with unready status: [{' '.join(names)}]"
        init_names = [str(c.get("name")) for c in inits]
        status.update({
            "phase": "Pending",
            "conditions": _conditions(status.get("conditions") or [], [
                ("PodReadyToStartContainers", "True", "", ""),
                ("Initialized", "False" if inits else "True",
                 "ContainersNotInitialized" if inits else "",
                 f"containers with incomplete status: [{' '.join(init_names)}]" if inits else ""),
                ("Ready", "False", "ContainersNotReady", unready),
                ("ContainersReady", "False", "ContainersNotReady", unready),
                ("PodScheduled", "True", "", ""),
            ], at),
            "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}],
            "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": status.get("startTime") or at,
            "qosClass": qos_class(spec),
        })
        waiting = "PodInitializing" if inits else "ContainerCreating"
        status["containerStatuses"] = [
            self._waiting(c, waiting) for c in _by_name(spec.get("containers"))]
        if inits:
            status["initContainerStatuses"] = [
                self._waiting(c, "PodInitializing") for c in inits]
        self.sim.write_status(PODS, pod, status, KUBELET)
        self._schedule(pod, "running")

    def _run(self, pod: Obj) -> None:
        """Every container started and ready: ``Running`` with all containers ready."""
        at = now()
        spec = pod.get("spec") or {}
        status = json_copy(pod.get("status") or {})
        status["phase"] = "Running"
        status["conditions"] = _conditions(status.get("conditions") or [], [
            ("PodReadyToStartContainers", "True", "", ""),
            ("Initialized", "True", "", ""),
            ("Ready", "True", "", ""),
            ("ContainersReady", "True", "", ""),
            ("PodScheduled", "True", "", ""),
        ], at)
        status["containerStatuses"] = [self._running(pod, c, at)
                                       for c in _by_name(spec.get("containers"))]
        inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
        if inits:
            # Sidecars (restartPolicy Always) keep running; ordinary init containers completed.
            status["initContainerStatuses"] = [
                self._running(pod, c, at) if c.get("restartPolicy") == "Always"
                else self._terminated(pod, c, at, at) for c in inits]
        written = self.sim.write_status(PODS, pod, status, KUBELET)
        if written is not pod:
            for kind, containers in (("initContainers", inits),
                                     ("containers", [c for c in spec.get("containers") or []
                                                    if isinstance(c, dict)])):
                for c in containers:
                    self._started_events(written, kind, c)
        if _runs_to_completion(pod):
            self._schedule(pod, "complete")

    def _started_events(self, pod: Obj, kind: str, c: Obj) -> None:
        """What a kubelet reports while starting a container whose image is cached."""
        cname = str(c.get("name"))
        path = f"spec.{kind}{{{cname}}}"
        for reason, message in (
                ("Pulled", f'Container image "{c.get("image")}" already present on machine'),
                ("Created", f"Created container: {cname}"),
                ("Started", f"Started container {cname}")):
            self.sim.events.normal(pod, reason, message, KUBELET, field_path=path,
                                   api_version="v1", kind="Pod")

    def _complete(self, pod: Obj) -> None:
        """All containers exited 0: ``Succeeded`` (``Completed`` in kubectl)."""
        at = now()
        spec = pod.get("spec") or {}
        status = json_copy(pod.get("status") or {})
        status["phase"] = "Succeeded"
        status["conditions"] = _conditions(status.get("conditions") or [], [
            ("PodReadyToStartContainers", "False", "", ""),
            ("Initialized", "True", "PodCompleted", ""),
            ("Ready", "False", "PodCompleted", ""),
            ("ContainersReady", "False", "PodCompleted", ""),
            ("PodScheduled", "True", "", ""),
        ], at)
        started = {cs.get("name"): ((cs.get("state") or {}).get("running") or {}).get("startedAt")
                   for cs in status.get("containerStatuses") or []}
        status["containerStatuses"] = [
            self._terminated(pod, c, str(started.get(c.get("name")) or at), at)
            for c in _by_name(spec.get("containers"))]
        self.sim.write_status(PODS, pod, status, KUBELET)

    def _finish_termination(self, pod: Obj) -> None:
        m = meta(pod)
        finalizers = list(m.get("finalizers") or [])
        mine = TERMINATION_FINALIZER in finalizers
        if finalizers and not mine:
            return  # someone else's finalizer holds it; not the kubelet's business
        grace = int_field(pod, "spec", "terminationGracePeriodSeconds", default=30)
        if not self._is_due(pod, "terminate", min(self.sim.ready_delay, float(grace))):
            return
        if mine:
            body = json_copy(pod)
            rest = [f for f in finalizers if f != TERMINATION_FINALIZER]
            if rest:
                body["metadata"]["finalizers"] = rest
            else:
                body["metadata"].pop("finalizers", None)
            self.sim.update(PODS, body, KUBELET)
        else:
            # Graceful deletion kept the pod until its node confirms: confirm with grace 0.
            self.sim.delete(PODS, str(m.get("namespace") or ""), str(m.get("name")),
                            uid=uid_of(pod), grace=0)

    # -------------------------------------------------- container statuses
    @staticmethod
    def _waiting(c: Obj, reason: str) -> Obj:
        image, _ = _image_fields(str(c.get("image") or ""))
        return {"name": c.get("name"), "image": image, "imageID": "", "ready": False,
                "restartCount": 0, "started": False, "lastState": {},
                "state": {"waiting": {"reason": reason}}}

    @staticmethod
    def _container_id(pod: Obj, c: Obj) -> str:
        seed = f"{uid_of(pod)}/{c.get('name')}".encode()
        return "containerd://" + hashlib.sha256(seed).hexdigest()

    def _running(self, pod: Obj, c: Obj, at: str) -> Obj:
        image, image_id = _image_fields(str(c.get("image") or ""))
        return {"containerID": self._container_id(pod, c), "image": image, "imageID": image_id,
                "lastState": {}, "name": c.get("name"), "ready": True, "restartCount": 0,
                "started": True, "state": {"running": {"startedAt": at}}}

    def _terminated(self, pod: Obj, c: Obj, started: str, finished: str) -> Obj:
        image, image_id = _image_fields(str(c.get("image") or ""))
        cid = self._container_id(pod, c)
        return {"containerID": cid, "image": image, "imageID": image_id, "lastState": {},
                "name": c.get("name"), "ready": False, "restartCount": 0, "started": False,
                "state": {"terminated": {"containerID": cid, "exitCode": 0,
                                         "finishedAt": finished, "reason": "Completed",
                                         "startedAt": started}}}


def _by_name(containers: Any) -> list[Obj]:
    """The kubelet reports container statuses sorted by name."""
    return sorted((c for c in containers or [] if isinstance(c, dict)),
                  key=lambda c: str(c.get("name")))
