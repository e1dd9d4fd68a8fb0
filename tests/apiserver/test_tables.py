"""Table responses give ``kubectl get`` the columns and cells a real API server gives it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest.tables import human_duration, table_for

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "uid": f"uid-{name}",
            "resourceVersion": "7", "creationTimestamp": ago(minutes=5), **extra}


def columns(table: dict[str, Any], wide: bool = False) -> list[str]:
    """The headers kubectl prints: upper-cased names, priority-0 ones unless -o wide."""
    return [c["name"].upper() for c in table["columnDefinitions"] if wide or c["priority"] == 0]


def cells(table: dict[str, Any], wide: bool = False) -> list[list[Any]]:
    keep = [wide or c["priority"] == 0 for c in table["columnDefinitions"]]
    return [[cell for cell, k in zip(row["cells"], keep, strict=True) if k] for row in table["rows"]]


def builtin(kind: str, group: str, *items: dict[str, Any]) -> dict[str, Any]:
    return table_for(kind, group, list(items), None, "None", NOW)


# ---------------------------------------------------------------- ages


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-1.5, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"),
    (190, "3m10s"), (599, "9m59s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"),
    (3 * 3600 + 25 * 60, "3h25m"), (8 * 3600 + 59 * 60, "8h"), (47 * 3600, "47h"),
    (48 * 3600, "2d"), (51 * 3600, "2d3h"), (8 * 86400, "8d"), (400 * 86400, "400d"),
    (2 * 365 * 86400, "2y"), (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y"),
])
def test_ages_read_like_kubectl(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


# ---------------------------------------------------------------- custom resources

FLUX_COLUMNS = [
    {"name": "URL", "type": "string", "jsonPath": ".spec.url"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Status", "type": "string",
     "jsonPath": '.status.conditions[?(@.type=="Ready")].message'},
    {"name": "Last Scan", "type": "date", "priority": 1, "description": "when last scanned",
     "jsonPath": ".status.lastScanTime"},
    {"name": "Tags", "type": "integer", "jsonPath": ".status.tagCount"},
    {"name": "Suspended", "type": "boolean", "jsonPath": ".spec.suspend"},
]


def gitrepo(name: str, **status: Any) -> dict[str, Any]:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": meta(name), "spec": {"url": f"https://github.com/example/{name}"},
            "status": status}


def test_crd_tables_start_with_name_then_the_printer_columns() -> None:
    ready = {"type": "Ready", "status": "True",
             "message": "stored artifact for revision 'main@sha1:e3b0c442'"}
    items = [
        gitrepo("podinfo", conditions=[ready], lastScanTime=ago(seconds=42), tagCount=33.0),
        gitrepo("fresh"),
    ]
    items[1]["spec"]["suspend"] = True
    table = table_for("GitRepository", "source.toolkit.fluxcd.io", items, FLUX_COLUMNS,
                      "None", NOW, resource_version="123")
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "123"}
    assert columns(table) == ["NAME", "URL", "AGE", "READY", "STATUS", "TAGS", "SUSPENDED"]
    assert columns(table, wide=True) == [
        "NAME", "URL", "AGE", "READY", "STATUS", "LAST SCAN", "TAGS", "SUSPENDED"]
    name_column = table["columnDefinitions"][0]
    assert (name_column["type"], name_column["format"], name_column["priority"]) == ("string", "name", 0)
    scan_column = table["columnDefinitions"][5]
    assert scan_column == {"name": "Last Scan", "type": "date", "format": "",
                           "description": "when last scanned", "priority": 1}
    assert [row["cells"] for row in table["rows"]] == [
        ["podinfo", "https://github.com/example/podinfo", "5m", "True",
         "stored artifact for revision 'main@sha1:e3b0c442'", "42s", 33, None],
        ["fresh", "https://github.com/example/fresh", "5m", None, None, None, None, True],
    ]
    assert all("object" not in row for row in table["rows"])


def test_a_crd_without_printer_columns_shows_its_age() -> None:
    table = table_for("Widget", "example.com", [gitrepo("w")], [], "None", NOW)
    assert columns(table) == ["NAME", "AGE"]
    assert table["columnDefinitions"][1]["type"] == "date"
    assert cells(table) == [["w", "5m"]]


def test_string_columns_print_numbers_and_objects_as_kubectl_does() -> None:
    cols = [{"name": "Replicas", "type": "string", "jsonPath": ".spec.replicas"},
            {"name": "Ref", "type": "string", "jsonPath": ".spec.ref"},
            {"name": "Image", "type": "string", "jsonPath": ".spec.containers[*].image"},
            {"name": "Created", "type": "date", "jsonPath": ".spec.when"}]
    obj = {"metadata": meta("x"), "spec": {"replicas": 3, "ref": {"tag": "v1", "branch": "main"},
                                           "containers": [{"image": "a:1"}, {"image": "b:2"}],
                                           "when": "not a time"}}
    table = table_for("X", "example.com", [obj], cols, "None", NOW)
    assert cells(table) == [["x", "3", '{"branch":"main","tag":"v1"}', "a:1", "<invalid>"]]


@pytest.mark.parametrize("include", ["Metadata", ""])
def test_rows_carry_partial_object_metadata_by_default(include: str) -> None:
    obj = gitrepo("podinfo")
    table = table_for("GitRepository", "source.toolkit.fluxcd.io", [obj], FLUX_COLUMNS, include, NOW,
                      resource_version="9", continue_token="abc")
    assert table["metadata"] == {"resourceVersion": "9", "continue": "abc"}
    row_object = table["rows"][0]["object"]
    assert row_object == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                          "metadata": obj["metadata"]}
    row_object["metadata"]["name"] = "changed"
    assert obj["metadata"]["name"] == "podinfo"


def test_rows_carry_the_whole_object_when_asked() -> None:
    obj = gitrepo("podinfo")
    table = table_for("GitRepository", "source.toolkit.fluxcd.io", [obj], FLUX_COLUMNS, "Object", NOW)
    assert table["rows"][0]["object"] == obj


def test_an_unknown_include_object_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as info:
        table_for("Pod", "", [], None, "Everything", NOW)
    assert info.value.code == 400
    assert "includeObject" in info.value.message


def test_an_empty_list_has_columns_and_no_rows() -> None:
    table = table_for("Deployment", "apps", [], None, "Metadata", NOW)
    assert table["rows"] == []
    assert columns(table) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]


# ---------------------------------------------------------------- built-in kinds


def pod(name: str, **status: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": meta(name),
            "spec": {"nodeName": "sluice", "containers": [{"name": "app", "image": "agnhost:2.39"}]},
            "status": status}


def running(name: str = "app", restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": name, "ready": True, "restartCount": restarts,
            "state": {"running": {"startedAt": ago(minutes=4)}}, **extra}


def test_pods() -> None:
    ok = pod("web", phase="Running", podIP="10.244.0.5", containerStatuses=[running()])
    creating = pod("new", phase="Pending", containerStatuses=[{
        "name": "app", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}}}])
    crashing = pod("bad", phase="Running", containerStatuses=[{
        "name": "app", "ready": False, "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=2)}}}])
    leaving = pod("old", phase="Running", containerStatuses=[running()])
    leaving["metadata"]["deletionTimestamp"] = ago(seconds=3)
    done = pod("job", phase="Succeeded", containerStatuses=[{
        "name": "app", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}])
    init = pod("init", phase="Pending", initContainerStatuses=[{
        "name": "setup", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": "PodInitializing"}}}])
    init["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]

    table = builtin("Pod", "", ok, creating, crashing, leaving, done, init)
    assert columns(table) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert columns(table, wide=True)[5:] == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    assert cells(table) == [
        ["web", "1/1", "Running", "0", "5m"],
        ["new", "0/1", "ContainerCreating", "0", "5m"],
        ["bad", "0/1", "CrashLoopBackOff", "4 (2m ago)", "5m"],
        ["old", "1/1", "Terminating", "0", "5m"],
        ["job", "0/1", "Completed", "0", "5m"],
        ["init", "0/1", "Init:0/1", "0", "5m"],
    ]
    assert cells(table, wide=True)[0][5:] == ["10.244.0.5", "sluice", "<none>", "<none>"]
    assert cells(table, wide=True)[1][5] == "<none>"


def test_deployments_replicasets_statefulsets_daemonsets() -> None:
    template = {"spec": {"containers": [{"name": "agnhost", "image": "agnhost:2.39"},
                                        {"name": "proxy", "image": "envoy:1.30"}]}}
    selector = {"matchLabels": {"app": "agnhost"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]}
    deployment = {"kind": "Deployment", "metadata": meta("agnhost"),
                  "spec": {"replicas": 3, "selector": selector, "template": template},
                  "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                             "availableReplicas": 2}}
    table = builtin("Deployment", "apps", deployment)
    assert columns(table, wide=True) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE",
                                         "CONTAINERS", "IMAGES", "SELECTOR"]
    assert [c["type"] for c in table["columnDefinitions"][2:4]] == ["integer", "integer"]
    assert cells(table, wide=True) == [["agnhost", "2/3", 3, 2, "5m", "agnhost,proxy",
                                        "agnhost:2.39,envoy:1.30", "app=agnhost,tier in (api,web)"]]

    rs = {"kind": "ReplicaSet", "metadata": meta("agnhost-5d8f"),
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "agnhost"}}, "template": template},
          "status": {"replicas": 1, "readyReplicas": 1}}
    table = builtin("ReplicaSet", "apps", rs)
    assert columns(table) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert cells(table) == [["agnhost-5d8f", 1, 1, 1, "5m"]]

    sts = {"kind": "StatefulSet", "metadata": meta("db"), "spec": {"replicas": 2, "template": template},
           "status": {"readyReplicas": 1}}
    table = builtin("StatefulSet", "apps", sts)
    assert columns(table) == ["NAME", "READY", "AGE"]
    assert cells(table) == [["db", "1/2", "5m"]]

    ds = {"kind": "DaemonSet", "metadata": meta("agent"),
          "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                         "containers": [{"name": "a", "image": "a:1"}]}}},
          "status": {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 0,
                     "updatedNumberScheduled": 1, "numberAvailable": 0}}
    table = builtin("DaemonSet", "apps", ds)
    assert columns(table) == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                              "NODE SELECTOR", "AGE"]
    assert cells(table) == [["agent", 1, 1, 0, 1, 0, "kubernetes.io/os=linux", "5m"]]


def test_services() -> None:
    cluster_ip = {"kind": "Service", "metadata": meta("agnhost"),
                  "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.12", "selector": {"app": "agnhost"},
                           "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}}
    node_port = {"kind": "Service", "metadata": meta("web"),
                 "spec": {"type": "NodePort", "clusterIP": "10.96.0.13",
                          "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                    {"port": 53, "protocol": "UDP"}]}}
    balancer = {"kind": "Service", "metadata": meta("lb"),
                "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.14", "ports": [{"port": 443}]}}
    external = {"kind": "Service", "metadata": meta("ext"),
                "spec": {"type": "ExternalName", "externalName": "example.com"}}
    headless = {"kind": "Service", "metadata": meta("db"), "spec": {"clusterIP": "None"}}
    table = builtin("Service", "", cluster_ip, node_port, balancer, external, headless)
    assert columns(table) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert cells(table) == [
        ["agnhost", "ClusterIP", "10.96.0.12", "<none>", "80/TCP", "5m"],
        ["web", "NodePort", "10.96.0.13", "<none>", "80:30080/TCP,53/UDP", "5m"],
        ["lb", "LoadBalancer", "10.96.0.14", "<pending>", "443/TCP", "5m"],
        ["ext", "ExternalName", "<none>", "example.com", "<none>", "5m"],
        ["db", "ClusterIP", "None", "<none>", "<none>", "5m"],
    ]
    assert cells(table, wide=True)[0][6] == "app=agnhost"


def test_namespaces_configmaps_secrets_service_accounts_leases() -> None:
    ns = {"kind": "Namespace", "metadata": meta("flux-system"), "status": {"phase": "Active"}}
    assert columns(builtin("Namespace", "", ns)) == ["NAME", "STATUS", "AGE"]
    assert cells(builtin("Namespace", "", ns)) == [["flux-system", "Active", "5m"]]

    cm = {"kind": "ConfigMap", "metadata": meta("settings"), "data": {"a": "1", "b": "2"},
          "binaryData": {"c": "AA=="}}
    assert columns(builtin("ConfigMap", "", cm)) == ["NAME", "DATA", "AGE"]
    assert cells(builtin("ConfigMap", "", cm)) == [["settings", 3, "5m"]]

    secret = {"kind": "Secret", "metadata": meta("flux-system"), "type": "Opaque",
              "data": {"identity": "eA==", "known_hosts": "eA=="}}
    assert columns(builtin("Secret", "", secret)) == ["NAME", "TYPE", "DATA", "AGE"]
    assert cells(builtin("Secret", "", secret)) == [["flux-system", "Opaque", 2, "5m"]]

    sa = {"kind": "ServiceAccount", "metadata": meta("default")}
    assert columns(builtin("ServiceAccount", "", sa)) == ["NAME", "SECRETS", "AGE"]
    assert cells(builtin("ServiceAccount", "", sa)) == [["default", 0, "5m"]]

    lease = {"kind": "Lease", "metadata": meta("source-controller-leader"),
             "spec": {"holderIdentity": "source-controller-7f9c_1a2b"}}
    assert columns(builtin("Lease", "coordination.k8s.io", lease)) == ["NAME", "HOLDER", "AGE"]
    assert cells(builtin("Lease", "coordination.k8s.io", lease)) == [
        ["source-controller-leader", "source-controller-7f9c_1a2b", "5m"]]


def test_jobs_and_cronjobs() -> None:
    complete = {"kind": "Job", "metadata": meta("migrate"),
                "spec": {"completions": 1, "template": {"spec": {"containers": []}}},
                "status": {"succeeded": 1, "startTime": ago(minutes=4), "completionTime": ago(minutes=3),
                           "conditions": [{"type": "Complete", "status": "True"}]}}
    active = {"kind": "Job", "metadata": meta("backup"), "spec": {"parallelism": 3},
              "status": {"startTime": ago(seconds=30)}}
    table = builtin("Job", "batch", complete, active)
    assert columns(table) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert cells(table) == [["migrate", "Complete", "1/1", "60s", "5m"],
                            ["backup", "Running", "0/1 of 3", "30s", "5m"]]

    cron = {"kind": "CronJob", "metadata": meta("nightly"),
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {}}}}},
            "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(hours=9)}}
    table = builtin("CronJob", "batch", cron)
    assert columns(table) == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"]
    assert cells(table) == [["nightly", "0 3 * * *", "<none>", "False", 1, "9h", "5m"]]


def test_ingresses_and_persistent_volume_claims() -> None:
    ingress = {"kind": "Ingress", "metadata": meta("podinfo"),
               "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                        "rules": [{"host": h} for h in ("a.example.com", "b.example.com",
                                                        "c.example.com", "d.example.com")]},
               "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}
    table = builtin("Ingress", "networking.k8s.io", ingress)
    assert columns(table) == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert cells(table) == [["podinfo", "nginx",
                             "a.example.com,b.example.com,c.example.com + 1 more...",
                             "192.0.2.10", "80, 443", "5m"]]

    bound = {"kind": "PersistentVolumeClaim", "metadata": meta("data"),
             "spec": {"volumeName": "pv-1", "storageClassName": "standard"},
             "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}}
    pending = {"kind": "PersistentVolumeClaim", "metadata": meta("cache"), "spec": {},
               "status": {"phase": "Pending"}}
    table = builtin("PersistentVolumeClaim", "", bound, pending)
    assert columns(table) == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
                              "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert cells(table) == [["data", "Bound", "pv-1", "1Gi", "RWO", "standard", "<unset>", "5m"],
                            ["cache", "Pending", "", "", "", "", "<unset>", "5m"]]


def test_events() -> None:
    event = {"kind": "Event", "metadata": meta("podinfo.17c8"), "type": "Normal",
             "reason": "ReconciliationSucceeded", "message": "Reconciliation finished in 1.2s\n",
             "involvedObject": {"kind": "Kustomization", "name": "podinfo"},
             "source": {"component": "kustomize-controller"},
             "firstTimestamp": ago(minutes=10), "lastTimestamp": ago(seconds=20), "count": 3}
    table = builtin("Event", "", event)
    assert columns(table) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert cells(table) == [["20s", "Normal", "ReconciliationSucceeded", "kustomization/podinfo",
                             "Reconciliation finished in 1.2s"]]
    assert cells(table, wide=True)[0][4:] == ["", "kustomize-controller",
                                              "Reconciliation finished in 1.2s", "10m", 3, "podinfo.17c8"]
    # events.k8s.io/v1 spells the same fields differently.
    new_style = {"kind": "Event", "metadata": meta("x"), "type": "Warning", "reason": "Failed",
                 "note": "oops", "regarding": {"kind": "Pod", "name": "web"},
                 "eventTime": ago(seconds=5), "reportingController": "kubelet"}
    assert cells(builtin("Event", "events.k8s.io", new_style)) == [
        ["5s", "Warning", "Failed", "pod/web", "oops"]]


def test_crds_and_other_kinds() -> None:
    crd = {"kind": "CustomResourceDefinition",
           "metadata": {"name": "gitrepositories.source.toolkit.fluxcd.io",
                        "creationTimestamp": "2024-04-30T08:15:00Z"}}
    table = builtin("CustomResourceDefinition", "apiextensions.k8s.io", crd)
    assert columns(table) == ["NAME", "CREATED AT"]
    assert cells(table) == [["gitrepositories.source.toolkit.fluxcd.io", "2024-04-30T08:15:00Z"]]

    role = {"kind": "Role", "metadata": meta("reader")}
    no_time = {"kind": "Role", "metadata": {"name": "undated"}}
    table = builtin("Role", "rbac.authorization.k8s.io", role, no_time)
    assert columns(table) == ["NAME", "AGE"]
    assert cells(table) == [["reader", "5m"], ["undated", "<unknown>"]]
