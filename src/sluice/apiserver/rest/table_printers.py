"""Built-in column sets of ``kubectl get``, as Kubernetes' own table printers define them.

For the kinds that ship with Kubernetes the server, not kubectl, decides the
columns: a Pod's ``READY 1/1`` and ``STATUS CrashLoopBackOff``, a Service's
``PORT(S) 80:30080/TCP``, a Deployment's ``UP-TO-DATE``. This module holds
one :class:`Printer` per (group, kind), each a list of :class:`Column` and a
function that turns an object into its cells, following the rules of
Kubernetes' printers so that ``kubectl get`` against the embedded cluster
reads as it does against a real one. Columns of priority 1 appear only with
``-o wide``. :mod:`sluice.apiserver.rest.tables` builds the Table responses
around them.

The building blocks (`Column`, `Printer`, ages as Kubernetes rounds them,
the readers the row functions share) are in :mod:`sluice.apiserver.rest.table_cells`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sluice.apiserver.rest.table_cells import (
    NONE,
    Column,
    Printer,
    age,
    as_dict,
    as_int,
    as_list,
    containers_and_images,
    dig,
    has_condition,
    human_duration,
    labels_text,
    load_balancer_text,
    name_of,
    parse_timestamp,
    selector_text,
    since,
)

__all__ = ["BUILTIN_PRINTERS", "DEFAULT_PRINTER"]

Obj = dict[str, Any]


_NAME = Column("Name", "string", "name", "Name of the object, unique within its namespace (or in the cluster).")
_AGE = Column("Age", "string", "", "Time since the object was created.")
_CONTAINERS = Column("Containers", "string", "", "Names of the containers of the pod template.", 1)
_IMAGES = Column("Images", "string", "", "Images of the containers of the pod template.", 1)
_SELECTOR = Column("Selector", "string", "", "Label selector of the pods this object manages.", 1)


# ------------------------------------------------------------------ core kinds


def _namespace(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), dig(obj, "status", "phase") or "", age(obj, now)]


def _config_map(obj: Obj, now: datetime) -> list[Any]:
    count = len(as_dict(obj.get("data"))) + len(as_dict(obj.get("binaryData")))
    return [name_of(obj), count, age(obj, now)]


def _secret(obj: Obj, now: datetime) -> list[Any]:
    keys = set(as_dict(obj.get("data"))) | set(as_dict(obj.get("stringData")))
    return [name_of(obj), obj.get("type") or "Opaque", len(keys), age(obj, now)]


def _service_account(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), len(as_list(obj.get("secrets"))), age(obj, now)]


def _service_external_ip(obj: Obj) -> str:
    spec = as_dict(obj.get("spec"))
    external = [str(ip) for ip in as_list(spec.get("externalIPs"))]
    stype = spec.get("type") or "ClusterIP"
    if stype in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if stype == "LoadBalancer":
        balancer = load_balancer_text(obj.get("status"))
        merged = ([balancer] if balancer else []) + external
        return ",".join(merged) if merged else "<pending>"
    if stype == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def _service_ports(spec: Obj) -> str:
    ports: list[str] = []
    for p in as_list(spec.get("ports")):
        protocol = dig(p, "protocol") or "TCP"
        node_port = as_int(dig(p, "nodePort"))
        port = as_int(dig(p, "port"))
        ports.append(f"{port}:{node_port}/{protocol}" if node_port > 0 else f"{port}/{protocol}")
    return ",".join(ports) if ports else NONE


def _service(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    return [name_of(obj), spec.get("type") or "ClusterIP", spec.get("clusterIP") or NONE,
            _service_external_ip(obj), _service_ports(spec), age(obj, now),
            labels_text(spec.get("selector"))]


def _pod_status(obj: Obj) -> tuple[str, int, int, str | None]:
    """(STATUS, ready containers, restarts, last restart time) as kubectl derives them."""
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    reason = str(status.get("reason") or status.get("phase") or "")
    for cond in as_list(status.get("conditions")):
        if dig(cond, "type") == "PodScheduled" and dig(cond, "reason") == "SchedulingGated":
            reason = "SchedulingGated"
    restarts = 0
    ready = 0
    last_restart: str | None = None

    def note_restart(container: Any) -> None:
        nonlocal last_restart
        finished = dig(container, "lastState", "terminated", "finishedAt")
        if isinstance(finished, str) and (last_restart is None or finished > last_restart):
            last_restart = finished

    init_specs = as_list(spec.get("initContainers"))
    initializing = False
    for i, ic in enumerate(as_list(status.get("initContainerStatuses"))):
        restarts += as_int(dig(ic, "restartCount"))
        note_restart(ic)
        terminated = dig(ic, "state", "terminated")
        waiting = dig(ic, "state", "waiting")
        sidecar = any(dig(s, "name") == dig(ic, "name") and dig(s, "restartPolicy") == "Always"
                      for s in init_specs)
        if isinstance(terminated, dict) and as_int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and dig(ic, "started") is True:
            continue
        if isinstance(terminated, dict):
            if terminated.get("reason"):
                reason = f"Init:{terminated['reason']}"
            elif as_int(terminated.get("signal")):
                reason = f"Init:Signal:{as_int(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{as_int(terminated.get('exitCode'))}"
        elif isinstance(waiting, dict) and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or has_condition(obj, "Initialized"):
        restarts = 0
        running = False
        for cs in reversed(as_list(status.get("containerStatuses"))):
            restarts += as_int(dig(cs, "restartCount"))
            note_restart(cs)
            waiting = dig(cs, "state", "waiting")
            terminated = dig(cs, "state", "terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, dict):
                signal = as_int(terminated.get("signal"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{as_int(terminated.get('exitCode'))}"
            elif dig(cs, "ready") is True and isinstance(dig(cs, "state", "running"), dict):
                running = True
                ready += 1
        # A pod whose last container completed but others still run is Running.
        if reason == "Completed" and running:
            reason = "Running" if has_condition(obj, "Ready") else "NotReady"

    if dig(obj, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, restarts, last_restart


def _pod(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    reason, ready, restarts, last_restart = _pod_status(obj)
    total = len(as_list(spec.get("containers")))
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"
    pod_ips = as_list(status.get("podIPs"))
    ip = dig(pod_ips[0], "ip") if pod_ips else status.get("podIP")
    gates = as_list(spec.get("readinessGates"))
    gates_text = NONE
    if gates:
        wanted = {dig(g, "conditionType") for g in gates}
        met = sum(1 for c in as_list(status.get("conditions"))
                  if dig(c, "type") in wanted and dig(c, "status") == "True")
        gates_text = f"{met}/{len(gates)}"
    return [name_of(obj), f"{ready}/{total}", reason, restarts_text, age(obj, now),
            ip or NONE, spec.get("nodeName") or NONE, status.get("nominatedNodeName") or NONE,
            gates_text]


def _pvc(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    phase = status.get("phase") or ""
    if dig(obj, "metadata", "deletionTimestamp"):
        phase = "Terminating"
    capacity = modes = ""
    if spec.get("volumeName"):
        short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                 "ReadWriteOncePod": "RWOP"}
        modes = ",".join(short.get(str(m), str(m)) for m in as_list(status.get("accessModes")))
        capacity = str(dig(status, "capacity", "storage") or "")
    storage_class = spec.get("storageClassName")
    if storage_class is None:
        storage_class = dig(obj, "metadata", "annotations",
                             "volume.beta.kubernetes.io/storage-class") or ""
    attributes_class = spec.get("volumeAttributesClassName")
    return [name_of(obj), phase, spec.get("volumeName") or "", capacity, modes, storage_class,
            "<unset>" if attributes_class is None else attributes_class, age(obj, now),
            spec.get("volumeMode") or "<unset>"]


def _event_source(obj: Obj) -> str:
    component = (dig(obj, "source", "component") or dig(obj, "deprecatedSource", "component")
                 or obj.get("reportingController") or "")
    host = (dig(obj, "source", "host") or dig(obj, "deprecatedSource", "host")
            or obj.get("reportingInstance") or "")
    return f"{component}, {host}" if host else str(component)


def _event(obj: Obj, now: datetime) -> list[Any]:
    # core/v1 Events and events.k8s.io/v1 Events name the same facts differently.
    involved = as_dict(obj.get("involvedObject") or obj.get("regarding"))
    first_stamp = obj.get("firstTimestamp") or obj.get("deprecatedFirstTimestamp")
    first = since(first_stamp, now) if first_stamp else since(obj.get("eventTime"), now)
    last_stamp = obj.get("lastTimestamp") or obj.get("deprecatedLastTimestamp")
    last = since(last_stamp, now) if last_stamp else first
    series = as_dict(obj.get("series"))
    count = as_int(obj.get("count") or obj.get("deprecatedCount"))
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = as_int(series.get("count"))
    elif count == 0:
        count = 1
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    message = str(obj.get("message") or obj.get("note") or "").strip()
    return [last, obj.get("type") or "", obj.get("reason") or "", target,
            involved.get("fieldPath") or "", _event_source(obj), message, first, count, name_of(obj)]


# ------------------------------------------------------------------ workloads


def _deployment(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    desired = as_int(spec.get("replicas")) if "replicas" in spec else 1
    names, images = containers_and_images(dig(spec, "template", "spec"))
    return [name_of(obj), f"{as_int(status.get('readyReplicas'))}/{desired}",
            as_int(status.get("updatedReplicas")), as_int(status.get("availableReplicas")),
            age(obj, now), names, images, selector_text(spec.get("selector"))]


def _replica_set(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    desired = as_int(spec.get("replicas")) if "replicas" in spec else 1
    names, images = containers_and_images(dig(spec, "template", "spec"))
    return [name_of(obj), desired, as_int(status.get("replicas")), as_int(status.get("readyReplicas")),
            age(obj, now), names, images, selector_text(spec.get("selector"))]


def _stateful_set(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    desired = as_int(spec.get("replicas")) if "replicas" in spec else 1
    names, images = containers_and_images(dig(spec, "template", "spec"))
    return [name_of(obj), f"{as_int(dig(obj, 'status', 'readyReplicas'))}/{desired}",
            age(obj, now), names, images]


def _daemon_set(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    names, images = containers_and_images(dig(spec, "template", "spec"))
    return [name_of(obj), as_int(status.get("desiredNumberScheduled")),
            as_int(status.get("currentNumberScheduled")), as_int(status.get("numberReady")),
            as_int(status.get("updatedNumberScheduled")), as_int(status.get("numberAvailable")),
            labels_text(dig(spec, "template", "spec", "nodeSelector")), age(obj, now),
            names, images, selector_text(spec.get("selector"))]


def _job_status(obj: Obj) -> str:
    if has_condition(obj, "Complete"):
        return "Complete"
    if has_condition(obj, "Failed"):
        return "Failed"
    if dig(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    for ctype in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if has_condition(obj, ctype):
            return ctype
    return "Running"


def _job(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    succeeded = as_int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{as_int(spec.get('completions'))}"
    elif as_int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {as_int(spec.get('parallelism'))}"
    else:
        completions = f"{succeeded}/1"
    start = parse_timestamp(status.get("startTime"))
    end = parse_timestamp(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration(((end or now) - start).total_seconds())
    names, images = containers_and_images(dig(spec, "template", "spec"))
    return [name_of(obj), _job_status(obj), completions, duration, age(obj, now),
            names, images, selector_text(spec.get("selector"))]


def _cron_job(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    suspend = spec.get("suspend")
    last = status.get("lastScheduleTime")
    job_spec = dig(spec, "jobTemplate", "spec")
    names, images = containers_and_images(dig(job_spec, "template", "spec"))
    return [name_of(obj), spec.get("schedule") or "", spec.get("timeZone") or NONE,
            # An unset suspend reads False: the API server defaults it so.
            "True" if suspend is True else "False",
            len(as_list(status.get("active"))), since(last, now) if last else NONE,
            age(obj, now), names, images, selector_text(dig(job_spec, "selector"))]


# ------------------------------------------------------------------ others


def _ingress_hosts(rules: list[Any]) -> str:
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        host = dig(rule, "host")
        if not more and host:
            hosts.append(str(host))
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if more else text


def _ingress(obj: Obj, now: datetime) -> list[Any]:
    spec = as_dict(obj.get("spec"))
    return [name_of(obj), spec.get("ingressClassName") or NONE,
            _ingress_hosts(as_list(spec.get("rules"))), load_balancer_text(obj.get("status")),
            "80, 443" if as_list(spec.get("tls")) else "80", age(obj, now)]


def _lease(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), dig(obj, "spec", "holderIdentity") or "", age(obj, now)]


def _crd(obj: Obj, now: datetime) -> list[Any]:
    stamp = parse_timestamp(dig(obj, "metadata", "creationTimestamp"))
    created = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if stamp else None
    return [name_of(obj), created]


def _default(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), age(obj, now)]


def _col(name: str, description: str, priority: int = 0, type_: str = "string") -> Column:
    return Column(name, type_, "", description, priority)


_WORKLOAD_WIDE = [_CONTAINERS, _IMAGES, _SELECTOR]

BUILTIN_PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Namespace"): Printer(
        [_NAME, _col("Status", "The lifecycle phase of the namespace."), _AGE], _namespace),
    ("", "ConfigMap"): Printer(
        [_NAME, _col("Data", "Number of keys in data and binaryData.", type_="integer"), _AGE],
        _config_map),
    ("", "Secret"): Printer(
        [_NAME, _col("Type", "The type of the secret."),
         _col("Data", "Number of keys in the secret.", type_="integer"), _AGE], _secret),
    ("", "ServiceAccount"): Printer(
        [_NAME, _col("Secrets", "Number of secrets listed by the account.", type_="integer"), _AGE],
        _service_account),
    ("", "Service"): Printer(
        [_NAME, _col("Type", "How the service is exposed."),
         _col("Cluster-IP", "The service's virtual IP inside the cluster."),
         _col("External-IP", "Addresses reaching the service from outside the cluster."),
         _col("Port(s)", "Ports the service exposes, with their node ports."), _AGE,
         _col("Selector", "Labels selecting the pods behind the service.", 1)], _service),
    ("", "Pod"): Printer(
        [_NAME, _col("Ready", "Ready containers out of all containers."),
         _col("Status", "The pod's state as kubectl summarises it."),
         _col("Restarts", "Container restarts, and how long ago the last one was."), _AGE,
         _col("IP", "The pod's IP address.", 1), _col("Node", "The node running the pod.", 1),
         _col("Nominated Node", "The node nominated by preemption.", 1),
         _col("Readiness Gates", "Readiness gates met out of those declared.", 1)], _pod),
    ("", "PersistentVolumeClaim"): Printer(
        [_NAME, _col("Status", "The claim's phase."), _col("Volume", "The bound volume."),
         _col("Capacity", "Capacity of the bound volume."),
         _col("Access Modes", "Access modes of the bound volume."),
         _col("StorageClass", "The storage class requested."),
         _col("VolumeAttributesClass", "The volume attributes class requested."), _AGE,
         _col("VolumeMode", "Filesystem or Block.", 1)], _pvc),
    ("", "Event"): Printer(
        [_col("Last Seen", "Time since the event was last seen."),
         _col("Type", "Normal or Warning."), _col("Reason", "Why the event was recorded."),
         _col("Object", "The object the event is about."),
         _col("Subobject", "The part of the object the event is about.", 1),
         _col("Source", "The component that recorded the event.", 1),
         _col("Message", "What happened."),
         _col("First Seen", "Time since the event was first seen.", 1),
         _col("Count", "How many times the event happened.", 1, "integer"),
         _col("Name", "Name of the event.", 1)], _event),
    ("apps", "Deployment"): Printer(
        [_NAME, _col("Ready", "Ready replicas out of the desired replicas."),
         _col("Up-to-date", "Replicas running the current template.", type_="integer"),
         _col("Available", "Replicas available to serve.", type_="integer"), _AGE,
         *_WORKLOAD_WIDE], _deployment),
    ("apps", "ReplicaSet"): Printer(
        [_NAME, _col("Desired", "Replicas wanted.", type_="integer"),
         _col("Current", "Replicas created.", type_="integer"),
         _col("Ready", "Replicas ready.", type_="integer"), _AGE, *_WORKLOAD_WIDE], _replica_set),
    ("apps", "StatefulSet"): Printer(
        [_NAME, _col("Ready", "Ready replicas out of the desired replicas."), _AGE,
         _CONTAINERS, _IMAGES], _stateful_set),
    ("apps", "DaemonSet"): Printer(
        [_NAME, _col("Desired", "Nodes that should run the pod.", type_="integer"),
         _col("Current", "Nodes running the pod.", type_="integer"),
         _col("Ready", "Nodes where the pod is ready.", type_="integer"),
         _col("Up-to-date", "Nodes running the current template.", type_="integer"),
         _col("Available", "Nodes where the pod is available.", type_="integer"),
         _col("Node Selector", "Labels a node needs to run the pod."), _AGE, *_WORKLOAD_WIDE],
        _daemon_set),
    ("batch", "Job"): Printer(
        [_NAME, _col("Status", "Running, Complete, Failed, Suspended..."),
         _col("Completions", "Succeeded pods out of those wanted."),
         _col("Duration", "How long the job ran."), _AGE, *_WORKLOAD_WIDE], _job),
    ("batch", "CronJob"): Printer(
        [_NAME, _col("Schedule", "The cron schedule."), _col("Timezone", "The schedule's time zone."),
         _col("Suspend", "Whether new runs are suspended."),
         _col("Active", "Jobs running now.", type_="integer"),
         _col("Last Schedule", "Time since a job was last scheduled."), _AGE, *_WORKLOAD_WIDE],
        _cron_job),
    ("networking.k8s.io", "Ingress"): Printer(
        [_NAME, _col("Class", "The ingress class."), _col("Hosts", "Hosts the rules match."),
         _col("Address", "Addresses of the load balancer."), _col("Ports", "Ports served."), _AGE],
        _ingress),
    ("coordination.k8s.io", "Lease"): Printer(
        [_NAME, _col("Holder", "Who holds the lease."), _AGE], _lease),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): Printer(
        [_NAME, Column("Created At", "date", "", "When the definition was created.")], _crd),
}
# events.k8s.io/v1 serves the same Events under another group.
BUILTIN_PRINTERS[("events.k8s.io", "Event")] = BUILTIN_PRINTERS[("", "Event")]

DEFAULT_PRINTER = Printer([_NAME, _AGE], _default)
