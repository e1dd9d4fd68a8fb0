"""Server-side apply and managedFields, as `kubectl apply --server-side` sees them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sluice.apiserver.apply.managedfields import (
    apply,
    fields_of,
    from_fields_v1,
    record_update,
    to_fields_v1,
)
from sluice.apiserver.errors import ApiError

T1, T2, T3, T4 = (f"2024-05-01T10:00:0{i}Z" for i in range(1, 5))
STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
LABELS: dict[str, Any] = {"type": "object", "additionalProperties": STR}

CONTAINER: dict[str, Any] = {"type": "object", "properties": {
    "name": STR, "image": STR, "args": {"type": "array", "items": STR},
    "env": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": STR, "value": STR}}},
    "ports": {"type": "array", "x-kubernetes-list-type": "map",
              "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
              "items": {"type": "object", "properties": {
                  "containerPort": INT, "protocol": {"type": "string", "default": "TCP"}}}},
}}
DEPLOYMENT: dict[str, Any] = {"type": "object", "properties": {
    "apiVersion": STR, "kind": STR, "metadata": {"type": "object"},
    "spec": {"type": "object", "properties": {
        "replicas": INT, "paused": {"type": "boolean"},
        "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                     "properties": {"matchLabels": LABELS}},
        "template": {"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"labels": LABELS}},
            "spec": {"type": "object", "properties": {
                # A built-in list: only strategic-merge annotations say how it merges.
                "containers": {"type": "array", "items": CONTAINER,
                               "x-kubernetes-patch-strategy": "merge",
                               "x-kubernetes-patch-merge-key": "name"},
            }},
        }},
    }},
    "status": {"type": "object", "properties": {"replicas": INT, "readyReplicas": INT}},
}}
CONFIGMAP: dict[str, Any] = {"type": "object", "properties": {
    "apiVersion": STR, "kind": STR, "metadata": {"type": "object"}, "data": LABELS,
}}


def deployment(replicas: int = 2, image: str = "nginx:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def configmap(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "default"}, "data": dict(data)}


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"]["managedFields"]}


def owned(obj: dict[str, Any], manager: str, operation: str = "Apply") -> dict[str, Any]:
    fields: dict[str, Any] = entries(obj)[(manager, operation)]["fieldsV1"]
    return fields


# --- create and re-apply -----------------------------------------------------------------------


def test_apply_creates_with_the_appliers_managed_fields() -> None:
    obj = apply(None, deployment(), "kubectl", False, DEPLOYMENT, T1)
    assert obj["spec"]["replicas"] == 2
    assert obj["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {
                        'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}},
                    }},
                },
            },
        },
    }]


def test_apply_of_a_configmap_owns_each_data_key() -> None:
    obj = apply(None, configmap(a="1", b="2"), "mgr", False, CONFIGMAP, T1)
    assert owned(obj, "mgr") == {"f:data": {"f:a": {}, "f:b": {}}}


def test_reapply_without_a_field_removes_it() -> None:
    obj = apply(None, configmap(a="1", b="2"), "mgr", False, CONFIGMAP, T1)
    obj = apply(obj, configmap(a="1"), "mgr", False, CONFIGMAP, T2)
    assert obj["data"] == {"a": "1"}
    assert owned(obj, "mgr") == {"f:data": {"f:a": {}}}


def test_reapply_without_a_whole_map_removes_it_and_its_unowned_keys() -> None:
    obj = apply(None, configmap(a="1"), "mgr", False, CONFIGMAP, T1)
    edited = copy.deepcopy(obj)
    edited["data"]["b"] = "2"
    edited["metadata"]["labels"] = {"keep": "me"}
    edited["metadata"]["managedFields"] = record_update(obj, edited, "editor", CONFIGMAP, T2)
    withdrawn = configmap()
    del withdrawn["data"]
    # "b" belongs to the editor, so .data stays with it; "a" goes.
    after = apply(edited, withdrawn, "mgr", False, CONFIGMAP, T3)
    assert after["data"] == {"b": "2"}
    assert after["metadata"]["labels"] == {"keep": "me"}
    assert [e["manager"] for e in after["metadata"]["managedFields"]] == ["editor"]
    # Without the editor's claim the whole map goes.
    alone = apply(obj, withdrawn, "mgr", False, CONFIGMAP, T3)
    assert "data" not in alone
    assert "managedFields" not in alone["metadata"]


def test_withdrawing_part_of_a_shared_map_counts_as_a_change() -> None:
    config = configmap(a="1")
    config["metadata"]["labels"] = {"x": "1", "y": "2"}
    obj = apply(None, config, "mgr", False, CONFIGMAP, T1)
    other = configmap()
    del other["data"]
    other["metadata"]["labels"] = {"y": "2"}
    obj = apply(obj, other, "labeller", False, CONFIGMAP, T2)
    del config["metadata"]["labels"]
    obj = apply(obj, config, "mgr", False, CONFIGMAP, T3)
    assert obj["metadata"]["labels"] == {"y": "2"}
    assert entries(obj)[("mgr", "Apply")]["time"] == T3


def test_reapply_without_a_container_removes_the_item() -> None:
    two = deployment()
    two["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "proxy"})
    obj = apply(None, two, "kubectl", False, DEPLOYMENT, T1)
    assert 'k:{"name":"side"}' in owned(obj, "kubectl")["f:spec"]["f:template"]["f:spec"]["f:containers"]
    obj = apply(obj, deployment(), "kubectl", False, DEPLOYMENT, T2)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_an_unchanged_reapply_keeps_the_time() -> None:
    obj = apply(None, deployment(), "kubectl", False, DEPLOYMENT, T1)
    again = apply(obj, deployment(), "kubectl", False, DEPLOYMENT, T2)
    assert again == obj


def test_apply_does_not_change_its_inputs() -> None:
    live = apply(None, deployment(), "a", False, DEPLOYMENT, T1)
    config = deployment(replicas=5)
    before = (copy.deepcopy(live), copy.deepcopy(config))
    apply(live, config, "a", False, DEPLOYMENT, T2)
    assert (live, config) == before


def test_managed_fields_in_the_configuration_are_refused() -> None:
    config = configmap(a="1")
    config["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(ApiError) as err:
        apply(None, config, "mgr", False, CONFIGMAP, T1)
    assert (err.value.code, err.value.message) == (400, "metadata.managedFields must be nil")


# --- shared ownership and conflicts -----------------------------------------------------------


def test_two_appliers_setting_the_same_value_share_the_field() -> None:
    obj = apply(None, configmap(a="1", b="2"), "one", False, CONFIGMAP, T1)
    obj = apply(obj, configmap(a="1"), "two", False, CONFIGMAP, T2)
    assert owned(obj, "one") == {"f:data": {"f:a": {}, "f:b": {}}}
    assert owned(obj, "two") == {"f:data": {"f:a": {}}}
    # The first applier lets go of both keys: "a" stays, still owned by "two".
    withdrawn = configmap()
    del withdrawn["data"]
    obj = apply(obj, withdrawn, "one", False, CONFIGMAP, T3)
    assert obj["data"] == {"a": "1"}
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["two"]


def test_conflict_with_an_updater_is_refused_with_kubernetes_wording() -> None:
    obj = apply(None, deployment(), "kubectl", False, DEPLOYMENT, T1)
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 5
    scaled["metadata"]["managedFields"] = record_update(
        obj, scaled, "kubectl-client-side-apply", DEPLOYMENT, T2)
    with pytest.raises(ApiError) as err:
        apply(scaled, deployment(replicas=3), "flux", False, DEPLOYMENT, T3)
    error = err.value
    assert (error.code, error.reason) == (409, "Conflict")
    assert error.message == ('Apply failed with 1 conflict: conflict with '
                             '"kubectl-client-side-apply" using apps/v1: .spec.replicas')
    assert [c.to_dict() for c in error.causes] == [{
        "reason": "FieldManagerConflict", "field": ".spec.replicas",
        "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
    }]
    assert error.status()["details"]["causes"][0]["field"] == ".spec.replicas"


def test_several_conflicts_are_listed_per_manager() -> None:
    obj = apply(None, configmap(a="1", b="2"), "mgr", False, CONFIGMAP, T1)
    updated = copy.deepcopy(obj)
    updated["data"] = {"a": "10", "b": "20"}
    updated["metadata"]["managedFields"] = record_update(obj, updated, "editor", CONFIGMAP, T2)
    with pytest.raises(ApiError) as err:
        apply(updated, configmap(a="x", b="y"), "mgr", False, CONFIGMAP, T3)
    assert err.value.message == ('Apply failed with 2 conflicts: conflicts with "editor" using v1:\n'
                                 "- .data.a\n- .data.b")
    assert [c.field for c in err.value.causes] == [".data.a", ".data.b"]


def test_conflict_with_another_applier_names_it_without_a_version() -> None:
    obj = apply(None, deployment(), "first", False, DEPLOYMENT, T1)
    with pytest.raises(ApiError) as err:
        apply(obj, deployment(image="nginx:2"), "second", False, DEPLOYMENT, T2)
    assert err.value.message == ('Apply failed with 1 conflict: conflict with "first": '
                                 '.spec.template.spec.containers[name="app"].image')


def test_force_moves_ownership_to_the_applier() -> None:
    obj = apply(None, deployment(), "first", False, DEPLOYMENT, T1)
    obj = apply(obj, deployment(replicas=7), "second", True, DEPLOYMENT, T2)
    assert obj["spec"]["replicas"] == 7
    assert "f:replicas" not in owned(obj, "first")["f:spec"]
    assert "f:replicas" in owned(obj, "second")["f:spec"]
    # The first applier, no longer owner, may now drop replicas without removing it.
    config = deployment()
    del config["spec"]["replicas"]
    obj = apply(obj, config, "first", False, DEPLOYMENT, T3)
    assert obj["spec"]["replicas"] == 7


def test_apply_after_an_update_conflicts_on_fields_the_updater_set() -> None:
    created = configmap(a="1")
    created["metadata"]["managedFields"] = record_update(None, created, "kubectl-create",
                                                         CONFIGMAP, T1)
    assert created["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    # Same value: shared, no conflict.
    same = apply(created, configmap(a="1"), "flux", False, CONFIGMAP, T2)
    assert owned(same, "flux") == {"f:data": {"f:a": {}}}
    assert owned(same, "kubectl-create", "Update") == {"f:data": {".": {}, "f:a": {}}}
    with pytest.raises(ApiError) as err:
        apply(created, configmap(a="2"), "flux", False, CONFIGMAP, T2)
    assert 'conflict with "kubectl-create" using v1: .data.a' in err.value.message


def test_an_object_without_managed_fields_belongs_to_before_first_apply() -> None:
    with pytest.raises(ApiError) as err:
        apply(configmap(a="1"), configmap(a="2"), "flux", False, CONFIGMAP, T1)
    assert err.value.message == ('Apply failed with 1 conflict: conflict with "before-first-apply" '
                                 "using v1: .data.a")


# --- list items ------------------------------------------------------------------------------------


def test_list_map_items_are_owned_by_their_keys() -> None:
    config = deployment()
    config["spec"]["template"]["spec"]["containers"][0].update(
        env=[{"name": "MODE", "value": "fast"}], ports=[{"containerPort": 80}])
    obj = apply(None, config, "kubectl", False, DEPLOYMENT, T1)
    item = owned(obj, "kubectl")["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert item == {
        ".": {}, "f:image": {}, "f:name": {},
        "f:env": {'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}},
        # The omitted protocol joins the key with its schema default.
        "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
    }


def test_appliers_of_different_containers_each_keep_their_own() -> None:
    obj = apply(None, deployment(), "base", False, DEPLOYMENT, T1)
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "default"},
               "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "proxy"}]}}}}
    obj = apply(obj, sidecar, "injector", False, DEPLOYMENT, T2)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["app", "side"]
    # The base applier re-applies without the sidecar: it never owned it, so it stays.
    obj = apply(obj, deployment(image="nginx:2"), "base", False, DEPLOYMENT, T3)
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "nginx:2"), ("side", "proxy")]
    # The injector withdraws: its container goes.
    empty = copy.deepcopy(sidecar)
    del empty["spec"]
    obj = apply(obj, empty, "injector", False, DEPLOYMENT, T4)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_env_item_order_follows_the_configuration() -> None:
    config = deployment()
    container = config["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    obj = apply(None, config, "kubectl", False, DEPLOYMENT, T1)
    container["env"] = [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}, {"name": "A", "value": "1"}]
    obj = apply(obj, config, "kubectl", False, DEPLOYMENT, T2)
    env = obj["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["B", "C", "A"]


def test_atomic_lists_are_owned_whole() -> None:
    config = deployment()
    config["spec"]["template"]["spec"]["containers"][0]["args"] = ["--a", "--b"]
    obj = apply(None, config, "kubectl", False, DEPLOYMENT, T1)
    item = owned(obj, "kubectl")["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert item["f:args"] == {}


def test_finalizers_are_a_set_and_labels_a_granular_map() -> None:
    config = configmap()
    config["metadata"].update(finalizers=["example.com/keep"], labels={"a": "1", "b": "2"})
    obj = apply(None, config, "mgr", False, None, T1)
    assert owned(obj, "mgr")["f:metadata"] == {
        "f:finalizers": {'v:"example.com/keep"': {}},
        "f:labels": {"f:a": {}, "f:b": {}},
    }


# --- status -----------------------------------------------------------------------------------------


def test_apply_to_the_main_resource_ignores_status() -> None:
    config = deployment()
    config["status"] = {"replicas": 9}
    obj = apply(None, config, "kubectl", False, DEPLOYMENT, T1)
    assert "status" not in obj
    assert "f:status" not in owned(obj, "kubectl")


def test_apply_to_the_status_subresource_only_touches_status() -> None:
    obj = apply(None, deployment(), "kubectl", False, DEPLOYMENT, T1)
    config = deployment(replicas=100)
    config["status"] = {"readyReplicas": 2}
    obj = apply(obj, config, "controller", False, DEPLOYMENT, T2, subresource="status")
    assert obj["spec"]["replicas"] == 2
    assert obj["status"] == {"readyReplicas": 2}
    entry = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == "controller")
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:readyReplicas": {}}}


# --- updates -----------------------------------------------------------------------------------------


def test_record_update_moves_ownership_to_the_writer() -> None:
    obj = apply(None, deployment(), "kubectl", False, DEPLOYMENT, T1)
    edited = copy.deepcopy(obj)
    edited["spec"]["replicas"] = 4
    edited["spec"]["paused"] = True
    fields = record_update(obj, edited, "hpa", DEPLOYMENT, T2)
    by_manager = {e["manager"]: e for e in fields}
    assert by_manager["hpa"]["operation"] == "Update"
    assert by_manager["hpa"]["time"] == T2
    assert by_manager["hpa"]["fieldsV1"] == {"f:spec": {"f:paused": {}, "f:replicas": {}}}
    assert "f:replicas" not in by_manager["kubectl"]["fieldsV1"]["f:spec"]
    # Apply sorts before Update.
    assert [e["manager"] for e in fields] == ["kubectl", "hpa"]


def test_record_update_drops_managers_left_with_nothing() -> None:
    created = configmap(a="1")
    created["metadata"]["managedFields"] = record_update(None, created, "one", CONFIGMAP, T1)
    changed = copy.deepcopy(created)
    changed["data"] = {"a": "2"}
    fields = record_update(created, changed, "two", CONFIGMAP, T2)
    # "one" still owns the data map it created, not the key.
    assert [(e["manager"], e["fieldsV1"]) for e in fields] == [
        ("one", {"f:data": {}}), ("two", {"f:data": {"f:a": {}}})]
    gone = copy.deepcopy(changed)
    gone["metadata"]["managedFields"] = fields
    del gone["data"]
    assert record_update(changed, gone, "three", CONFIGMAP, T3) == []


def test_record_update_of_a_no_op_keeps_entries_and_times() -> None:
    created = configmap(a="1")
    created["metadata"]["managedFields"] = record_update(None, created, "one", CONFIGMAP, T1)
    assert record_update(created, copy.deepcopy(created), "two", CONFIGMAP, T2) == \
        created["metadata"]["managedFields"]


@pytest.mark.parametrize(("before", "after"), [(1, 1.0), (1, True), (0, False), (0.0, -0.0),
                                               ([1], [True]), ([{"a": 1}], [{"a": 1.0}])])
def test_record_update_tells_apart_values_python_finds_equal(before: Any, after: Any) -> None:
    # 1 == 1.0 == True in Python, not in JSON: the writer of such a change owns the field.
    old = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
           "spec": {"v": before, "same": {"a": [1, 2]}}}
    old["metadata"]["managedFields"] = record_update(None, old, "one", None, T1)
    new = copy.deepcopy(old)
    new["spec"]["v"] = after
    fields = record_update(old, new, "two", None, T2)
    assert [(e["manager"], e["fieldsV1"]) for e in fields if e["manager"] == "two"] == [
        ("two", {"f:spec": {"f:v": {}}})]


def test_record_update_on_create_marks_created_maps_like_kubernetes() -> None:
    pod_like = deployment()
    pod_like["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    fields = record_update(None, pod_like, "kubectl-create", DEPLOYMENT, T1)
    assert fields[0]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:replicas": {}, "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"app"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:env": {".": {}, 'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                }}},
            },
        },
    }


def test_record_update_honours_managed_fields_sent_by_the_client() -> None:
    created = configmap(a="1")
    created["metadata"]["managedFields"] = record_update(None, created, "one", CONFIGMAP, T1)
    reset = copy.deepcopy(created)
    reset["metadata"]["managedFields"] = [{}]
    assert record_update(created, reset, "two", CONFIGMAP, T2) == []


def test_the_oldest_of_many_updaters_fold_into_ancient_changes() -> None:
    obj = configmap()
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        new["metadata"]["managedFields"] = record_update(obj, new, f"writer-{i:02}", CONFIGMAP,
                                                         f"2024-05-01T10:00:{i:02}Z")
        obj = new
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert "ancient-changes" in managers
    assert "writer-00" not in managers and "writer-11" in managers


# --- fieldsV1 --------------------------------------------------------------------------------------


def test_fields_v1_round_trips_and_marks_members_with_dot() -> None:
    paths = {("f:data",), ("f:data", "f:a"), ("f:spec", "f:containers", 'k:{"name":"app"}'),
             ("f:spec", "f:containers", 'k:{"name":"app"}', "f:image")}
    encoded = to_fields_v1(paths)
    assert encoded == {"f:data": {".": {}, "f:a": {}},
                       "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}}}
    assert from_fields_v1(encoded) == paths


def test_keys_written_by_go_are_read_back_in_one_form() -> None:
    assert from_fields_v1({"f:spec": {'k:{"protocol":"TCP","containerPort":80}': {}}}) == \
        {("f:spec", 'k:{"containerPort":80,"protocol":"TCP"}')}


def test_fields_of_leaves_out_identity_and_server_metadata() -> None:
    obj = configmap(a="1")
    obj["metadata"].update(uid="u", resourceVersion="3", labels={"x": "y"})
    assert fields_of(obj, CONFIGMAP) == {("f:data", "f:a"), ("f:metadata", "f:labels", "f:x")}
