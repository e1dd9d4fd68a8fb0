"""The typed Flux models read what users write and write back exactly what they read."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.api import helm, image, kustomize, meta, notification, source
from sluice.api.kinds import ALL_KINDS, is_flux_kind, model_for, parse
from sluice.api.resource import ObjectMeta
from sluice.api.schema import ModelError

DATA = Path(__file__).parent / "data"


def seed_objects() -> list[dict[str, Any]]:
    """Every Flux object of the seed walkthrough (List items flattened)."""
    out: list[dict[str, Any]] = []
    for path in sorted(DATA.glob("seed-*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            out.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    return out


def by_kind(kind: str, name: str | None = None) -> dict[str, Any]:
    for obj in seed_objects():
        if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name):
            return obj
    raise LookupError(kind)


SEED = seed_objects()


def test_seed_covers_every_kind_the_walkthrough_uses() -> None:
    kinds = {o["kind"] for o in SEED}
    assert kinds == {
        "GitRepository",
        "Kustomization",
        "ImageRepository",
        "ImagePolicy",
        "ImageUpdateAutomation",
        "HelmRepository",
        "HelmRelease",
        "Provider",
        "Alert",
    }


@pytest.mark.parametrize(
    "obj",
    SEED,
    ids=[f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}" for o in SEED],
)
def test_seed_object_round_trips_unchanged(obj: dict[str, Any]) -> None:
    original = copy.deepcopy(obj)
    model = parse(obj)
    assert model.to_dict() == original
    # Parsing must not alias or mutate the caller's document.
    assert obj == original
    assert type(model).from_dict(model.to_dict()) == model


def test_typed_attributes_of_the_seed_helmrelease() -> None:
    hr = parse(by_kind("HelmRelease", "podinfo"))
    assert isinstance(hr, helm.HelmRelease)
    assert hr.spec.chart is not None
    assert hr.spec.chart.spec.chart == "podinfo"
    assert hr.spec.chart.spec.source_ref.kind == "HelmRepository"
    assert hr.spec.chart.spec.version is None  # "*" comes from the CRD default, not the model
    assert hr.spec.values_from is not None
    assert hr.spec.values_from[0].key() == "values.yaml"
    # Go-getter defaults Flux does not put in the CRD.
    assert hr.timeout() == "5m0s"
    assert hr.max_history() == 5
    assert hr.persistent_client() is True
    assert hr.release_name() == "podinfo"
    assert hr.helm_chart_name() == "podinfo-podinfo"
    assert hr.helm_chart_namespace() == "podinfo"
    assert hr.storage_namespace() == "podinfo"


def test_release_name_includes_target_namespace() -> None:
    hr = helm.HelmRelease(
        metadata=ObjectMeta(name="app", namespace="flux-system"),
        spec=helm.HelmReleaseSpec(
            interval="5m",
            target_namespace="prod",
            chart_ref=helm.ChartReference(kind="OCIRepository", name="app"),
        ),
    )
    assert hr.release_name() == "prod-app"
    assert hr.release_namespace() == "prod"
    assert hr.storage_namespace() == "flux-system"


def test_v1beta2_image_objects_keep_their_version_and_read_typed() -> None:
    repo = parse(by_kind("ImageRepository"))
    assert isinstance(repo, image.ImageRepository)
    assert repo.api_version == "image.toolkit.fluxcd.io/v1beta2"
    assert repo.exclusion_list() == ["^.*\\.sig$"]
    policy = parse(by_kind("ImagePolicy"))
    assert isinstance(policy, image.ImagePolicy)
    assert policy.spec.policy.numerical is not None
    assert policy.spec.policy.numerical.order == "desc"
    assert policy.spec.filter_tags is not None
    assert policy.spec.filter_tags.pattern == r"\d\.\d\d"
    assert policy.digest_reflection_policy() == "Never"
    auto = parse(by_kind("ImageUpdateAutomation"))
    assert isinstance(auto, image.ImageUpdateAutomation)
    assert auto.spec.git is not None
    assert auto.spec.git.commit.author.email.endswith("@users.noreply.github.com")
    assert auto.spec.git.commit.message_template == "{{range .Updated.Images}}{{println .}}{{end}}"


def test_reconciled_image_repository_status_reads_typed() -> None:
    items = yaml.safe_load((DATA / "seed-imagerepository-list.yaml").read_text())["items"]
    repo = parse(items[0])
    assert isinstance(repo, image.ImageRepository)
    scan = repo.status.last_scan_result
    assert scan is not None and scan.tag_count == 33
    assert scan.latest_tags is not None and scan.latest_tags[:2] == ["2.9", "2.57"]
    ready = repo.status.condition(meta.READY)
    assert ready is not None
    assert (ready.status, ready.reason) == ("True", "Succeeded")
    assert ready.message == "successful scan: found 33 tags"
    assert repo.metadata.finalizers == [meta.FINALIZER]
    assert repo.labels[meta.KUSTOMIZE_NAME_LABEL] == "flux-system"


def test_alert_sources_and_provider() -> None:
    alert = parse(by_kind("Alert"))
    assert isinstance(alert, notification.Alert)
    assert [s.kind for s in alert.spec.event_sources][:2] == ["GitRepository", "Kustomization"]
    assert {s.name for s in alert.spec.event_sources} == {"*"}
    assert alert.event_severity() == "info"
    provider = parse(by_kind("Provider"))
    assert isinstance(provider, notification.Provider)
    assert provider.spec.type == "discord"
    assert provider.spec.secret_ref == meta.LocalObjectReference(name="discord-webhook")


def test_kustomization_getters() -> None:
    ks = parse(by_kind("Kustomization"))
    assert isinstance(ks, kustomize.Kustomization)
    assert str(ks.spec.source_ref) == "GitRepository/agnhost/k8s-kind-apps"
    assert ks.deletion_policy() == "MirrorPrune"
    assert ks.prunes_on_delete() is True
    assert ks.retry_interval() == "1m0s"
    ks.spec.deletion_policy = "Orphan"
    assert ks.prunes_on_delete() is False
    ks.spec.prune = False
    ks.spec.deletion_policy = "WaitForTermination"
    assert ks.prunes_on_delete() is True


def test_git_ref_defaults_to_master_only_when_nothing_is_set() -> None:
    assert source.GitRepositoryRef().effective_branch() == "master"
    assert source.GitRepositoryRef(branch="main").effective_branch() == "main"
    assert source.GitRepositoryRef(tag="v1.0.0").effective_branch() is None


def test_oci_ref_defaults_to_latest() -> None:
    spec = source.OCIRepositorySpec(url="oci://ghcr.io/org/app", interval="1m")
    assert spec.effective_ref().tag == "latest"
    spec.ref = source.OCIRepositoryRef(semver=">=1.0.0")
    assert spec.effective_ref().semver == ">=1.0.0"
    assert spec.effective_ref().tag is None


def test_unknown_fields_survive_a_round_trip() -> None:
    obj = copy.deepcopy(by_kind("GitRepository"))
    obj["spec"]["futureField"] = {"nested": [1, 2]}
    obj["spec"]["ref"]["futureRef"] = "x"
    obj["status"] = {"observedGeneration": 3, "futureStatus": True}
    model = parse(obj)
    assert model.to_dict() == obj
    assert isinstance(model, source.GitRepository)
    assert model.spec.extra == {"futureField": {"nested": [1, 2]}}


def test_new_objects_get_api_version_and_kind_and_no_empty_status() -> None:
    repo = source.GitRepository(
        metadata=ObjectMeta(name="podinfo", namespace="flux-system"),
        spec=source.GitRepositorySpec(
            url="https://github.com/stefanprodan/podinfo",
            interval="1m0s",
            ref=source.GitRepositoryRef(branch="master"),
        ),
    )
    assert repo.to_dict() == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {
            "url": "https://github.com/stefanprodan/podinfo",
            "interval": "1m0s",
            "ref": {"branch": "master"},
        },
    }


def test_conditions_are_set_replaced_and_removed_by_type() -> None:
    status = source.GitRepositoryStatus()

    def cond(type_: str, status_: str) -> meta.Condition:
        return meta.Condition(
            type=type_,
            status=status_,
            reason=meta.PROGRESSING,
            message="",
            last_transition_time="2025-01-01T00:00:00Z",
        )

    status.set_condition(cond(meta.READY, meta.UNKNOWN))
    status.set_condition(cond(meta.RECONCILING, meta.TRUE))
    status.set_condition(cond(meta.READY, meta.TRUE))
    assert [c.type for c in status.conditions or []] == [meta.READY, meta.RECONCILING]
    ready = status.condition(meta.READY)
    assert ready is not None and ready.status == meta.TRUE
    status.remove_condition(meta.RECONCILING)
    assert status.condition(meta.RECONCILING) is None


def test_missing_required_field_names_its_path() -> None:
    obj = copy.deepcopy(by_kind("Kustomization"))
    del obj["spec"]["sourceRef"]["kind"]
    with pytest.raises(ModelError) as err:
        parse(obj)
    assert err.value.path == "spec.sourceRef.kind"


def test_wrong_type_names_its_path() -> None:
    obj = copy.deepcopy(by_kind("Alert"))
    obj["spec"]["eventSources"][2]["name"] = 7
    with pytest.raises(ModelError, match=r"spec\.eventSources\[2\]\.name: expected string"):
        parse(obj)


def test_free_form_helm_values_are_copied_not_shared() -> None:
    obj = copy.deepcopy(by_kind("HelmRelease"))
    obj["spec"]["values"] = {"replicaCount": 2, "ingress": {"enabled": True}}
    hr = parse(obj)
    assert isinstance(hr, helm.HelmRelease)
    hr.spec.values["replicaCount"] = 3
    assert obj["spec"]["values"]["replicaCount"] == 2
    assert hr.to_dict()["spec"]["values"] == {"replicaCount": 3, "ingress": {"enabled": True}}


def test_registry_knows_served_versions_only() -> None:
    assert model_for("image.toolkit.fluxcd.io/v1beta2", "ImagePolicy") is image.ImagePolicy
    assert model_for("image.toolkit.fluxcd.io/v1", "ImagePolicy") is image.ImagePolicy
    assert is_flux_kind("helm.toolkit.fluxcd.io/v2", "HelmRelease")
    assert not is_flux_kind("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease")
    assert not is_flux_kind("apps/v1", "Deployment")
    with pytest.raises(KeyError):
        parse({"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "GitRepository"})
    assert len({cls.info.crd_name for cls in ALL_KINDS}) == len(ALL_KINDS) == 14


def test_snapshot_names_match_flux_messages() -> None:
    snap = helm.Snapshot(
        digest="sha256:0",
        name="podinfo",
        namespace="podinfo",
        version=4,
        status="deployed",
        chart_name="podinfo",
        chart_version="6.9.2",
        config_digest="sha256:1",
        first_deployed="2025-01-01T00:00:00Z",
        last_deployed="2025-01-01T00:00:00Z",
    )
    message = (
        f"Helm upgrade succeeded for release {snap.full_release_name()} "
        f"with chart {snap.versioned_chart_name()}"
    )
    assert (
        message == "Helm upgrade succeeded for release podinfo/podinfo.v4 with chart podinfo@6.9.2"
    )
    assert str(image.ImageRef(name="ghcr.io/org/app", tag="1.0", digest="sha256:a")) == (
        "ghcr.io/org/app:1.0@sha256:a"
    )
