"""Hostile request bodies and parameters get a 4xx Status, never a 500, and break no client.

Reproduces issue 15's findings 4 and 8 and the smaller API deviations of 9:
``NaN``/``Infinity``/4,000-digit numbers were stored in a HelmRelease's
``spec.values`` and from then on ``kubectl get helmreleases -A -o json`` could
not decode the list; JSON nested past ~500 levels, an integer
``metadata.name``, integer label keys from YAML and continue tokens with a
non-integer ``rv`` answered 500; ``text/plain`` bodies were read as JSON and
server-side apply without a ``fieldManager`` was accepted.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

MAX_DEPTH = 10_000  # Go's encoding/json maxNestingDepth, which kube-apiserver decodes with

HR = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases"


def _hr(name: str, values: str) -> str:
    return ('{"metadata":{"name":"' + name + '"},"spec":{"interval":"1m","chart":{"spec":{'
            '"chart":"c","sourceRef":{"kind":"HelmRepository","name":"r"}}},"values":' + values +
            "}}")


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _corpus() -> dict[str, bytes]:
    bodies = {
        "nan": '{"metadata":{"name":"x"},"data":{"a":NaN}}',
        "infinity": '{"metadata":{"name":"x"},"spec":{"v":-Infinity}}',
        "huge-int": '{"metadata":{"name":"x","generation":' + "9" * 4000 + "}}",
        "huge-float": '{"metadata":{"name":"x"},"spec":{"v":1e400}}',
        "int-name": '{"metadata":{"name":123}}',
        "list-metadata": '{"metadata":[]}',
        "int-finalizer": '{"metadata":{"name":"x","finalizers":[1]}}',
        "bad-owner": '{"metadata":{"name":"x","ownerReferences":[1]}}',
        "int-annotation": '{"metadata":{"name":"x","annotations":{"a":1}}}',
        "bad-managed": '{"metadata":{"name":"x","managedFields":[1]}}',
        "too-deep": '{"metadata":{"name":"x"},"spec":' + _nested(MAX_DEPTH + 1) + "}",
        "deep": '{"metadata":{"name":"x"},"spec":' + _nested(2000) + "}",
        "yaml-int-keys": "metadata:\n  name: x\n  labels:\n    1: a\n",
        "yaml-nan": "metadata:\n  name: x\n  annotations:\n    a: .nan\n",
        "yaml-date": "metadata:\n  name: x\n  labels:\n    2024-01-01: a\n",
        "yaml-alias-loop": "&a [*a]",
        "yaml-too-deep": "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "array": "[]", "null": "null", "string": '"x"', "bad-utf8": '{"metadata":{"name":"\udcff"}}',
    }
    return {k: v.encode("utf-8", "surrogateescape") for k, v in bodies.items()}


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml",
               "text/plain")


def test_hostile_corpus_never_answers_5xx(api: httpx.Client, namespace: str) -> None:
    ns = namespace
    api.post(f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "x"}})
    api.post(HR.format(ns=ns), content=_hr("x", "{}"),
             headers={"Content-Type": "application/json"})
    api.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json={
        "metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                                           "template": {"metadata": {"labels": {"a": "b"}},
                                                        "spec": {"containers": [
                                                            {"name": "c", "image": "i"}]}}}})
    collections = [f"/api/v1/namespaces/{ns}/configmaps", HR.format(ns=ns), "/api/v1/namespaces",
                   "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"]
    objects = [f"/api/v1/namespaces/{ns}/configmaps/x", HR.format(ns=ns) + "/x",
               HR.format(ns=ns) + "/x/status", f"/apis/apps/v1/namespaces/{ns}/deployments/x/scale",
               f"/api/v1/namespaces/{ns}", f"/api/v1/namespaces/{ns}/finalize"]
    served: list[tuple[str, str, str, str, int]] = []

    def send(method: str, path: str, body: bytes, ctype: str, name: str) -> None:
        query = "?fieldManager=hostile" if "apply" in ctype else ""
        r = api.request(method, path + query, content=body, headers={"Content-Type": ctype})
        served.append((method, path, name, ctype, r.status_code))
        assert r.status_code < 500, (method, path, name, ctype, r.text[:300])
        if r.status_code >= 400:
            assert r.json()["kind"] == "Status", r.text[:300]

    for name, body in _corpus().items():
        for path in collections:
            for ctype in ("application/json", "application/yaml"):
                send("POST", path, body, ctype, name)
        for path in objects:
            send("PUT", path, body, "application/json", name)
            for ctype in PATCH_TYPES:
                send("PATCH", path, body, ctype, name)
        send("DELETE", objects[0], body, "application/json", name)
    for token in (b'{"rv":"x","start":"a/b"}', b'{"rv":null,"start":"a/b"}', b"[1]", b"\xff",
                  b'{"start":7}'):
        cont = base64.urlsafe_b64encode(token).decode()
        for path in (f"/api/v1/namespaces/{ns}/configmaps", "/api/v1/configmaps",
                     "/apis/helm.toolkit.fluxcd.io/v2/helmreleases"):
            r = api.get(path, params={"limit": "1", "continue": cont})
            assert r.status_code == 400, (path, token, r.text)
            assert r.json()["message"] == "continue key is not valid: could not decode"
    for params in ({"limit": "x"}, {"watch": "1", "resourceVersion": "x"},
                   {"labelSelector": "==="}, {"fieldSelector": "a===b"},
                   {"watch": "1", "timeoutSeconds": "x"}, {"continue": "%%%"}):
        r = api.get(f"/api/v1/namespaces/{ns}/configmaps", params=params)
        assert 400 <= r.status_code < 500, (params, r.text)
    assert len(served) > 500


def _post(api: httpx.Client, ns: str, body: str, ctype: str = "application/json") -> Any:
    return api.post(HR.format(ns=ns), content=body.encode(), headers={"Content-Type": ctype})


def test_numbers_go_cannot_read_are_refused_and_kubectl_still_lists(
        api: httpx.Client, namespace: str, kubectl: Any) -> None:
    for values in ('{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', '{"a":1e400}',
                   '{"a":' + "1" * 4000 + "}"):
        r = _post(api, namespace, _hr("bad", values))
        assert r.status_code == 400, (values[:20], r.text)
        assert r.json()["message"].startswith("error decoding json: "), r.text
    yaml_body = json.dumps(json.loads(_hr("bad", "{}")))[:-2] + "}}"  # same object, as YAML
    r = _post(api, namespace, yaml_body.replace('"values": {}', '"values": {"a": .nan}'),
              "application/yaml")
    assert r.status_code == 400, r.text
    # A number past int64 is kept as Go keeps it: a float64.
    r = _post(api, namespace, _hr("big", '{"a":' + "9" * 20 + "}"))
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["values"]["a"] == 1e20
    listed = json.loads(kubectl.ok("get", "helmreleases", "-A", "-o", "json"))
    names = {i["metadata"]["name"] for i in listed["items"]
             if i["metadata"]["namespace"] == namespace}
    assert names == {"big"}


def test_deep_objects_are_stored_patched_and_served(api: httpx.Client, namespace: str) -> None:
    # Past ~500 levels, writes and patches used to answer 500 (RecursionError). Field
    # tracking costs the square of the depth, so the test stays well under the limit.
    levels = 2000
    r = _post(api, namespace, _hr("deep", _nested(levels)))
    assert r.status_code == 201, r.text[:300]
    url = HR.format(ns=namespace) + "/deep"
    r = api.patch(url, content=b'{"metadata":{"labels":{"patched":"yes"}}}',
                  headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text[:300]
    got = api.get(url).json()
    assert got["metadata"]["labels"] == {"patched": "yes"}
    value, depth = got["spec"]["values"], 1
    while isinstance(value, dict):
        value, depth = value["a"], depth + 1
    assert (value, depth) == (1, levels + 1)
    # Past Go's limit (the object and its spec are 2 levels around values): 400, nothing
    # stored, and the patch that would nest a deep value further down is refused as well.
    r = _post(api, namespace, _hr("deeper", _nested(MAX_DEPTH - 1)))
    assert r.status_code == 400
    assert r.json()["message"] == f"error decoding json: exceeded max depth of {MAX_DEPTH}"
    assert api.get(HR.format(ns=namespace) + "/deeper").status_code == 404
    deep_path = "/spec/values" + "/a" * (levels - 1) + "/b"
    r = api.patch(url, content='[{"op":"add","path":"' + deep_path + '","value":' +
                  _nested(MAX_DEPTH - 10) + "}]",
                  headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 400, r.text[:300]


def test_metadata_of_the_wrong_type(api: httpx.Client, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    r = api.post(cms, content=b'{"metadata":{"name":123}}',
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["message"] == ("json: cannot unmarshal number into Go struct field "
                                   "ObjectMeta.metadata.name of type string")
    # YAML keys that are not strings become strings, as sigs.k8s.io/yaml converts them.
    r = api.post(cms, content=b"metadata:\n  name: keys\n  labels:\n    1: a\n    true: b\n"
                 b"data:\n  2024-01-01: day\n", headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text
    assert r.json()["metadata"]["labels"] == {"1": "a", "true": "b"}
    assert r.json()["data"] == {"2024-01-01": "day"}


def test_media_types_and_apply_without_manager(api: httpx.Client, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    r = api.post(cms, content=b'{"metadata":{"name":"plain"}}',
                 headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    assert r.json()["reason"] == "UnsupportedMediaType"
    r = api.patch(cms + "/applied", content=b"apiVersion: v1\nkind: ConfigMap\n"
                  b"metadata:\n  name: applied\n",
                  headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 422, r.text
    assert r.json()["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                   "Required value: is required for apply patch")
    assert api.get(cms + "/applied").status_code == 404
