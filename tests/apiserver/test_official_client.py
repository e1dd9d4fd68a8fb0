"""The official `kubernetes` Python client (typed, dynamic, watch, SSA) works unchanged."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

kubernetes = pytest.importorskip("kubernetes", reason="the kubernetes client is a test extra")
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config, dynamic, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.fixture(scope="module")
def api_client(kubeconfig: Path) -> Iterator[k8s.ApiClient]:
    c = config.new_client_from_config(config_file=str(kubeconfig))
    yield c
    c.close()


def test_typed_crud(api_client: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api_client)
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="typed", labels={"a": "b"}),
                           data={"k": "v"})
    created = core.create_namespaced_config_map(namespace, body)
    assert created.metadata.uid
    got = core.read_namespaced_config_map("typed", namespace)
    assert got.data == {"k": "v"}
    listed = core.list_namespaced_config_map(namespace, label_selector="a=b")
    assert [i.metadata.name for i in listed.items] == ["typed"]
    got.data["k"] = "w"
    replaced = core.replace_namespaced_config_map("typed", namespace, got)
    assert replaced.data == {"k": "w"}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(namespace, body)
    assert err.value.status == 409
    core.delete_namespaced_config_map("typed", namespace)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("typed", namespace)
    assert err.value.status == 404


def test_typed_server_side_apply(api_client: k8s.ApiClient, namespace: str) -> None:
    apps = k8s.AppsV1Api(api_client)
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ssa", "namespace": namespace},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ssa"}},
                 "template": {"metadata": {"labels": {"app": "ssa"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}
    out = apps.patch_namespaced_deployment("ssa", namespace, manifest, field_manager="py",
                                           force=True,
                                           _content_type="application/apply-patch+yaml")
    assert out.spec.replicas == 2
    managers = [m.manager for m in out.metadata.managed_fields]
    assert managers == ["py"]
    assert out.metadata.managed_fields[0].operation == "Apply"


def test_dynamic_client_and_custom_resources(api_client: k8s.ApiClient, namespace: str) -> None:
    dyn = dynamic.DynamicClient(api_client)
    kustomizations = dyn.resources.get(api_version="kustomize.toolkit.fluxcd.io/v1",
                                       kind="Kustomization")
    body = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": namespace},
            "spec": {"interval": "10m", "path": "./apps", "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    created = kustomizations.server_side_apply(body=body, name="apps", namespace=namespace,
                                               field_manager="dyn", force_conflicts=True)
    assert created.spec.path == "./apps"
    got = kustomizations.get(name="apps", namespace=namespace)
    assert got.metadata.generation == 1
    bad = dict(body, metadata={"name": "bad", "namespace": namespace},
               spec={**body["spec"], "interval": "ten minutes"})
    with pytest.raises(kubernetes.dynamic.exceptions.UnprocessibleEntityError) as err:
        kustomizations.create(body=bad, namespace=namespace)
    assert "spec.interval" in str(err.value.body)


def test_watch_stream(api_client: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api_client)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def follow() -> None:
        for ev in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv,
                           timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if len(seen) == 2:
                w.stop()

    t = threading.Thread(target=follow)
    t.start()
    core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="w")))
    core.delete_namespaced_config_map("w", namespace)
    t.join(15)
    assert seen == [("ADDED", "w"), ("DELETED", "w")]
