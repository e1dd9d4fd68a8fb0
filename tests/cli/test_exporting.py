"""The YAML emitter writes what Go's sigs.k8s.io/yaml (go-yaml v2) writes.

Expected texts are go-yaml v2 output, including the canonical Kubernetes CRD
descriptions that controller-gen has printed for years through the same
library (folded past column 80, continuation indented two spaces).
"""

from __future__ import annotations

import pytest

from sluice.cli.exporting import dump, export_object, export_secret, export_tenant_object

KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may "
    "infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#types-kinds")


def test_long_strings_fold_at_spaces_past_80_columns_like_controller_gen() -> None:
    doc = {"properties": {"kind": {"description": KIND_DESCRIPTION, "type": "string"}}}
    nested = {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": doc}}]}}
    assert dump(nested) == (
        "spec:\n"
        "  versions:\n"
        "  - name: v1\n"
        "    schema:\n"
        "      openAPIV3Schema:\n"
        "        properties:\n"
        "          kind:\n"
        "            description: 'Kind is a string value representing the REST resource this\n"
        "              object represents. Servers may infer this from the endpoint the client\n"
        "              submits requests to. Cannot be updated. In CamelCase. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds'\n"
        "            type: string\n")


def test_plain_strings_fold_too_and_words_longer_than_the_line_stay_whole() -> None:
    text = "word " * 20 + "x" * 100
    out = dump({"k": text})
    lines = out.splitlines()
    assert lines[0] == "k: " + ("word " * 16).rstrip()
    assert lines[1] == "  " + ("word " * 4) + "x" * 100
    assert dump({"url": "https://example.com/" + "a" * 120}) == "url: https://example.com/" + "a" * 120 + "\n"


def test_keys_sort_in_go_yaml_natural_order() -> None:
    doc = {"a10": 1, "a9": 2, "B": 3, "a": 4, "_x": 5}
    # Digit runs compare as numbers and non-letters sort before letters.
    assert dump(doc) == "_x: 5\nB: 3\na: 4\na9: 2\na10: 1\n"


@pytest.mark.parametrize(("value", "written"), [
    ("on", '"on"'), ("Off", '"Off"'), ("y", '"y"'), ("NO", '"NO"'), ("true", '"true"'),
    ("null", '"null"'), ("~", '"~"'), ("", '""'),
    ("1.0", '"1.0"'), ("2.39", '"2.39"'), ("1e3", '"1e3"'), ("0x1F", '"0x1F"'), ("0755", '"0755"'),
    ("08", '"08"'), ("1_000", '"1_000"'), ("-5", '"-5"'), (".5", '".5"'), (".inf", '".inf"'),
    ("1:20", '"1:20"'), ("2024-01-02", '"2024-01-02"'), ("2001-12-14t21:59:43.10-05:00", '"2001-12-14t21:59:43.10-05:00"'),
    ("6.3.5", "6.3.5"), ("<6.0.0", "<6.0.0"), (">=1.0.0 <2.0.0", "'>=1.0.0 <2.0.0'"),
    ("nil", "nil"), ("v1.01", "v1.01"), ("main@sha1:abc", "main@sha1:abc"),
    ("ssh://git@github.com/org/repo", "ssh://git@github.com/org/repo"), (r"\d\.\d\d", r"\d\.\d\d"),
    ("*", "'*'"), ("- x", "'- x'"), ("-", "'-'"), ("a: b", "'a: b'"), ("a:", "'a:'"), ("a #b", "'a #b'"),
    ("{{ .Values }}", "'{{ .Values }}'"), ("[x]", "'[x]'"), ("it's", "it's"), ("'q'", "'''q'''"),
    ("@x", "'@x'"), ("`x`", "'`x`'"), ("%x", "'%x'"), (" lead", "' lead'"), ("trail ", "'trail '"),
    ("---", "'---'"), ("a,b", "a,b"), ("a#b", "a#b"), ("?x", "?x"), ("? x", "'? x'"),
    ("tab\there", '"tab\\there"'), ("bell\x07", '"bell\\a"'), ("é ü 日本", "é ü 日本"),
    ("emoji 😀", '"emoji \\U0001F600"'),
])
def test_scalar_quoting(value: str, written: str) -> None:
    assert dump({"k": value}) == f"k: {written}\n"


def test_keys_are_quoted_by_the_same_rules() -> None:
    assert dump({"y": 1, "on": [], "n": {}}) == '"n": {}\n"on": []\n"y": 1\n'


@pytest.mark.parametrize(("value", "written"), [
    ("line1\nline2\n", "|\n  line1\n  line2\n"),
    ("line1\nline2", "|-\n  line1\n  line2\n"),
    ("a\n\nb\n", "|\n  a\n\n  b\n"),
    ("  indented\nx\n", "|2\n    indented\n  x\n"),
    ("trailing space \nx\n", '"trailing space \\nx\\n"\n'),
    ("x\t\ny", '"x\\t\\ny"\n'),
])
def test_multiline_strings(value: str, written: str) -> None:
    assert dump({"k": value}) == f"k: {written}" + ("" if written.endswith("\n") else "\n")


def test_keep_chomping_leaves_the_stream_open_ended() -> None:
    assert dump({"a": "x\n\n", "b": 1}) == "a: |+\n  x\n\nb: 1\n...\n"


def test_collections() -> None:
    doc = {"list": [{"kind": "GitRepository", "name": "*"}, ["a", "b"], {}, [], "s", 1, True, None],
           "empty": {}, "none": [], "num": 0.5, "big": 1234567.5, "int": 2.0, "neg": -3}
    assert dump(doc) == (
        "big: 1.2345675e+06\n"
        "empty: {}\n"
        "int: 2\n"
        "list:\n"
        "- kind: GitRepository\n"
        "  name: '*'\n"
        "- - a\n"
        "  - b\n"
        "- {}\n"
        "- []\n"
        "- s\n"
        "- 1\n"
        "- true\n"
        "- null\n"
        "neg: -3\n"
        "none: []\n"
        "num: 0.5\n")


def test_flux_export_forms() -> None:
    obj = {"apiVersion": "v1", "kind": "X", "metadata": {"creationTimestamp": None, "name": "x"},
           "spec": {"a": 1}, "status": {}}
    assert export_object(obj) == "---\napiVersion: v1\nkind: X\nmetadata:\n  name: x\nspec:\n  a: 1\n"
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"creationTimestamp": None, "name": "s"}, "stringData": {"k": "v"}}
    assert export_secret(secret) == "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n\n"
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"creationTimestamp": None, "name": "apps"}, "spec": {}, "status": {}}
    assert export_tenant_object(namespace) == "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n"
