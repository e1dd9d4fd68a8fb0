"""Post-build substitution as a Flux user writes it in manifests."""

from __future__ import annotations

import pytest

from sluice.core.envsubst import SubstitutionError, VariableNotSet, expand, is_valid_name

CASES = [
    # plain text and untouched forms
    ("image: nginx", {}, "image: nginx"),
    ("$var and $ alone", {"var": "x"}, "$var and $ alone"),
    ("${var}", {"var": "abc"}, "abc"),
    ("a-${x}-${y}-b", {"x": "1", "y": "2"}, "a-1-2-b"),
    # defaults
    ("${var:-fallback}", {}, "fallback"),
    ("${var:-fallback}", {"var": ""}, "fallback"),
    ("${var:-fallback}", {"var": "set"}, "set"),
    ("${var-fallback}", {}, "fallback"),
    ("${var:=assigned}", {}, "assigned"),
    ("${var=xyz}", {"var": "abc"}, "abc"),
    ("${var=${other}}", {"other": "foo"}, "foo"),
    ("${var=pre${other}-suf}", {"other": "foo"}, "prefoo-suf"),
    ("${var:-${other^^}}", {"other": "foo"}, "FOO"),
    ("${var:-}", {}, ""),
    # length and case
    ("${#var}", {"var": "abcdEFGH28ij"}, "12"),
    ("${var^}", {"var": "abcd"}, "Abcd"),
    ("${var^^}", {"var": "abcd"}, "ABCD"),
    ("${var,}", {"var": "ABCD"}, "aBCD"),
    ("${var,,}", {"var": "ABCD"}, "abcd"),
    # substrings
    ("${p:11}", {"p": "/home/bozo/ideas/thoughts.for.today"}, "ideas/thoughts.for.today"),
    ("${p:11:5}", {"p": "/home/bozo/ideas/thoughts.for.today"}, "ideas"),
    ("${p:-3}", {"p": "abcdef"}, "abcdef"),  # ':-' is the default operator
    ("${p:1:-1}", {"p": "abcdef"}, "bcde"),
    ("${p:4:10}", {"p": "abcdef"}, "ef"),
    ("${p:10}", {"p": "abcdef"}, ""),
    ("${p:x}", {"p": "abcdef"}, "abcdef"),
    ("${p:${n}}", {"p": "abcdef", "n": "2"}, "cdef"),
    # trimming with globs (a star spans slashes)
    ("${f#*.}", {"f": "bash.string.txt"}, "string.txt"),
    ("${f##*.}", {"f": "bash.string.txt"}, "txt"),
    ("${f%.*}", {"f": "bash.string.txt"}, "bash.string"),
    ("${f%%.*}", {"f": "bash.string.txt"}, "bash"),
    ("${f#*/}", {"f": "/path/to/file"}, "path/to/file"),
    ("${f##*/}", {"f": "/path/to/file"}, "file"),
    ("${f#v}", {"f": "v1.2.3"}, "1.2.3"),
    ("${f%[0-9]}", {"f": "v1.2.3"}, "v1.2."),
    ("${f#nomatch}", {"f": "v1.2.3"}, "v1.2.3"),
    # replacements are literal text
    ("${s/abc/xyz}", {"s": "abcABC123ABCabc"}, "xyzABC123ABCabc"),
    ("${s//abc/xyz}", {"s": "abcABC123ABCabc"}, "xyzABC123ABCxyz"),
    ("${s/#abc/XYZ}", {"s": "abcABC123ABCabc"}, "XYZABC123ABCabc"),
    ("${s/%abc/XYZ}", {"s": "abcABC123ABCabc"}, "abcABC123ABCXYZ"),
    ("${s/#/prefix-}", {"s": "value"}, "prefix-value"),
    ("${s/%/-suffix}", {"s": "value"}, "value-suffix"),
    ("${s/./}", {"s": "foo.bar"}, "foobar"),
    ("${s/*/x}", {"s": "a*b"}, "axb"),
    (r"${s/\//-}", {"s": "foo/bar"}, "foo-bar"),
    (r"${s//\//-}", {"s": "foo/bar/baz"}, "foo-bar-baz"),
    # escapes
    ("$${var}", {"var": "x"}, "${var}"),
    ("some ${v}$${var$${v}$v${v}", {"v": "X"}, "some X${var${v}$vX"),
    ("$${var=${d}}", {"d": "foo"}, "${var=foo}"),
    ("echo $$HOME", {}, "echo $HOME"),
    ("\\\\kept ${v}", {"v": "x"}, "\\\\kept x"),
    # values are inserted verbatim, never re-expanded
    ("${a}", {"a": "${b}", "b": "no"}, "${b}"),
]


@pytest.mark.parametrize(("text", "variables", "expected"), CASES)
def test_expands_like_flux(text: str, variables: dict[str, str], expected: str) -> None:
    assert expand(text, variables) == expected
    assert expand(text, variables, strict=False) == expected


def test_unset_variable_is_empty_without_strict_mode() -> None:
    assert expand("tag: ${TAG}", {}) == "tag: "
    assert expand("${#missing}", {}) == "0"


@pytest.mark.parametrize("text", [
    "${missing}", "${#missing}", "${missing^^}", "${missing,}", "${missing:0}",
    "${missing:0:2}", "${missing/a/b}", "${missing//a/b}", "${missing/#a/b}",
    "${missing/%a/b}", "${missing#a}", "${missing##a}", "${missing%a}", "${missing%%a}",
    "x-${present:-${missing}}",
])
def test_strict_mode_names_the_unset_variable(text: str) -> None:
    with pytest.raises(VariableNotSet) as err:
        expand(text, {"present": "here"}, strict=True)
    assert err.value.name == "missing"
    assert str(err.value) == 'variable not set (strict mode): "missing"'


@pytest.mark.parametrize(("text", "expected"), [
    ("${missing:-d}", "d"), ("${missing-d}", "d"), ("${missing:=d}", "d"),
    ("${missing=d}", "d"), ("${empty}", ""), ("${empty:-d}", "d"),
])
def test_strict_mode_accepts_defaults_and_empty_values(text: str, expected: str) -> None:
    assert expand(text, {"empty": ""}, strict=True) == expected


def test_lookup_function_distinguishes_unset_from_empty() -> None:
    values = {"a": ""}
    assert expand("[${a}]", values.get, strict=True) == "[]"
    with pytest.raises(VariableNotSet):
        expand("[${b}]", values.get, strict=True)


@pytest.mark.parametrize(("text", "words"), [
    ("${var", "missing closing brace"),
    ("${var:-x", "missing closing brace"),
    ("${}", "unable to parse variable name"),
    ("${ var}", "unable to parse variable name"),
    ("${var x}", "missing closing brace"),
    ("${#}", "bad substitution"),
    ("${var^x}", "bad substitution"),
    ("${var+x}", "unsupported substitution operator '+'"),
    ("${var:+x}", "unsupported substitution operator ':+'"),
    ("${var?x}", "unsupported substitution operator '?'"),
    ("${var:?x}", "unsupported substitution operator ':?'"),
])
def test_malformed_expressions_are_errors(text: str, words: str) -> None:
    with pytest.raises(SubstitutionError) as err:
        expand(f"before {text} after", {"var": "v"})
    assert words in str(err.value)


def test_syntax_errors_win_over_unset_variables() -> None:
    with pytest.raises(SubstitutionError) as err:
        expand("${unset} ${broken", {}, strict=True)
    assert not isinstance(err.value, VariableNotSet)


def test_multiline_yaml_keeps_its_layout() -> None:
    text = "spec:\n  replicas: ${REPLICAS:=1}\n  image: app:${TAG}\n  cmd: |\n    echo $$PATH\n"
    out = expand(text, {"TAG": "1.2"}, strict=True)
    assert out == "spec:\n  replicas: 1\n  image: app:1.2\n  cmd: |\n    echo $PATH\n"


@pytest.mark.parametrize(("name", "valid"), [
    ("cluster_env", True), ("_x", True), ("A1", True), ("1abc", False), ("my-var", False),
    ("", False), ("a.b", False),
])
def test_variable_names(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid
