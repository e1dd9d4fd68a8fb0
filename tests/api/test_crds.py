"""The generated CRDs carry what Flux users rely on: names, columns, defaults, validation."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.api.crds import all_crds, crd_for

DATA = Path(__file__).parent / "data"

SRC = "source.toolkit.fluxcd.io"
KS = "kustomize.toolkit.fluxcd.io"
HELM = "helm.toolkit.fluxcd.io"
IMG = "image.toolkit.fluxcd.io"
NOTIF = "notification.toolkit.fluxcd.io"

READY = {
    "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    "name": "Ready",
    "type": "string",
}
STATUS = {
    "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
    "name": "Status",
    "type": "string",
}
AGE = {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}


def seed_objects() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(DATA.glob("seed-*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    return out


def version_entry(group: str, kind: str, version: str) -> dict[str, Any]:
    for entry in crd_for(group, kind)["spec"]["versions"]:
        if entry["name"] == version:
            return entry
    raise LookupError(version)


def schema_of(group: str, kind: str, version: str) -> dict[str, Any]:
    schema: dict[str, Any] = version_entry(group, kind, version)["schema"]["openAPIV3Schema"]
    return schema


def node(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    """Schema node at a dotted path; ``[]`` steps into array items."""
    for part in dotted.split("."):
        if part == "[]":
            schema = schema["items"]
        else:
            schema = schema["properties"][part]
    return schema


# A small stand-in for the API server's structural validation and defaulting,
# enough to show the seed objects are accepted by these schemas as written.
def violations(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    out: list[str] = []
    if value is None:
        return out
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, int | str)
    else:
        kind = schema.get("type")
        ok = {
            None: True,
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
        }[kind]
    if not ok:
        return [f"{path}: wrong type"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in enum")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) > schema.get("maxLength", len(value)):
            out.append(f"{path}: too long")
        if len(value) < schema.get("minLength", 0):
            out.append(f"{path}: too short")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            out.append(f"{path}: too many items")
        for i, item in enumerate(value):
            out += violations(schema.get("items", {}), item, f"{path}[{i}]")
    if isinstance(value, dict) and schema.get("type") == "object":
        for req in schema.get("required", []):
            if req not in value:
                out.append(f"{path}.{req}: required")
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            if props is not None and key in props:
                out += violations(props[key], sub, f"{path}.{key}")
            elif isinstance(extra, dict):
                out += violations(extra, sub, f"{path}.{key}")
            elif props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append(f"{path}.{key}: unknown field")
    return out


def apply_defaults(schema: dict[str, Any], value: Any) -> None:
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in schema["properties"].items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                apply_defaults(sub, value[key])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            apply_defaults(schema["items"], item)


def structural_problems(schema: dict[str, Any], path: str = "") -> list[str]:
    """Nodes breaking the structural-schema rules an API server enforces."""
    out: list[str] = []
    if "type" not in schema and not (
        schema.get("x-kubernetes-int-or-string")
        or schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out.append(f"{path}: no type")
    for key, sub in schema.get("properties", {}).items():
        out += structural_problems(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        out += structural_problems(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out += structural_problems(schema["additionalProperties"], f"{path}{{}}")
    if "properties" in schema and "additionalProperties" in schema:
        out.append(f"{path}: both properties and additionalProperties")
    return out


# --------------------------------------------------------------------------


def test_every_flux_crd_is_served_with_flux_names_and_labels() -> None:
    crds = all_crds()
    names = sorted(c["metadata"]["name"] for c in crds)
    assert names == sorted(
        [
            f"gitrepositories.{SRC}",
            f"ocirepositories.{SRC}",
            f"helmrepositories.{SRC}",
            f"helmcharts.{SRC}",
            f"buckets.{SRC}",
            f"externalartifacts.{SRC}",
            f"kustomizations.{KS}",
            f"helmreleases.{HELM}",
            f"imagerepositories.{IMG}",
            f"imagepolicies.{IMG}",
            f"imageupdateautomations.{IMG}",
            f"providers.{NOTIF}",
            f"alerts.{NOTIF}",
            f"receivers.{NOTIF}",
        ]
    )
    for crd in crds:
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["kind"] == "CustomResourceDefinition"
        meta = crd["metadata"]
        assert meta["annotations"] == {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}
        assert meta["labels"]["app.kubernetes.io/instance"] == "flux-system"
        assert meta["labels"]["app.kubernetes.io/part-of"] == "flux"
        assert crd["spec"]["scope"] == "Namespaced"
        names_ = crd["spec"]["names"]
        assert meta["name"] == f"{names_['plural']}.{crd['spec']['group']}"
        assert names_["listKind"] == names_["kind"] + "List"
        assert names_["singular"] == names_["kind"].lower()
        assert "fluxcd" in names_["categories"]
        assert [v["storage"] for v in crd["spec"]["versions"]].count(True) == 1
        json.dumps(crd)  # plain JSON data only


def test_components_label_names_the_shipping_controller() -> None:
    component = {
        c["spec"]["names"]["kind"]: c["metadata"]["labels"]["app.kubernetes.io/component"]
        for c in all_crds()
    }
    assert component["GitRepository"] == "source-controller"
    assert component["Kustomization"] == "kustomize-controller"
    assert component["HelmRelease"] == "helm-controller"
    assert component["ImagePolicy"] == "image-reflector-controller"
    assert component["ImageUpdateAutomation"] == "image-automation-controller"
    assert component["Alert"] == "notification-controller"


@pytest.mark.parametrize(
    ("group", "kind", "short"),
    [
        (SRC, "GitRepository", ["gitrepo"]),
        (SRC, "OCIRepository", ["ocirepo"]),
        (SRC, "HelmRepository", ["helmrepo"]),
        (SRC, "HelmChart", ["hc"]),
        (KS, "Kustomization", ["ks"]),
        (HELM, "HelmRelease", ["hr"]),
        (IMG, "ImageRepository", ["imgrepo", "imagerepo"]),
        (IMG, "ImagePolicy", ["imgpol", "imagepol"]),
        (IMG, "ImageUpdateAutomation", ["iua", "imgupd", "imgauto"]),
    ],
)
def test_short_names(group: str, kind: str, short: list[str]) -> None:
    assert crd_for(group, kind)["spec"]["names"]["shortNames"] == short


def test_printer_columns_match_flux() -> None:
    def cols(group: str, kind: str, version: str) -> list[dict[str, Any]]:
        columns: list[dict[str, Any]] = version_entry(group, kind, version)[
            "additionalPrinterColumns"
        ]
        return columns

    url = {"jsonPath": ".spec.url", "name": "URL", "type": "string"}
    assert cols(SRC, "GitRepository", "v1") == [url, AGE, READY, STATUS]
    assert cols(SRC, "HelmRepository", "v1") == [url, AGE, READY, STATUS]
    assert cols(SRC, "OCIRepository", "v1") == [url, READY, STATUS, AGE]
    assert [c["name"] for c in cols(SRC, "HelmChart", "v1")] == [
        "Chart",
        "Version",
        "Source Kind",
        "Source Name",
        "Age",
        "Ready",
        "Status",
    ]
    assert cols(SRC, "Bucket", "v1")[0] == {
        "jsonPath": ".spec.endpoint",
        "name": "Endpoint",
        "type": "string",
    }
    assert cols(KS, "Kustomization", "v1") == [AGE, READY, STATUS]
    assert cols(HELM, "HelmRelease", "v2") == [AGE, READY, STATUS]
    assert cols(NOTIF, "Receiver", "v1") == [AGE, READY, STATUS]
    assert cols(NOTIF, "Provider", "v1beta3") == [AGE]
    assert cols(NOTIF, "Alert", "v1beta3") == [AGE]
    repo = cols(IMG, "ImageRepository", "v1")
    assert [c["name"] for c in repo] == ["Image", "Tags", "Ready", "Status", "Last scan", "Age"]
    assert repo[1]["jsonPath"] == ".status.lastScanResult.tagCount"
    assert repo[4]["priority"] == 1  # only with -o wide
    assert [c["jsonPath"] for c in cols(IMG, "ImagePolicy", "v1")[:2]] == [
        ".status.latestRef.name",
        ".status.latestRef.tag",
    ]
    iua = cols(IMG, "ImageUpdateAutomation", "v1")
    assert [c["name"] for c in iua] == ["Ready", "Status", "Last run", "Age"]


def test_image_kinds_serve_v1beta2_as_deprecated_alias_of_v1() -> None:
    for kind in ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation"):
        v1 = version_entry(IMG, kind, "v1")
        beta = version_entry(IMG, kind, "v1beta2")
        assert v1["storage"] is True and v1["served"] is True
        assert beta["storage"] is False and beta["served"] is True
        assert beta["deprecated"] is True and "upgrade to v1" in beta["deprecationWarning"]
        if kind == "ImagePolicy":
            continue
        assert beta["schema"] == v1["schema"]
    # v1beta2 prints what it printed in the seed's Flux (2.0-2.5), v1 what Flux prints now.
    assert version_entry(IMG, "ImageRepository", "v1beta2")["additionalPrinterColumns"] == [
        {"jsonPath": ".status.lastScanResult.scanTime", "name": "Last scan", "type": "string"},
        {"jsonPath": ".status.lastScanResult.tagCount", "name": "Tags", "type": "string"}]
    assert version_entry(IMG, "ImageUpdateAutomation", "v1beta2")["additionalPrinterColumns"] == [
        {"jsonPath": ".status.lastAutomationRunTime", "name": "Last run", "type": "string"}]
    # ImagePolicy's v1beta2 still has the status strings v1 replaced by refs, and prints them.
    v1 = version_entry(IMG, "ImagePolicy", "v1")["schema"]["openAPIV3Schema"]
    beta = version_entry(IMG, "ImagePolicy", "v1beta2")["schema"]["openAPIV3Schema"]
    v1_status = v1["properties"]["status"]["properties"]
    beta_status = beta["properties"]["status"]["properties"]
    assert set(beta_status) - set(v1_status) == {"latestImage", "observedPreviousImage"}
    assert beta["properties"]["spec"] == v1["properties"]["spec"]
    assert version_entry(IMG, "ImagePolicy", "v1beta2")["additionalPrinterColumns"] == [
        {"jsonPath": ".status.latestImage", "name": "LatestImage", "type": "string"}]


def test_status_subresource_and_initial_observed_generation() -> None:
    for crd in all_crds():
        kind = crd["spec"]["names"]["kind"]
        for entry in crd["spec"]["versions"]:
            props = entry["schema"]["openAPIV3Schema"]["properties"]
            assert props["metadata"] == {"type": "object"}
            if kind in ("Provider", "Alert"):  # static objects in v1beta3
                assert "subresources" not in entry and "status" not in props
            elif kind == "ExternalArtifact":
                assert entry["subresources"] == {"status": {}}
            else:
                assert entry["subresources"] == {"status": {}}
                assert props["status"]["default"] == {"observedGeneration": -1}


def test_crd_schema_defaults_are_flux_crd_defaults_only() -> None:
    git = schema_of(SRC, "GitRepository", "v1")
    assert node(git, "spec.timeout")["default"] == "60s"
    # Flux falls back to branch master in code, never in the CRD.
    assert "default" not in node(git, "spec.ref.branch")
    assert node(git, "spec.verify.mode")["default"] == "HEAD"
    assert node(schema_of(SRC, "OCIRepository", "v1"), "spec.provider")["default"] == "generic"
    assert "default" not in node(schema_of(SRC, "OCIRepository", "v1"), "spec.ref.tag")
    assert node(schema_of(SRC, "HelmChart", "v1"), "spec.version")["default"] == "*"
    assert "default" not in node(schema_of(SRC, "HelmRepository", "v1"), "spec.timeout")

    ks = schema_of(KS, "Kustomization", "v1")
    assert node(ks, "spec.force")["default"] is False
    assert node(ks, "spec.postBuild.substituteFrom.[].optional")["default"] is False
    policy = node(ks, "spec.deletionPolicy")
    assert "default" not in policy
    assert policy["enum"] == ["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]
    assert node(ks, "spec.sourceRef.kind")["enum"] == [
        "OCIRepository",
        "GitRepository",
        "Bucket",
        "ExternalArtifact",
    ]
    assert sorted(node(ks, "spec")["required"]) == ["interval", "prune", "sourceRef"]

    hr = schema_of(HELM, "HelmRelease", "v2")
    assert "default" not in node(hr, "spec.timeout")
    assert "default" not in node(hr, "spec.maxHistory")
    assert node(hr, "spec.maxHistory")["type"] == "integer"
    assert node(hr, "spec.chart.spec.version")["default"] == "*"
    assert node(hr, "spec.chart.spec.reconcileStrategy")["default"] == "ChartVersion"
    assert node(hr, "spec.uninstall.deletionPropagation")["default"] == "background"
    assert node(hr, "spec.values") == {
        "x-kubernetes-preserve-unknown-fields": True,
        "description": node(hr, "spec.values")["description"],
    }
    assert (
        node(hr, "spec")["x-kubernetes-validations"][0]["message"]
        == "either chart or chartRef must be set"
    )

    repo = schema_of(IMG, "ImageRepository", "v1")
    assert node(repo, "spec.exclusionList")["default"] == ["^.*\\.sig$"]
    assert node(repo, "spec.exclusionList")["maxItems"] == 25
    imgpol = schema_of(IMG, "ImagePolicy", "v1")
    assert node(imgpol, "spec.digestReflectionPolicy")["default"] == "Never"
    assert node(imgpol, "spec.policy.numerical.order")["default"] == "asc"
    iua = schema_of(IMG, "ImageUpdateAutomation", "v1")
    assert node(iua, "spec.update")["default"] == {"strategy": "Setters"}
    assert node(iua, "spec.sourceRef.kind")["default"] == "GitRepository"
    assert "kind" in node(iua, "spec.sourceRef")["required"]

    alert = schema_of(NOTIF, "Alert", "v1beta3")
    assert node(alert, "spec.eventSeverity")["default"] == "info"
    assert node(schema_of(NOTIF, "Receiver", "v1"), "spec.interval")["default"] == "10m"
    assert "discord" in node(schema_of(NOTIF, "Provider", "v1beta3"), "spec.type")["enum"]


def test_duration_patterns() -> None:
    interval = node(schema_of(SRC, "GitRepository", "v1"), "spec.interval")["pattern"]
    timeout = node(schema_of(SRC, "GitRepository", "v1"), "spec.timeout")["pattern"]
    for good in ("1m0s", "10m", "1h0m0s", "1.5h", "500ms"):
        assert re.search(interval, good)
    for bad in ("1 m", "m", "10", "-1m", "1d"):
        assert not re.search(interval, bad)
    assert re.search(timeout, "60s") and not re.search(timeout, "1h")


def test_schemas_are_structural() -> None:
    for crd in all_crds():
        for entry in crd["spec"]["versions"]:
            assert structural_problems(entry["schema"]["openAPIV3Schema"]) == [], crd["metadata"][
                "name"
            ]


def test_seed_objects_satisfy_the_schemas() -> None:
    seen = 0
    for obj in seed_objects():
        group, _, version = obj["apiVersion"].rpartition("/")
        schema = schema_of(group, obj["kind"], version)
        assert violations(schema, obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"
        seen += 1
    assert seen == 15


def test_schemas_reject_what_flux_rejects() -> None:
    git = schema_of(SRC, "GitRepository", "v1")
    bad = {
        "apiVersion": f"{SRC}/v1",
        "kind": "GitRepository",
        "metadata": {"name": "x"},
        "spec": {
            "url": "git@github.com:org/repo.git",
            "interval": "1 minute",
            "verify": {"mode": "all"},
        },
    }
    found = violations(git, bad)
    assert any(v.startswith(".spec.url:") for v in found)
    assert any(v.startswith(".spec.interval:") for v in found)
    assert ".spec.verify.secretRef: required" in found
    assert any(v.startswith(".spec.verify.mode:") for v in found)
    ks = schema_of(KS, "Kustomization", "v1")
    found = violations(
        ks, {"spec": {"interval": "5m", "sourceRef": {"kind": "HelmRepository", "name": "x"}}}
    )
    assert ".spec.prune: required" in found
    assert any(v.startswith(".spec.sourceRef.kind:") for v in found)


def test_defaulting_an_exported_image_repository_gives_what_kubectl_showed() -> None:
    exported = next(
        o for o in seed_objects() if o["kind"] == "ImageRepository" and "status" not in o
    )
    stored = next(o for o in seed_objects() if o["kind"] == "ImageRepository" and "status" in o)
    obj = copy.deepcopy(exported)
    apply_defaults(schema_of(IMG, "ImageRepository", "v1beta2"), obj)
    assert obj["spec"] == stored["spec"]
    assert obj["status"] == {"observedGeneration": -1}


def test_defaulting_the_seed_git_repository_and_helm_release() -> None:
    git = next(o for o in seed_objects() if o["kind"] == "GitRepository")
    obj = copy.deepcopy(git)
    apply_defaults(schema_of(SRC, "GitRepository", "v1"), obj)
    assert obj["spec"]["timeout"] == "60s"
    assert obj["spec"]["ref"] == {"branch": "main"}
    hr = next(o for o in seed_objects() if o["kind"] == "HelmRelease")
    obj = copy.deepcopy(hr)
    apply_defaults(schema_of(HELM, "HelmRelease", "v2"), obj)
    assert obj["spec"]["chart"]["spec"]["version"] == "*"
    assert "timeout" not in obj["spec"] and "maxHistory" not in obj["spec"]


def test_crd_for_returns_independent_copies() -> None:
    first = crd_for(SRC, "GitRepository")
    first["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"].clear()
    assert crd_for(SRC, "GitRepository")["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "properties"
    ]
    with pytest.raises(KeyError):
        crd_for(SRC, "Nope")


# --------------------------------------------------------------------------
# Against the embedded cluster's own CRD definition checks (skipped until
# sluice.apiserver.schemas.crd_definition imports).


def test_crds_pass_the_api_servers_definition_checks() -> None:
    crd_definition = pytest.importorskip("sluice.apiserver.schemas.crd_definition")
    for crd in all_crds():
        assert crd_definition.validate_crd_definition(crd) == [], crd["metadata"]["name"]


@pytest.mark.parametrize(
    "obj",
    seed_objects(),
    ids=[
        f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}" for o in seed_objects()
    ],
)
def test_seed_objects_are_accepted_and_defaulted_by_the_api_server_logic(
    obj: dict[str, Any],
) -> None:
    structural = pytest.importorskip("sluice.apiserver.schemas.structural")
    group, _, version = obj["apiVersion"].rpartition("/")
    schema = schema_of(group, obj["kind"], version)
    stored = copy.deepcopy(obj)
    assert structural.prune(stored, schema) == []
    structural.apply_defaults(stored, schema)
    assert structural.validate(stored, schema) == []
    expected = copy.deepcopy(obj)
    apply_defaults(schema, expected)
    assert stored == expected
    if obj["kind"] not in ("Provider", "Alert"):
        assert stored["status"].get("observedGeneration") in (
            -1,
            obj.get("status", {}).get("observedGeneration"),
        )
    if obj["kind"] == "GitRepository":
        assert stored["spec"]["timeout"] == "60s"
