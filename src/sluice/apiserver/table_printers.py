"""Built-in column sets of ``kubectl get``, as Kubernetes' own table printers define them.

For the kinds that ship with Kubernetes the server, not kubectl, decides the
columns: a Pod's ``READY 1/1`` and ``STATUS CrashLoopBackOff``, a Service's
``PORT(S) 80:30080/TCP``, a Deployment's ``UP-TO-DATE``. This module holds
one :class:`Printer` per (group, kind), each a list of :class:`Column` and a
function that turns an object into its cells, following the rules of
Kubernetes' printers so that ``kubectl get`` against the embedded cluster
reads as it does against a real one. Columns of priority 1 appear only with
``-o wide``. :mod:`sluice.apiserver.tables` builds the Table responses
around them.

Ages use :func:`human_duration`, the same rounding as Kubernetes
(``duration.HumanDuration``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BUILTIN_PRINTERS",
    "DEFAULT_PRINTER",
    "Column",
    "Printer",
    "human_duration",
    "parse_timestamp",
]

Obj = dict[str, Any]


def human_duration(seconds: float) -> str:
    """A duration as Kubernetes prints ages: ``45s``, ``3m10s``, ``5h``, ``2d3h``, ``3y``.

    The precision falls as the duration grows, as with ``kubectl get``. Up to
    a second of clock skew into the future reads ``0s``; more reads
    ``<invalid>``.
    """
    whole = int(seconds)  # truncated toward zero, like Go's int(d.Seconds())
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{hours // 24 // 365}y"


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        # Python accepts at most six fractional digits; Kubernetes writes up to nine.
        head, _, tail = text.partition(".")
        digits = ""
        while tail and tail[0].isdigit():
            digits, tail = digits + tail[0], tail[1:]
        text = f"{head}.{(digits + '000000')[:6]}{tail}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Column:
    """One ``columnDefinitions`` entry of a Table."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class Printer:
    """The columns of one kind and the function computing a row's cells."""

    columns: list[Column]
    cells: Callable[[Obj, datetime], list[Any]]

    def bind(self, now: datetime) -> Callable[[Obj], list[Any]]:
        return lambda obj: self.cells(obj, now)


# ------------------------------------------------------------------ helpers

NONE = "<none>"


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _name(obj: Obj) -> str:
    return str(_get(obj, "metadata", "name") or "")


def _since(value: Any, now: datetime) -> str:
    stamp = parse_timestamp(value)
    if stamp is None:
        return "<unknown>"
    return human_duration((now - stamp).total_seconds())


def _age(obj: Obj, now: datetime) -> str:
    return _since(_get(obj, "metadata", "creationTimestamp"), now)


def _labels_text(labels: Any) -> str:
    """A label map as ``a=b,c=d`` (sorted), or ``<none>``."""
    pairs = _dict(labels)
    if not pairs:
        return NONE
    return ",".join(f"{k}={pairs[k]}" for k in sorted(pairs))


def _selector_text(selector: Any) -> str:
    """A LabelSelector as kubectl writes it: ``app=web,tier in (a,b),!legacy``."""
    sel = _dict(selector)
    parts: list[tuple[str, str]] = []
    for key, value in _dict(sel.get("matchLabels")).items():
        parts.append((key, f"{key}={value}"))
    for expr in _list(sel.get("matchExpressions")):
        key = str(_get(expr, "key") or "")
        values = ",".join(sorted(str(v) for v in _list(_get(expr, "values"))))
        op = _get(expr, "operator")
        if op == "In":
            parts.append((key, f"{key} in ({values})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({values})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    if not parts:
        return NONE
    return ",".join(text for _, text in sorted(parts, key=lambda p: p[0]))


def _containers(pod_spec: Any) -> tuple[str, str]:
    """Container names and images of a pod spec, comma-joined (the wide columns)."""
    containers = [c for c in _list(_get(pod_spec, "containers")) if isinstance(c, dict)]
    return (",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers))


def _has_condition(obj: Obj, ctype: str) -> bool:
    return any(_get(c, "type") == ctype and _get(c, "status") == "True"
               for c in _list(_get(obj, "status", "conditions")))


def _load_balancer_text(status: Any) -> str:
    ingress = _list(_get(status, "loadBalancer", "ingress"))
    addresses = [str(i.get("ip") or i.get("hostname") or "") for i in ingress if isinstance(i, dict)]
    return ",".join(a for a in addresses if a)


_NAME = Column("Name", "string", "name", "Name of the object, unique within its namespace (or in the cluster).")
_AGE = Column("Age", "string", "", "Time since the object was created.")
_CONTAINERS = Column("Containers", "string", "", "Names of the containers of the pod template.", 1)
_IMAGES = Column("Images", "string", "", "Images of the containers of the pod template.", 1)
_SELECTOR = Column("Selector", "string", "", "Label selector of the pods this object manages.", 1)


# ------------------------------------------------------------------ core kinds


def _namespace(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _get(obj, "status", "phase") or "", _age(obj, now)]


def _config_map(obj: Obj, now: datetime) -> list[Any]:
    count = len(_dict(obj.get("data"))) + len(_dict(obj.get("binaryData")))
    return [_name(obj), count, _age(obj, now)]


def _secret(obj: Obj, now: datetime) -> list[Any]:
    keys = set(_dict(obj.get("data"))) | set(_dict(obj.get("stringData")))
    return [_name(obj), obj.get("type") or "Opaque", len(keys), _age(obj, now)]


def _service_account(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), len(_list(obj.get("secrets"))), _age(obj, now)]


def _service_external_ip(obj: Obj) -> str:
    spec = _dict(obj.get("spec"))
    external = [str(ip) for ip in _list(spec.get("externalIPs"))]
    stype = spec.get("type") or "ClusterIP"
    if stype in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if stype == "LoadBalancer":
        balancer = _load_balancer_text(obj.get("status"))
        merged = ([balancer] if balancer else []) + external
        return ",".join(merged) if merged else "<pending>"
    if stype == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def _service_ports(spec: Obj) -> str:
    ports: list[str] = []
    for p in _list(spec.get("ports")):
        protocol = _get(p, "protocol") or "TCP"
        node_port = _int(_get(p, "nodePort"))
        port = _int(_get(p, "port"))
        ports.append(f"{port}:{node_port}/{protocol}" if node_port > 0 else f"{port}/{protocol}")
    return ",".join(ports) if ports else NONE


def _service(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    return [_name(obj), spec.get("type") or "ClusterIP", spec.get("clusterIP") or NONE,
            _service_external_ip(obj), _service_ports(spec), _age(obj, now),
            _labels_text(spec.get("selector"))]


def _pod_status(obj: Obj) -> tuple[str, int, int, str | None]:
    """(STATUS, ready containers, restarts, last restart time) as kubectl derives them."""
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    reason = str(status.get("reason") or status.get("phase") or "")
    for cond in _list(status.get("conditions")):
        if _get(cond, "type") == "PodScheduled" and _get(cond, "reason") == "SchedulingGated":
            reason = "SchedulingGated"
    restarts = 0
    ready = 0
    last_restart: str | None = None

    def note_restart(container: Any) -> None:
        nonlocal last_restart
        finished = _get(container, "lastState", "terminated", "finishedAt")
        if isinstance(finished, str) and (last_restart is None or finished > last_restart):
            last_restart = finished

    init_specs = _list(spec.get("initContainers"))
    initializing = False
    for i, ic in enumerate(_list(status.get("initContainerStatuses"))):
        restarts += _int(_get(ic, "restartCount"))
        note_restart(ic)
        terminated = _get(ic, "state", "terminated")
        waiting = _get(ic, "state", "waiting")
        sidecar = any(_get(s, "name") == _get(ic, "name") and _get(s, "restartPolicy") == "Always"
                      for s in init_specs)
        if isinstance(terminated, dict) and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and _get(ic, "started") is True:
            continue
        if isinstance(terminated, dict):
            if terminated.get("reason"):
                reason = f"Init:{terminated['reason']}"
            elif _int(terminated.get("signal")):
                reason = f"Init:Signal:{_int(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
        elif isinstance(waiting, dict) and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _has_condition(obj, "Initialized"):
        restarts = 0
        running = False
        for cs in reversed(_list(status.get("containerStatuses"))):
            restarts += _int(_get(cs, "restartCount"))
            note_restart(cs)
            waiting = _get(cs, "state", "waiting")
            terminated = _get(cs, "state", "terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, dict):
                signal = _int(terminated.get("signal"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif _get(cs, "ready") is True and isinstance(_get(cs, "state", "running"), dict):
                running = True
                ready += 1
        # A pod whose last container completed but others still run is Running.
        if reason == "Completed" and running:
            reason = "Running" if _has_condition(obj, "Ready") else "NotReady"

    if _get(obj, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, restarts, last_restart


def _pod(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    reason, ready, restarts, last_restart = _pod_status(obj)
    total = len(_list(spec.get("containers")))
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({_since(last_restart, now)} ago)"
    pod_ips = _list(status.get("podIPs"))
    ip = _get(pod_ips[0], "ip") if pod_ips else status.get("podIP")
    gates = _list(spec.get("readinessGates"))
    gates_text = NONE
    if gates:
        wanted = {_get(g, "conditionType") for g in gates}
        met = sum(1 for c in _list(status.get("conditions"))
                  if _get(c, "type") in wanted and _get(c, "status") == "True")
        gates_text = f"{met}/{len(gates)}"
    return [_name(obj), f"{ready}/{total}", reason, restarts_text, _age(obj, now),
            ip or NONE, spec.get("nodeName") or NONE, status.get("nominatedNodeName") or NONE,
            gates_text]


def _pvc(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    phase = status.get("phase") or ""
    if _get(obj, "metadata", "deletionTimestamp"):
        phase = "Terminating"
    capacity = modes = ""
    if spec.get("volumeName"):
        short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                 "ReadWriteOncePod": "RWOP"}
        modes = ",".join(short.get(str(m), str(m)) for m in _list(status.get("accessModes")))
        capacity = str(_get(status, "capacity", "storage") or "")
    storage_class = spec.get("storageClassName")
    if storage_class is None:
        storage_class = _get(obj, "metadata", "annotations",
                             "volume.beta.kubernetes.io/storage-class") or ""
    attributes_class = spec.get("volumeAttributesClassName")
    return [_name(obj), phase, spec.get("volumeName") or "", capacity, modes, storage_class,
            "<unset>" if attributes_class is None else attributes_class, _age(obj, now),
            spec.get("volumeMode") or "<unset>"]


def _event_source(obj: Obj) -> str:
    component = (_get(obj, "source", "component") or _get(obj, "deprecatedSource", "component")
                 or obj.get("reportingController") or "")
    host = (_get(obj, "source", "host") or _get(obj, "deprecatedSource", "host")
            or obj.get("reportingInstance") or "")
    return f"{component}, {host}" if host else str(component)


def _event(obj: Obj, now: datetime) -> list[Any]:
    # core/v1 Events and events.k8s.io/v1 Events name the same facts differently.
    involved = _dict(obj.get("involvedObject") or obj.get("regarding"))
    first_stamp = obj.get("firstTimestamp") or obj.get("deprecatedFirstTimestamp")
    first = _since(first_stamp, now) if first_stamp else _since(obj.get("eventTime"), now)
    last_stamp = obj.get("lastTimestamp") or obj.get("deprecatedLastTimestamp")
    last = _since(last_stamp, now) if last_stamp else first
    series = _dict(obj.get("series"))
    count = _int(obj.get("count") or obj.get("deprecatedCount"))
    if series:
        last = _since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    message = str(obj.get("message") or obj.get("note") or "").strip()
    return [last, obj.get("type") or "", obj.get("reason") or "", target,
            involved.get("fieldPath") or "", _event_source(obj), message, first, count, _name(obj)]


# ------------------------------------------------------------------ workloads


def _deployment(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    desired = _int(spec.get("replicas")) if "replicas" in spec else 1
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), f"{_int(status.get('readyReplicas'))}/{desired}",
            _int(status.get("updatedReplicas")), _int(status.get("availableReplicas")),
            _age(obj, now), names, images, _selector_text(spec.get("selector"))]


def _replica_set(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    desired = _int(spec.get("replicas")) if "replicas" in spec else 1
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), desired, _int(status.get("replicas")), _int(status.get("readyReplicas")),
            _age(obj, now), names, images, _selector_text(spec.get("selector"))]


def _stateful_set(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    desired = _int(spec.get("replicas")) if "replicas" in spec else 1
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), f"{_int(_get(obj, 'status', 'readyReplicas'))}/{desired}",
            _age(obj, now), names, images]


def _daemon_set(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), _int(status.get("desiredNumberScheduled")),
            _int(status.get("currentNumberScheduled")), _int(status.get("numberReady")),
            _int(status.get("updatedNumberScheduled")), _int(status.get("numberAvailable")),
            _labels_text(_get(spec, "template", "spec", "nodeSelector")), _age(obj, now),
            names, images, _selector_text(spec.get("selector"))]


def _job_status(obj: Obj) -> str:
    if _has_condition(obj, "Complete"):
        return "Complete"
    if _has_condition(obj, "Failed"):
        return "Failed"
    if _get(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    for ctype in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _has_condition(obj, ctype):
            return ctype
    return "Running"


def _job(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_int(spec.get('completions'))}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {_int(spec.get('parallelism'))}"
    else:
        completions = f"{succeeded}/1"
    start = parse_timestamp(status.get("startTime"))
    end = parse_timestamp(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration(((end or now) - start).total_seconds())
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), _job_status(obj), completions, duration, _age(obj, now),
            names, images, _selector_text(spec.get("selector"))]


def _cron_job(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    suspend = spec.get("suspend")
    last = status.get("lastScheduleTime")
    job_spec = _get(spec, "jobTemplate", "spec")
    names, images = _containers(_get(job_spec, "template", "spec"))
    return [_name(obj), spec.get("schedule") or "", spec.get("timeZone") or NONE,
            # An unset suspend reads False: the API server defaults it so.
            "True" if suspend is True else "False",
            len(_list(status.get("active"))), _since(last, now) if last else NONE,
            _age(obj, now), names, images, _selector_text(_get(job_spec, "selector"))]


# ------------------------------------------------------------------ others


def _ingress_hosts(rules: list[Any]) -> str:
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        host = _get(rule, "host")
        if not more and host:
            hosts.append(str(host))
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if more else text


def _ingress(obj: Obj, now: datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    return [_name(obj), spec.get("ingressClassName") or NONE,
            _ingress_hosts(_list(spec.get("rules"))), _load_balancer_text(obj.get("status")),
            "80, 443" if _list(spec.get("tls")) else "80", _age(obj, now)]


def _lease(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _get(obj, "spec", "holderIdentity") or "", _age(obj, now)]


def _crd(obj: Obj, now: datetime) -> list[Any]:
    stamp = parse_timestamp(_get(obj, "metadata", "creationTimestamp"))
    created = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if stamp else None
    return [_name(obj), created]


def _default(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _age(obj, now)]


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
