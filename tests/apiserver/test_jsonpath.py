"""The JSONPath dialect of CRD printer columns and ``kubectl -o jsonpath`` finds what kubectl finds."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.apiserver.schemas.jsonpath import evaluate, first, go_number_text, parse, to_text

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "podinfo-7d9c8b",
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "labels": {"app.kubernetes.io/name": "podinfo", "tier": "web"},
    },
    "spec": {
        "containers": [
            {"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.9.2",
             "ports": [{"containerPort": 9898}]},
            {"name": "sidecar", "image": "busybox:1.36", "ports": [{"containerPort": 8080}]},
        ],
    },
    "status": {
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "False", "message": "containers with unready status"},
        ],
        "restarts": [0, 3, 1],
    },
}

GITREPO: dict[str, Any] = {
    "spec": {"url": "https://github.com/stefanprodan/podinfo"},
    "status": {"conditions": [
        {"type": "Reconciling", "status": "True"},
        {"type": "Ready", "status": "True",
         "message": "stored artifact for revision 'main@sha1:e3b0c442'"},
    ]},
}


@pytest.mark.parametrize(("path", "expected"), [
    (".spec.url", ["https://github.com/stefanprodan/podinfo"]),
    ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
    ('.status.conditions[?(@.type=="Ready")].message',
     ["stored artifact for revision 'main@sha1:e3b0c442'"]),
    (".status.conditions[?(@.type=='Reconciling')].status", ["True"]),
    ('{.status.conditions[?(@.type=="Ready")].status}', ["True"]),
    ('$.spec.url', ["https://github.com/stefanprodan/podinfo"]),
])
def test_printer_column_paths_of_flux_kinds(path: str, expected: list[Any]) -> None:
    assert evaluate(path, GITREPO) == expected


def test_wildcards_indexes_and_slices() -> None:
    assert evaluate(".spec.containers[*].image", POD) == [
        "ghcr.io/stefanprodan/podinfo:6.9.2", "busybox:1.36"]
    assert evaluate(".spec.containers[0].name", POD) == ["podinfo"]
    assert evaluate(".spec.containers[-1].name", POD) == ["sidecar"]
    assert evaluate(".spec.containers[0,1].name", POD) == ["podinfo", "sidecar"]
    assert evaluate(".status.restarts[1:]", POD) == [3, 1]
    assert evaluate(".status.restarts[::2]", POD) == [0, 1]
    assert evaluate(".spec.containers[*].ports[*].containerPort", POD) == [9898, 8080]
    assert evaluate(".metadata.labels.*", POD) == ["podinfo", "web"]


def test_items_of_a_list() -> None:
    listing = {"kind": "List", "items": [POD, GITREPO]}
    assert evaluate(".items[0].metadata.name", listing) == ["podinfo-7d9c8b"]
    assert evaluate(".items[*].spec.url", listing) == ["https://github.com/stefanprodan/podinfo"]


def test_names_with_dots_can_be_escaped_or_quoted() -> None:
    assert evaluate(r".metadata.labels.app\.kubernetes\.io/name", POD) == ["podinfo"]
    assert evaluate(".metadata.labels['app.kubernetes.io/name']", POD) == ["podinfo"]
    assert evaluate('.metadata.labels["tier","app.kubernetes.io/name"]', POD) == ["web", "podinfo"]


def test_recursive_descent() -> None:
    assert evaluate("..containerPort", POD) == [9898, 8080]
    assert evaluate("..image", POD) == ["ghcr.io/stefanprodan/podinfo:6.9.2", "busybox:1.36"]


def test_filters_compare_numbers_and_test_existence() -> None:
    assert evaluate(".spec.containers[?(@.ports[0].containerPort > 9000)].name", POD) == ["podinfo"]
    assert evaluate(".spec.containers[?(@.ports[0].containerPort <= 8080)].name", POD) == ["sidecar"]
    assert evaluate('.status.conditions[?(@.type!="Ready")].type', POD) == ["Initialized"]
    assert evaluate(".status.conditions[?(@.message)].type", POD) == ["Ready"]
    # A number never equals a string.
    assert evaluate('.spec.containers[?(@.ports[0].containerPort=="9898")].name', POD) == []


def test_a_path_that_leads_nowhere_selects_nothing() -> None:
    assert evaluate(".spec.nothing", POD) == []
    assert evaluate(".spec.containers[5].name", POD) == []
    assert evaluate('.status.conditions[?(@.type=="Stalled")].status', POD) == []
    assert evaluate(".metadata.name.first", POD) == []
    assert first(".status.phase", POD) is None
    assert first(".metadata.creationTimestamp", POD) == "2024-05-01T10:00:00Z"


def test_a_lone_dot_is_the_object_itself() -> None:
    assert evaluate(".", {"a": 1}) == [{"a": 1}]


@pytest.mark.parametrize(("path", "fault"), [
    ("spec.url", "must start with '.' or '['"),
    (".spec.containers[", "unclosed '['"),
    ('.status.conditions[?(@.type=="Ready"].status', "unclosed '(' in filter"),
    (".status.conditions[?(@.type==)]", "empty operand in filter"),
    (".spec.containers[x]", "invalid array index 'x'"),
    ("{.spec.url", "missing '}'"),
    ("..", "'..' must be followed by a name"),
    ('.status.conditions[?(@.type==Ready)]', "unrecognized filter operand 'Ready'"),
    ("", "empty expression"),
])
def test_malformed_paths_raise_value_error(path: str, fault: str) -> None:
    with pytest.raises(ValueError, match="invalid JSONPath") as info:
        parse(path)
    assert fault in str(info.value)


def test_results_print_as_kubectl_prints_them() -> None:
    assert to_text("x") == "x"
    assert to_text(3) == "3"
    assert to_text(True) == "true"
    assert to_text(2.5) == "2.5"
    assert to_text(60.0) == "60"
    assert to_text({"b": 1, "a": [1, "x"]}) == '{"a":[1,"x"],"b":1}'
    assert to_text(None) is None


def test_floats_read_as_go_prints_them() -> None:
    assert go_number_text(0.0001) == "0.0001"
    assert go_number_text(0.00001) == "1e-05"
    assert go_number_text(1e20) == "100000000000000000000"
    assert go_number_text(1e21) == "1e+21"
    assert go_number_text(-1.5) == "-1.5"
