"""CEL as Flux compiles it: parse errors, output types, undeclared names, no data in errors."""

from __future__ import annotations

import pytest

from sluice.core.cel import CELError, compile_expression


def test_bool_filters_evaluate_over_json() -> None:
    expr = compile_expression(
        'res.metadata.name.startsWith("pod") && req.commits.exists(c, '
        'c.modified.exists(f, f.startsWith("apps/")))', ["res", "req"], "bool")
    data = {"res": {"metadata": {"name": "podinfo"}},
            "req": {"commits": [{"modified": ["docs/a"]}, {"modified": ["apps/b"]}]}}
    assert expr.evaluate_bool(data) is True
    assert expr.evaluate_bool({**data, "res": {"metadata": {"name": "other"}}}) is False


@pytest.mark.parametrize(("text", "message"), [
    ("res.metadata.name ==",
     "failed to parse the CEL expression 'res.metadata.name ==': <input>:1:19: Syntax error"),
    ('"abc"', "failed to compile the CEL expression '\"abc\"': expression output type "
              "'string' does not match expected type 'bool'"),
    ("foo.bar == 1", "failed to compile the CEL expression 'foo.bar == 1': undeclared "
                     "reference to 'foo'"),
])
def test_compile_errors_read_like_flux(text: str, message: str) -> None:
    with pytest.raises(CELError) as info:
        compile_expression(text, ["res", "req"], "bool")
    assert str(info.value) == message


def test_evaluation_errors_never_carry_the_values() -> None:
    expr = compile_expression('req.missing == "x"', ["res", "req"], "bool")
    with pytest.raises(CELError) as info:
        expr.evaluate_bool({"req": {"secret": "hunter2-value"}})
    assert "hunter2-value" not in str(info.value)
    assert str(info.value).startswith("failed to evaluate the CEL expression")
    string = compile_expression('event.kind + "/" + event.name', ["event"], "string")
    assert string.evaluate_string({"event": {"kind": "Kustomization", "name": "apps"}}) == \
        "Kustomization/apps"


def test_compiling_keeps_a_raised_recursion_limit() -> None:
    import sys

    from sluice.core import cel
    cel._environment.cache_clear()  # a fresh celpy.Environment, which lowers the limit
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, 20000))
    try:
        compile_expression("res.x == 1 || true", ["res"], "bool")
        assert sys.getrecursionlimit() == max(before, 20000)
    finally:
        sys.setrecursionlimit(before)
