"""Strategic merge patch, as `kubectl patch --type strategic` and client-side apply use it."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from typing import Any

import pytest

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest.strategic import strategic_merge

STR: dict[str, Any] = {"type": "string"}


def keyed(key: str, items: dict[str, Any], strategy: str = "merge") -> dict[str, Any]:
    return {"type": "array", "items": items, "x-kubernetes-patch-strategy": strategy,
            "x-kubernetes-patch-merge-key": key}


ENV = keyed("name", {"type": "object", "properties": {"name": STR, "value": STR}})
CONTAINER: dict[str, Any] = {"type": "object", "properties": {
    "name": STR, "image": STR, "env": ENV,
    "args": {"type": "array", "items": STR},
}}
VOLUME: dict[str, Any] = {"type": "object", "properties": {
    "name": STR, "emptyDir": {"type": "object"}, "configMap": {"type": "object"},
}}
POD: dict[str, Any] = {"type": "object", "properties": {
    "metadata": {"type": "object", "properties": {
        "labels": {"type": "object", "additionalProperties": STR},
        "finalizers": {"type": "array", "items": STR, "x-kubernetes-patch-strategy": "merge"},
    }},
    "spec": {"type": "object", "properties": {
        "containers": keyed("name", CONTAINER),
        "volumes": keyed("name", VOLUME, "merge,retainKeys"),
        "strategy": {"type": "object", "x-kubernetes-patch-strategy": "retainKeys",
                     "properties": {"type": STR, "rollingUpdate": {"type": "object"}}},
    }},
}}


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"},
                     "finalizers": ["a.example/one", "a.example/two"]},
        "spec": {
            "containers": [
                {"name": "app", "image": "app:1",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "sidecar", "image": "proxy:1", "args": ["--x"]},
            ],
            "volumes": [{"name": "cache", "emptyDir": {}}],
        },
    }


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["name"] for i in items]


def test_containers_merge_by_name_and_keep_the_others() -> None:
    out = strategic_merge(pod(), {"spec": {"containers": [{"name": "sidecar", "image": "proxy:2"}]}},
                          POD)
    assert names(out["spec"]["containers"]) == ["app", "sidecar"]
    assert out["spec"]["containers"][1] == {"name": "sidecar", "image": "proxy:2", "args": ["--x"]}
    assert out["spec"]["containers"][0]["image"] == "app:1"


def test_a_new_container_is_placed_before_the_untouched_ones_as_kubectl_does() -> None:
    out = strategic_merge(pod(), {"spec": {"containers": [{"name": "log", "image": "log:1"}]}}, POD)
    assert names(out["spec"]["containers"]) == ["log", "app", "sidecar"]


def test_patch_items_follow_the_patch_order_around_existing_ones() -> None:
    patch = {"spec": {"containers": [{"name": "sidecar", "image": "p"}, {"name": "new", "image": "n"}]}}
    out = strategic_merge(pod(), patch, POD)
    assert names(out["spec"]["containers"]) == ["app", "sidecar", "new"]


def test_env_merges_by_name_inside_a_merged_container() -> None:
    patch = {"spec": {"containers": [
        {"name": "app", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}]}}
    out = strategic_merge(pod(), patch, POD)
    env = out["spec"]["containers"][0]["env"]
    assert {e["name"]: e["value"] for e in env} == {"A": "1", "B": "20", "C": "3"}
    assert out["spec"]["containers"][0]["image"] == "app:1"


def test_patch_delete_removes_the_list_element_with_that_key() -> None:
    patch = {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}
    out = strategic_merge(pod(), patch, POD)
    assert names(out["spec"]["containers"]) == ["app"]


def test_patch_delete_in_a_map_empties_it_and_replace_swaps_it() -> None:
    deleted = strategic_merge(pod(), {"metadata": {"labels": {"$patch": "delete"}}}, POD)
    assert deleted["metadata"]["labels"] == {}
    replaced = strategic_merge(pod(), {"metadata": {"labels": {"$patch": "replace", "x": "y"}}}, POD)
    assert replaced["metadata"]["labels"] == {"x": "y"}


def test_patch_replace_element_replaces_the_whole_list() -> None:
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}}
    out = strategic_merge(pod(), patch, POD)
    assert out["spec"]["containers"] == [{"name": "only", "image": "o:1"}]


def test_null_deletes_a_key_at_any_depth() -> None:
    patch = {"metadata": {"labels": {"tier": None}},
             "spec": {"containers": [{"name": "sidecar", "args": None}]}}
    out = strategic_merge(pod(), patch, POD)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert "args" not in out["spec"]["containers"][1]


def test_lists_without_a_strategy_are_replaced() -> None:
    patch = {"spec": {"containers": [{"name": "sidecar", "args": ["--y"]}]}}
    out = strategic_merge(pod(), patch, POD)
    assert out["spec"]["containers"][1]["args"] == ["--y"]


def test_without_a_schema_it_is_a_json_merge_patch() -> None:
    patch = {"spec": {"containers": [{"name": "x", "image": "x"}]}, "metadata": {"labels": {"app": None}}}
    out = strategic_merge(pod(), patch, None)
    assert out["spec"]["containers"] == [{"name": "x", "image": "x"}]
    assert out["metadata"]["labels"] == {"tier": "front"}


def test_primitive_merge_lists_are_a_set_union() -> None:
    out = strategic_merge(pod(), {"metadata": {"finalizers": ["a.example/two", "b.example/x"]}}, POD)
    assert sorted(out["metadata"]["finalizers"]) == ["a.example/one", "a.example/two", "b.example/x"]
    assert len(out["metadata"]["finalizers"]) == 3


def test_delete_from_primitive_list() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example/one"]}}
    out = strategic_merge(pod(), patch, POD)
    assert out["metadata"]["finalizers"] == ["a.example/two"]


def test_set_element_order_reorders_the_merged_list() -> None:
    patch = {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "app:2"}],
    }}
    out = strategic_merge(pod(), patch, POD)
    assert names(out["spec"]["containers"]) == ["sidecar", "app"]
    assert out["spec"]["containers"][1]["image"] == "app:2"


def test_set_element_order_of_env_inside_a_container() -> None:
    patch = {"spec": {"containers": [{
        "name": "app",
        "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
    }]}}
    out = strategic_merge(pod(), patch, POD)
    assert names(out["spec"]["containers"][0]["env"]) == ["B", "A"]


def test_retain_keys_drops_the_keys_not_listed() -> None:
    original = {"spec": {"strategy": {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = strategic_merge(original, patch, POD)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_on_list_items_switches_a_volume_source() -> None:
    patch = {"spec": {"volumes": [{"name": "cache", "$retainKeys": ["configMap", "name"],
                                   "configMap": {"name": "cfg"}}]}}
    out = strategic_merge(pod(), patch, POD)
    assert out["spec"]["volumes"] == [{"name": "cache", "configMap": {"name": "cfg"}}]


def test_retain_keys_must_list_every_patched_key() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}
    with pytest.raises(ApiError) as err:
        strategic_merge({"spec": {"strategy": {}}}, patch, POD)
    assert err.value.code == 400


def test_an_element_without_its_merge_key_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as err:
        strategic_merge(pod(), {"spec": {"containers": [{"image": "x"}]}}, POD)
    assert err.value.code == 400
    assert "merge key: name" in err.value.message


def test_directives_never_reach_the_result_for_new_fields() -> None:
    original = {"metadata": {"name": "x"}}
    patch = {"metadata": {"labels": {"$patch": "replace", "a": "b"}},
             "spec": {"containers": [{"name": "c", "image": "i", "env": None}]}}
    out = strategic_merge(original, patch, POD)
    assert out == {"metadata": {"name": "x", "labels": {"a": "b"}},
                   "spec": {"containers": [{"name": "c", "image": "i"}]}}


def test_inputs_are_not_changed() -> None:
    original = pod()
    patch = {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}],
                      "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]},
             "metadata": {"labels": {"app": None}}}
    before = (copy.deepcopy(original), copy.deepcopy(patch))
    out = strategic_merge(original, patch, POD)
    assert (original, patch) == before
    out["spec"]["containers"][0]["image"] = "changed"
    assert original == before[0]


# --- kubectl as an oracle ------------------------------------------------------------------------

KUBECTL = shutil.which("kubectl")

ORACLE_CASES: list[dict[str, Any]] = [
    {"spec": {"containers": [{"name": "log", "image": "log:1"}]}},
    {"spec": {"containers": [{"name": "sidecar", "image": "p:2"}, {"name": "log", "image": "l"}]}},
    {"spec": {"containers": [{"name": "app", "env": [{"name": "C", "value": "3"},
                                                   {"name": "A", "$patch": "delete"}]}]}},
    {"metadata": {"finalizers": ["z.example/new"], "labels": {"tier": None}}},
    {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example/two"]}},
    {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
              "containers": [{"name": "app", "image": "app:3"}]}},
    {"spec": {"volumes": [{"name": "cache", "$retainKeys": ["configMap", "name"],
                           "configMap": {"name": "cfg"}}]}},
    {"spec": {"containers": [{"$patch": "replace"}, {"name": "solo", "image": "s"}]}},
]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("patch", ORACLE_CASES)
def test_matches_kubectl_on_a_pod_with_the_builtin_schema(patch: dict[str, Any], tmp_path: Any) -> None:
    from sluice.apiserver.schemas.builtin_schemas import schema_for

    schema = schema_for("", "v1", "Pod")
    original = pod()
    source = tmp_path / "pod.json"
    source.write_text(json.dumps(original))
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "patch", "--local", "-f", str(source), "--type", "strategic",
         "-p", json.dumps(patch), "-o", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    expected = json.loads(done.stdout)
    got = strategic_merge(original, patch, schema)
    # kubectl round-trips through the typed Pod, which drops empty values and adds
    # the status stub; compare what the patch is about.
    assert got["spec"]["containers"] == expected["spec"]["containers"]
    assert got["spec"].get("volumes") == expected["spec"].get("volumes")
    assert got["metadata"].get("labels") == expected["metadata"].get("labels")
    assert got["metadata"].get("finalizers") == expected["metadata"].get("finalizers")
