"""Custom resources are pruned, defaulted and validated against their CRD schema as Kubernetes does.

The schema below is written like Flux's GitRepository: a url pattern, a
duration pattern, a ``ref`` object, a provider enum with a default, an
int-or-string field, free-form ``values`` that keep unknown fields, a
``status`` defaulted to ``observedGeneration: -1``, conditions as a map list,
and a CEL rule. The tests check what a user sees: which fields are dropped,
which defaults appear, and the exact field paths, reasons and messages that
``kubectl apply`` would print.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sluice.apiserver.errors import ApiError, Invalid
from sluice.apiserver.rest.registry import MERGE_PATCH, Cluster, WriteOptions
from sluice.apiserver.schemas.crd_definition import validate_crd_definition
from sluice.apiserver.schemas.structural import (
    apply_defaults,
    prune,
    schema_for_version,
    validate,
)

DURATION = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"

LOCAL_REF = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}},
}

CONDITION = {
    "type": "object",
    "required": ["lastTransitionTime", "message", "reason", "status", "type"],
    "properties": {
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "message": {"type": "string", "maxLength": 32768},
        "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
        "reason": {"type": "string", "maxLength": 1024, "minLength": 1,
                   "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "type": {"type": "string", "maxLength": 316},
    },
}

GITREPO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "GitRepository is the Schema for the gitrepositories API.",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["interval", "url"],
            "x-kubernetes-validations": [{
                "rule": "!has(self.serviceAccountName) || has(self.provider) && "
                        "self.provider in ['azure', 'aws']",
                "message": "serviceAccountName can only be set when provider is 'aws' or 'azure'",
            }],
            "properties": {
                "url": {"type": "string", "pattern": "^(http|https|ssh)://.*$"},
                "interval": {"type": "string", "pattern": DURATION},
                "timeout": {"type": "string", "default": "60s",
                            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"},
                "ref": {
                    "type": "object",
                    "properties": {
                        "branch": {"type": "string"},
                        "tag": {"type": "string"},
                        "semver": {"type": "string"},
                        "name": {"type": "string"},
                        "commit": {"type": "string"},
                    },
                },
                "provider": {"type": "string", "enum": ["generic", "aws", "azure", "github"],
                             "default": "generic"},
                "serviceAccountName": {"type": "string"},
                "secretRef": LOCAL_REF,
                "suspend": {"type": "boolean"},
                "depth": {"type": "integer", "minimum": 0, "maximum": 60},
                "weight": {"type": "number", "exclusiveMaximum": True, "maximum": 1},
                "port": {"x-kubernetes-int-or-string": True},
                "verify": {
                    "type": "object",
                    "required": ["secretRef"],
                    "properties": {
                        "mode": {"type": "string", "enum": ["head", "HEAD", "Tag", "TagAndHEAD"],
                                 "default": "HEAD"},
                        "secretRef": LOCAL_REF,
                    },
                },
                "include": {
                    "type": "array",
                    "maxItems": 3,
                    "items": {
                        "type": "object",
                        "required": ["repository"],
                        "properties": {
                            "repository": LOCAL_REF,
                            "fromPath": {"type": "string"},
                            "toPath": {"type": "string"},
                        },
                    },
                },
                "sparseCheckout": {"type": "array", "items": {"type": "string"},
                                   "x-kubernetes-list-type": "set"},
                "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}},
                "note": {"type": "string", "nullable": True},
            },
        },
        "status": {
            "type": "object",
            "default": {"observedGeneration": -1},
            "properties": {
                "observedGeneration": {"type": "integer", "format": "int64"},
                "conditions": {
                    "type": "array",
                    "items": CONDITION,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["type"],
                },
            },
        },
    },
}

GITREPO_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gitrepositories.source.toolkit.fluxcd.io"},
    "spec": {
        "group": "source.toolkit.fluxcd.io",
        "names": {"kind": "GitRepository", "listKind": "GitRepositoryList",
                  "plural": "gitrepositories", "singular": "gitrepository",
                  "shortNames": ["gitrepo"], "categories": ["fluxcd"]},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": GITREPO_SCHEMA},
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "URL", "type": "string", "jsonPath": ".spec.url"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                {"name": "Ready", "type": "string",
                 "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                {"name": "Status", "type": "string",
                 "jsonPath": '.status.conditions[?(@.type=="Ready")].message'},
            ],
        }],
    },
}


def gitrepo(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"url": "https://github.com/stefanprodan/podinfo", "interval": "1m"}
    body.update(spec)
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": body,
    }


def admit(obj: dict[str, Any], schema: dict[str, Any] = GITREPO_SCHEMA) -> tuple[list[str], list[Any]]:
    """What the API server does on write: prune, default, validate."""
    unknown = prune(obj, schema)
    apply_defaults(obj, schema)
    return unknown, validate(obj, schema)


def messages(causes: list[Any]) -> dict[str, str]:
    return {c.field: c.message for c in causes}


# ---------------------------------------------------------------- accepted objects


def test_a_valid_gitrepository_gets_its_defaults_and_no_errors() -> None:
    obj = gitrepo(ref={"branch": "master"})
    unknown, causes = admit(obj)
    assert unknown == []
    assert causes == []
    assert obj["spec"]["timeout"] == "60s"
    assert obj["spec"]["provider"] == "generic"
    assert obj["status"] == {"observedGeneration": -1}
    assert obj["metadata"] == {"name": "podinfo", "namespace": "flux-system"}


def test_defaults_do_not_override_values_the_user_set() -> None:
    obj = gitrepo(timeout="5m", provider="github")
    # 5m is fine for timeout (no hours) and github a supported provider.
    assert admit(obj)[1] == []
    assert obj["spec"]["timeout"] == "5m"
    assert obj["spec"]["provider"] == "github"


def test_defaults_apply_only_where_the_parent_object_exists() -> None:
    obj = gitrepo()
    admit(obj)
    assert "verify" not in obj["spec"]
    obj = gitrepo(verify={"secretRef": {"name": "pgp"}})
    admit(obj)
    assert obj["spec"]["verify"]["mode"] == "HEAD"


def test_defaults_nested_in_a_defaulted_object_apply_too() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "default": {},
                "properties": {
                    "retry": {
                        "type": "object",
                        "default": {"attempts": 3},
                        "properties": {
                            "attempts": {"type": "integer"},
                            "backoff": {"type": "string", "default": "10s"},
                        },
                    },
                    "tags": {"type": "array", "items": {"type": "string", "default": "latest"}},
                    "env": {"type": "object",
                            "additionalProperties": {"type": "object", "properties": {
                                "value": {"type": "string", "default": "unset"}}}},
                },
            },
        },
    }
    obj: dict[str, Any] = {}
    apply_defaults(obj, schema)
    assert obj == {"spec": {"retry": {"attempts": 3, "backoff": "10s"}}}

    obj = {"spec": {"tags": ["v1", None], "env": {"A": {}, "B": {"value": "b"}}}}
    apply_defaults(obj, schema)
    assert obj["spec"]["tags"] == ["v1", "latest"]
    assert obj["spec"]["env"] == {"A": {"value": "unset"}, "B": {"value": "b"}}


def test_a_default_is_copied_not_shared_between_objects() -> None:
    first, second = gitrepo(), gitrepo()
    admit(first)
    admit(second)
    first["status"]["observedGeneration"] = 3
    assert second["status"] == {"observedGeneration": -1}
    assert GITREPO_SCHEMA["properties"]["status"]["default"] == {"observedGeneration": -1}


# ---------------------------------------------------------------- pruning


def test_unknown_fields_are_pruned_and_reported_by_path() -> None:
    obj = gitrepo(foo="bar", ref={"branch": "main", "brnch": "typo"},
                  include=[{"repository": {"name": "x", "extra": 1}}])
    obj["extra"] = True
    unknown, causes = admit(obj)
    assert sorted(unknown) == ["extra", "spec.foo", "spec.include[0].repository.extra",
                               "spec.ref.brnch"]
    assert causes == []
    assert obj["spec"]["ref"] == {"branch": "main"}
    assert "extra" not in obj


def test_apiversion_kind_and_metadata_are_never_pruned_at_the_root() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object"}}}
    obj = {"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "a", "whatever": 1},
           "spec": {"a": 1}}
    assert prune(obj, schema) == ["spec.a"]
    assert obj == {"apiVersion": "x.io/v1", "kind": "X",
                   "metadata": {"name": "a", "whatever": 1}, "spec": {}}


def test_preserve_unknown_fields_keeps_free_form_values() -> None:
    values = {"replicaCount": 2, "image": {"tag": "6.9.2"}, "ingress": {"hosts": [{"host": "a"}]}}
    obj = gitrepo(values=copy.deepcopy(values))
    unknown, causes = admit(obj)
    assert unknown == [] and causes == []
    assert obj["spec"]["values"] == values


def test_declared_fields_are_still_pruned_below_preserve_unknown_fields() -> None:
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}}}}
    obj = {"spec": {"anything": {"x": 1}, "known": {"a": "1", "b": "2"}}}
    assert prune(obj, schema) == ["spec.known.b"]
    assert obj == {"spec": {"anything": {"x": 1}, "known": {"a": "1"}}}


def test_embedded_resources_keep_their_type_and_object_metadata() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "x-kubernetes-preserve-unknown-fields": True},
        "strict": {"type": "object", "x-kubernetes-embedded-resource": True,
                   "properties": {"data": {"type": "object",
                                           "additionalProperties": {"type": "string"}}}},
    }}}}
    obj = {"spec": {
        "template": {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "x", "labels": {"a": "b"}, "bogus": 1},
                     "data": {"k": "v"}},
        "strict": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"},
                   "data": {"k": "v"}, "extra": 1},
    }}
    unknown, causes = admit(obj, schema)
    assert sorted(unknown) == ["spec.strict.extra", "spec.template.metadata.bogus"]
    assert causes == []
    assert obj["spec"]["template"] == {"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": "x", "labels": {"a": "b"}},
                                       "data": {"k": "v"}}
    assert obj["spec"]["strict"]["kind"] == "ConfigMap"


def test_an_embedded_resource_must_name_its_kind() -> None:
    schema = {"type": "object", "properties": {"template": {
        "type": "object", "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True}}}
    causes = validate({"template": {"metadata": {"name": "x"}}}, schema)
    assert messages(causes) == {"template.apiVersion": "Required value: must not be empty",
                                "template.kind": "Required value: must not be empty"}


def test_nulls_are_dropped_defaulted_or_kept_as_kubernetes_does() -> None:
    obj = gitrepo(ref=None, provider=None, note=None)
    unknown, causes = admit(obj)
    assert unknown == []
    assert causes == []
    assert "ref" not in obj["spec"]  # neither nullable nor defaulted: dropped
    assert obj["spec"]["provider"] == "generic"  # null takes the default
    assert obj["spec"]["note"] is None  # nullable: kept


def test_a_null_array_item_is_a_type_error() -> None:
    obj = gitrepo(sparseCheckout=["apps", None])
    _, causes = admit(obj)
    assert messages(causes) == {
        "spec.sparseCheckout[1]":
            'Invalid value: "null": spec.sparseCheckout[1] in body must be of type string: "null"'}


# ---------------------------------------------------------------- the messages users read


def test_a_url_that_does_not_match_the_pattern() -> None:
    _, causes = admit(gitrepo(url="ftp://x"))
    assert len(causes) == 1
    cause = causes[0]
    assert cause.field == "spec.url"
    assert cause.reason == "FieldValueInvalid"
    assert cause.message == ('Invalid value: "ftp://x": spec.url in body should match '
                             "'^(http|https|ssh)://.*$'")


def test_a_missing_required_field() -> None:
    obj = gitrepo()
    del obj["spec"]["interval"]
    _, causes = admit(obj)
    assert [(c.field, c.reason, c.message) for c in causes] == [
        ("spec.interval", "FieldValueRequired", "Required value")]


def test_an_unsupported_enum_value_lists_the_supported_ones() -> None:
    _, causes = admit(gitrepo(provider="foo"))
    assert [(c.field, c.reason, c.message) for c in causes] == [(
        "spec.provider", "FieldValueNotSupported",
        'Unsupported value: "foo": supported values: "generic", "aws", "azure", "github"')]


def test_a_value_of_the_wrong_type() -> None:
    _, causes = admit(gitrepo(depth="string", suspend="yes", ref="main"))
    assert {c.reason for c in causes} == {"FieldValueTypeInvalid"}
    assert messages(causes) == {
        "spec.depth": 'Invalid value: "string": spec.depth in body must be of type integer: "string"',
        "spec.suspend": 'Invalid value: "string": spec.suspend in body must be of type boolean: "string"',
        "spec.ref": 'Invalid value: "string": spec.ref in body must be of type object: "string"',
    }


def test_booleans_are_not_integers_and_integers_are_whole() -> None:
    assert messages(admit(gitrepo(depth=True))[1]) == {
        "spec.depth": 'Invalid value: "boolean": spec.depth in body must be of type integer: "boolean"'}
    assert messages(admit(gitrepo(depth=1.5))[1]) == {
        "spec.depth": 'Invalid value: "number": spec.depth in body must be of type integer: "number"'}
    # JSON has one number type: 3.0 is the integer 3, as for Kubernetes.
    assert admit(gitrepo(depth=3.0))[1] == []
    # A number accepts integers and floats.
    assert admit(gitrepo(weight=0))[1] == []
    assert admit(gitrepo(weight=0.5))[1] == []


def test_numeric_bounds() -> None:
    assert messages(admit(gitrepo(depth=70))[1]) == {
        "spec.depth": "Invalid value: 70: spec.depth in body should be less than or equal to 60"}
    assert messages(admit(gitrepo(depth=-1))[1]) == {
        "spec.depth": "Invalid value: -1: spec.depth in body should be greater than or equal to 0"}
    assert messages(admit(gitrepo(weight=1))[1]) == {
        "spec.weight": "Invalid value: 1: spec.weight in body should be less than 1"}
    assert admit(gitrepo(depth=60))[1] == []


def test_int_or_string_takes_either_and_nothing_else() -> None:
    assert admit(gitrepo(port=8080))[1] == []
    assert admit(gitrepo(port="http"))[1] == []
    causes = admit(gitrepo(port=True))[1]
    assert [(c.field, c.reason, c.message) for c in causes] == [(
        "spec.port", "FieldValueTypeInvalid",
        'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"')]


def test_string_lengths_count_characters_not_bytes() -> None:
    assert admit(gitrepo(labels={"team": "ééééé"}))[1] == []
    causes = admit(gitrepo(labels={"team": "ééééé!"}))[1]
    assert [(c.field, c.reason, c.message) for c in causes] == [
        ("spec.labels.team", "FieldValueTooLong", "Too long: may not be longer than 5")]


def test_too_many_items() -> None:
    repo = {"repository": {"name": "r"}}
    causes = admit(gitrepo(include=[repo, repo, repo, repo]))[1]
    assert [(c.field, c.reason, c.message) for c in causes] == [
        ("spec.include", "FieldValueTooMany", "Too many: 4: must have at most 3 items")]


def test_required_fields_inside_list_items_are_reported_with_their_index() -> None:
    causes = admit(gitrepo(include=[{"repository": {"name": "a"}}, {"toPath": "b"}]))[1]
    assert messages(causes) == {"spec.include[1].repository": "Required value"}


def test_every_fault_is_reported_and_they_compose_into_one_invalid_error() -> None:
    obj = gitrepo(url="ftp://x", provider="foo")
    del obj["spec"]["interval"]
    _, causes = admit(obj)
    err = Invalid("source.toolkit.fluxcd.io", "GitRepository", "podinfo", causes)
    assert err.code == 422
    assert err.message.startswith('GitRepository.source.toolkit.fluxcd.io "podinfo" is invalid: [')
    assert "spec.interval: Required value" in err.message
    assert ('spec.url: Invalid value: "ftp://x": spec.url in body should match '
            "'^(http|https|ssh)://.*$'") in err.message
    details = err.status()["details"]["causes"]
    assert {c["field"] for c in details} == {"spec.url", "spec.interval", "spec.provider"}


def test_formats_are_checked() -> None:
    condition = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok",
                 "lastTransitionTime": "2024-05-01T10:00:00Z"}
    obj = gitrepo()
    obj["status"] = {"conditions": [condition]}
    assert admit(obj)[1] == []
    obj["status"]["conditions"][0]["lastTransitionTime"] = "yesterday"
    assert messages(admit(obj)[1]) == {
        "status.conditions[0].lastTransitionTime":
            'Invalid value: "yesterday": status.conditions[0].lastTransitionTime in body '
            'must be of type date-time: "yesterday"'}


def test_list_type_set_rejects_duplicates() -> None:
    causes = admit(gitrepo(sparseCheckout=["apps", "infra", "apps", "apps"]))[1]
    assert [(c.field, c.reason, c.message) for c in causes] == [
        ("spec.sparseCheckout[2]", "FieldValueDuplicate", 'Duplicate value: "apps"')]


def test_list_type_map_rejects_two_entries_with_the_same_key() -> None:
    def cond(status: str) -> dict[str, str]:
        return {"type": "Ready", "status": status, "reason": "Succeeded", "message": "m",
                "lastTransitionTime": "2024-05-01T10:00:00Z"}

    obj = gitrepo()
    obj["status"] = {"conditions": [cond("True"), cond("False")]}
    causes = admit(obj)[1]
    assert [(c.field, c.reason) for c in causes] == [("status.conditions[1]", "FieldValueDuplicate")]
    assert causes[0].message.startswith('Duplicate value: map[string]interface {}{')
    assert '"type":"Ready"' in causes[0].message


def test_additional_properties_values_are_validated() -> None:
    causes = admit(gitrepo(labels={"a": "ok", "b": 3}))[1]
    assert messages(causes) == {
        "spec.labels.b": 'Invalid value: "integer": spec.labels.b in body must be of type string: "integer"'}


def test_cel_rules_are_not_evaluated() -> None:
    # The rule forbids serviceAccountName with the generic provider; CEL is
    # not evaluated here, so the object is accepted rather than refused wrongly.
    assert admit(gitrepo(serviceAccountName="sa"))[1] == []


# ---------------------------------------------------------------- composition and patterns


def test_one_of_reports_on_the_field_that_carries_it() -> None:
    schema = {"type": "object", "properties": {"ref": {
        "type": "object",
        "properties": {"branch": {"type": "string"}, "tag": {"type": "string"}},
        "oneOf": [{"required": ["branch"]}, {"required": ["tag"]}],
    }}}
    assert validate({"ref": {"branch": "main"}}, schema) == []
    both = validate({"ref": {"branch": "main", "tag": "v1"}}, schema)
    assert messages(both) == {"ref": 'Invalid value: "": "ref" must validate one and only one '
                                     "schema (oneOf). Found 2 valid alternatives"}
    none = validate({"ref": {}}, schema)
    assert [c.field for c in none] == ["ref", "ref.branch"]
    assert none[0].message.endswith("must validate one and only one schema (oneOf). Found none valid")


def test_any_of_all_of_and_not() -> None:
    schema = {"type": "object", "properties": {"v": {
        "type": "string",
        "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}],
        "allOf": [{"maxLength": 3}],
        "not": {"enum": ["abc"]},
    }}}
    assert validate({"v": "bcd"}, schema) == []
    causes = validate({"v": "cdef"}, schema)
    texts = [c.message for c in causes]
    assert 'Invalid value: "": "v" must validate at least one schema (anyOf)' in texts
    assert 'Invalid value: "": "v" must validate all the schemas (allOf)' in texts
    assert messages(validate({"v": "abc"}, schema)) == {
        "v": 'Invalid value: "": "v" must not validate the schema (not)'}


def test_patterns_follow_re2_semantics() -> None:
    schema = {"type": "object", "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$"},
        "digits": {"type": "string", "pattern": "^\\d+$"},
        "posix": {"type": "string", "pattern": "^[[:alpha:]]+\\z"},
    }}
    assert validate({"name": "abc", "digits": "123", "posix": "Abc"}, schema) == []
    # RE2's "$" does not match before a trailing newline, unlike Python's.
    assert [c.field for c in validate({"name": "abc\n"}, schema)] == ["name"]
    # RE2's \d is ASCII only.
    assert [c.field for c in validate({"digits": "١٢٣"}, schema)] == ["digits"]
    assert [c.field for c in validate({"posix": "ab1"}, schema)] == ["posix"]


# ---------------------------------------------------------------- the CRD itself


def test_the_gitrepository_crd_is_valid_and_its_schema_found_by_version() -> None:
    assert validate_crd_definition(GITREPO_CRD) == []
    assert schema_for_version(GITREPO_CRD, "v1") is GITREPO_SCHEMA
    assert schema_for_version(GITREPO_CRD, "v1beta2") is None


def crd_with(**changes: Any) -> dict[str, Any]:
    crd = copy.deepcopy(GITREPO_CRD)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = crd
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value
    return crd


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"metadata__name": "gitrepos.source.toolkit.fluxcd.io"}, "metadata.name",
     'Invalid value: "gitrepos.source.toolkit.fluxcd.io": must be spec.names.plural+"."+spec.group'),
    ({"spec__scope": "Global"}, "spec.scope",
     'Unsupported value: "Global": supported values: "Cluster", "Namespaced"'),
    ({"spec__names__listKind": "GitRepository"}, "spec.names.listKind",
     'Invalid value: "GitRepository": kind and listKind may not be the same'),
    ({"spec__versions__0__storage": False}, "spec.versions",
     "Invalid value: 0: must have exactly one version marked as storage version"),
    ({"spec__versions__0__schema": {}}, "spec.versions[0].schema.openAPIV3Schema",
     "Required value: schemas are required"),
    ({"spec__versions__0__additionalPrinterColumns": [
        {"name": "Ready", "type": "text", "jsonPath": ".status.ready"}]},
     "spec.versions[0].additionalPrinterColumns[0].type",
     'Unsupported value: "text": supported values: "boolean", "date", "integer", "number", "string"'),
    ({"spec__versions__0__additionalPrinterColumns": [
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type=="}]},
     "spec.versions[0].additionalPrinterColumns[0].jsonPath",
     'Invalid value: ".status.conditions[?(@.type==": must be a simple json path starting with .'),
])
def test_crd_definition_errors(changes: dict[str, Any], field: str, message: str) -> None:
    causes = validate_crd_definition(crd_with(**changes))
    assert (field, message) in [(c.field, c.message) for c in causes]


def test_a_crd_without_a_group_or_plural_is_refused() -> None:
    crd = copy.deepcopy(GITREPO_CRD)
    del crd["spec"]["group"]
    del crd["spec"]["names"]["plural"]
    fields = {c.field: c.message for c in validate_crd_definition(crd)}
    assert fields["spec.group"] == "Required value"
    assert fields["spec.names.plural"] == "Required value"
    crd = crd_with(spec__group="fluxcd", metadata__name="gitrepositories.fluxcd")
    assert ("spec.group", 'Invalid value: "fluxcd": should be a domain with at least one dot') in [
        (c.field, c.message) for c in validate_crd_definition(crd)]


def test_two_versions_with_one_name_are_refused() -> None:
    crd = copy.deepcopy(GITREPO_CRD)
    second = copy.deepcopy(crd["spec"]["versions"][0])
    second["storage"] = False
    crd["spec"]["versions"].append(second)
    assert [(c.field, c.message) for c in validate_crd_definition(crd)] == [
        ("spec.versions[1].name", 'Duplicate value: "v1"')]


def schema_causes(schema: dict[str, Any]) -> dict[str, str]:
    crd = copy.deepcopy(GITREPO_CRD)
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    return {c.field: c.message for c in validate_crd_definition(crd)}


ROOT = "spec.versions[0].schema.openAPIV3Schema"


def test_a_schema_must_be_structural() -> None:
    causes = schema_causes({"type": "object", "properties": {"spec": {
        "type": "object", "properties": {
            "url": {"pattern": "^https://"},
            "values": {"x-kubernetes-preserve-unknown-fields": True},
            "port": {"x-kubernetes-int-or-string": True},
            "list": {"type": "array"},
        }}}})
    assert causes == {
        f"{ROOT}.properties[spec].properties[url].type":
            "Required value: must not be empty for specified object fields",
        f"{ROOT}.properties[spec].properties[list].items": "Required value: must be specified",
    }
    assert schema_causes({"type": "string"}) == {
        f"{ROOT}.type": 'Invalid value: "string": must be object at the root'}
    causes = schema_causes({"type": "object", "properties": {"a": {
        "type": "string", "anyOf": [{"type": "string", "pattern": "^a"}]}}})
    assert causes == {f"{ROOT}.properties[a].anyOf[0].type": "Forbidden: must be empty to be structural"}


def test_int_or_string_may_spell_out_its_two_types_in_any_of() -> None:
    assert schema_causes({"type": "object", "properties": {"port": {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}]}}}) == {}


def test_defaults_and_patterns_in_a_schema_must_be_usable() -> None:
    causes = schema_causes({"type": "object", "properties": {
        "provider": {"type": "string", "enum": ["generic", "aws"], "default": "gcp"},
        "interval": {"type": "string", "pattern": "([0-9]+"},
    }})
    assert causes[f"{ROOT}.properties[provider].default"] == (
        'Unsupported value: "gcp": supported values: "generic", "aws"')
    assert causes[f"{ROOT}.properties[interval].pattern"].startswith(
        'Invalid value: "([0-9]+": must be a valid regular expression, but isn\'t: ')


@pytest.mark.parametrize(("schema", "value", "message"), [
    ({"type": "integer", "multipleOf": 5}, 12, "Invalid value: 12: v in body should be a multiple of 5"),
    ({"type": "number", "exclusiveMinimum": True, "minimum": 0}, 0,
     "Invalid value: 0: v in body should be greater than 0"),
    ({"type": "number", "maximum": 0.5}, 0.75,
     "Invalid value: 0.75: v in body should be less than or equal to 0.5"),
    ({"type": "string", "minLength": 3}, "ab", 'Invalid value: "ab": v in body should be at least 3 chars long'),
    ({"type": "array", "minItems": 1, "items": {"type": "string"}}, [],
     "Invalid value: 0: v in body should have at least 1 items"),
    ({"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}, {},
     "Invalid value: 0: v in body should have at least 1 properties"),
    ({"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}},
     {"a": "1", "b": "2"}, "Too many: 2: must have at most 1 items"),
    ({"type": "integer", "enum": [1, 2]}, 3, 'Unsupported value: 3: supported values: "1", "2"'),
])
def test_other_keywords(schema: dict[str, Any], value: Any, message: str) -> None:
    wrapper = {"type": "object", "properties": {"v": schema}}
    assert messages(validate({"v": value}, wrapper)) == {"v": message}


@pytest.mark.parametrize(("fmt", "good", "bad"), [
    ("date-time", "2024-05-01T10:00:00.123456789+02:00", "2024-13-01T10:00:00Z"),
    ("date", "2024-02-29", "2023-02-29"),
    ("duration", "1h30m", "soon"),
    ("uuid", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810"),
    ("ipv4", "192.0.2.1", "192.0.2.256"),
    ("ipv6", "2001:db8::1", "192.0.2.1"),
    ("cidr", "10.0.0.0/8", "10.0.0.0"),
    ("hostname", "source-controller.flux-system.svc", "-bad-"),
    ("byte", "aGVsbG8=", "not base64!"),
    ("password", "anything at all", None),
    ("my-own-format", "anything at all", None),
])
def test_string_formats(fmt: str, good: str, bad: str | None) -> None:
    schema = {"type": "object", "properties": {"v": {"type": "string", "format": fmt}}}
    assert validate({"v": good}, schema) == []
    if bad is not None:
        assert messages(validate({"v": bad}, schema)) == {
            "v": f'Invalid value: "{bad}": v in body must be of type {fmt}: "{bad}"'}


def test_names_must_be_dns_labels() -> None:
    crd = crd_with(spec__names__plural="Git_Repositories",
                   metadata__name="Git_Repositories.source.toolkit.fluxcd.io")
    causes = {c.field: c.message for c in validate_crd_definition(crd)}
    assert causes["spec.names.plural"].startswith(
        'Invalid value: "Git_Repositories": a DNS-1035 label must consist of lower case')


def test_valid_re2_patterns_python_cannot_run_are_accepted_but_not_enforced() -> None:
    schema = {"type": "object", "properties": {
        "greek": {"type": "string", "pattern": "^\\p{Greek}+$"},
        "late_flags": {"type": "string", "pattern": "^v(?i)[a-z]+$"},
    }}
    assert schema_causes(schema) == {}
    assert validate({"greek": "abc", "late_flags": "v1"}, schema) == []


# ---------------------------------------------------------------- the status subresource


def test_a_status_write_is_validated_against_the_status_schema_only(cluster: Cluster) -> None:
    crd_type = cluster.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    ns_type = cluster.resource("", "v1", "namespaces")
    cluster.create(ns_type, "", {"metadata": {"name": "flux-system"}}, WriteOptions())
    cluster.create(crd_type, "", GITREPO_CRD, WriteOptions(manager="test"))
    rt = cluster.resource("source.toolkit.fluxcd.io", "v1", "gitrepositories")
    cluster.create(rt, "flux-system", gitrepo(), WriteOptions(manager="test"))
    # The definition tightens: the stored spec no longer passes it.
    stricter = copy.deepcopy(GITREPO_CRD)
    schema = stricter["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["url"]["pattern"] = "^ssh://.*$"
    stricter["metadata"]["resourceVersion"] = cluster.get(
        crd_type, "", GITREPO_CRD["metadata"]["name"])["metadata"]["resourceVersion"]
    cluster.update(crd_type, "", GITREPO_CRD["metadata"]["name"], stricter,
                   WriteOptions(manager="test"))
    condition = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok",
                 "lastTransitionTime": "2024-05-01T10:00:00Z"}
    status = {"status": {"conditions": [condition]}}
    opts = WriteOptions(manager="source-controller")

    # As kube-apiserver: a /status write is checked against the status schema alone.
    written = cluster.patch(rt, "flux-system", "podinfo", MERGE_PATCH, status, opts, "status")
    assert written["status"]["conditions"] == [condition]
    bad = {"status": {"conditions": [{**condition, "lastTransitionTime": "yesterday"}]}}
    with pytest.raises(ApiError) as refused:
        cluster.patch(rt, "flux-system", "podinfo", MERGE_PATCH, bad, opts, "status")
    assert refused.value.code == 422
    assert [c["field"] for c in refused.value.status()["details"]["causes"]] == [
        "status.conditions[0].lastTransitionTime"]
    # A write of the object itself is checked whole.
    with pytest.raises(ApiError) as spec_refused:
        cluster.patch(rt, "flux-system", "podinfo", MERGE_PATCH,
                      {"metadata": {"labels": {"a": "b"}}}, opts)
    assert [c["field"] for c in spec_refused.value.status()["details"]["causes"]] == ["spec.url"]
