"""CEL expressions as Flux evaluates them (``fluxcd/pkg/runtime/cel``), on ``cel-python``.

Flux's APIs carry CEL in several places: a Receiver's ``resourceFilter``
and ``resources[].filter`` (variables ``res``, ``req``, ``claims``), a
Provider's ``commitStatusExpr`` (``event``, ``alert``, ``provider``), the
``readyExpr`` / ``healthCheckExprs`` of Kustomizations and HelmReleases.
Flux compiles them with every variable declared as a dynamic struct and an
expected output type; this module does the same with ``celpy`` (the
maintained pure-Python CEL implementation, imported as ``celpy``):

* `compile_expression` parses the text once, raising `CELError` with
  Flux's wording (``failed to parse the CEL expression '<expr>': ...``);
  with ``output="bool"``/``"string"`` it also rejects expressions whose type
  is known without data (a literal, a comparison that yields a string ...):
  celpy has no static type checker, so this is done by evaluating the
  expression over empty variables and only judging a result that needed no
  data (an error there means "depends on the data", which is fine);
* `Expression.evaluate_bool` / `evaluate_string` run it over plain JSON
  values (dicts from the API), raising `CELError` on an evaluation error
  (``no such key`` ...) or a result of the wrong type, as Flux's
  ``EvaluateBoolean``/``EvaluateString`` do.

Compiled programs are cached by text: the webhook path compiles the same
filter on every call, and a compile costs about 0.2 ms against 0.1 ms for
an evaluation.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

__all__ = ["CELError", "Expression", "compile_expression"]

# celpy logs every evaluation step at DEBUG and failures at WARNING/ERROR
# (with the activation, which may hold webhook bodies): keep it quiet; the
# errors reach the caller as CELError.
logging.getLogger("celpy").setLevel(logging.CRITICAL)

Output = Literal["bool", "string", "any"]
_TYPE_NAMES: dict[type, str] = {
    celtypes.BoolType: "bool",
    celtypes.StringType: "string",
    celtypes.IntType: "int",
    celtypes.UintType: "uint",
    celtypes.DoubleType: "double",
    celtypes.BytesType: "bytes",
    celtypes.ListType: "list",
    celtypes.MapType: "map",
    celtypes.TimestampType: "timestamp",
    celtypes.DurationType: "duration",
    # celpy returns plain Python values from some operators ("a" + "b" is a str).
    bool: "bool",
    str: "string",
    int: "int",
    float: "double",
    list: "list",
    dict: "map",
}
_BOOL = (celtypes.BoolType, bool)
_STRING = (celtypes.StringType, str)


class CELError(ValueError):
    """A CEL expression that does not parse, fails to evaluate, or has the wrong type."""


def _type_name(value: object) -> str:
    for kind, name in _TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    # celpy appends the whole activation ("(in activation 'Activation(...)')"),
    # which holds the variables' values (webhook bodies): never let it out.
    text = text.split(" (in activation", 1)[0].strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _parse_message(exc: CELParseError) -> str:
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    where = f"<input>:{line}:{column}: " if line and column else ""
    return f"{where}Syntax error"


class Expression:
    """One compiled expression over a fixed set of variable names."""

    def __init__(self, text: str, program: celpy.Runner, variables: tuple[str, ...],
                 output: Output) -> None:
        self.text = text
        self.variables = variables
        self.output = output
        self._program = program

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Evaluate over JSON values; missing declared variables are empty maps."""
        activation = {name: json_to_cel(values.get(name) or {}) for name in self.variables}
        try:
            result = self._program.evaluate(activation)
        except CELEvalError as exc:
            raise CELError(f"failed to evaluate the CEL expression '{self.text}': "
                           f"{_first_line(exc)}") from None
        except Exception as exc:  # celpy lets Python errors through
            raise CELError(f"failed to evaluate the CEL expression '{self.text}': "
                           f"{_first_line(exc)}") from None
        if isinstance(result, CELEvalError):
            raise CELError(f"failed to evaluate the CEL expression '{self.text}': "
                           f"{_first_line(result)}")
        return result

    def evaluate_bool(self, values: Mapping[str, Any]) -> bool:
        result = self.evaluate(values)
        if not isinstance(result, _BOOL):
            raise CELError(f"failed to evaluate the CEL expression '{self.text}': "
                           f"result is {_type_name(result)}, expected bool")
        return bool(result)

    def evaluate_string(self, values: Mapping[str, Any]) -> str:
        result = self.evaluate(values)
        if not isinstance(result, _STRING):
            raise CELError(f"failed to evaluate the CEL expression '{self.text}': "
                           f"result is {_type_name(result)}, expected string")
        return str(result)


@functools.cache
def _environment() -> celpy.Environment:
    # celpy.Environment() sets the interpreter's recursion limit to 2500
    # outright, lowering what others raised (the API server's JSON decoding
    # needs more): keep the higher of the two.
    limit = sys.getrecursionlimit()
    try:
        return celpy.Environment()
    finally:
        sys.setrecursionlimit(max(limit, sys.getrecursionlimit()))


@functools.lru_cache(maxsize=256)
def _compile(text: str, variables: tuple[str, ...], output: Output) -> Expression:
    env = _environment()
    try:
        ast = env.compile(text)
        program = env.program(ast)
    except CELParseError as exc:
        raise CELError(f"failed to parse the CEL expression '{text}': "
                       f"{_parse_message(exc)}") from None
    except Exception as exc:  # lark errors other than parse errors
        raise CELError(f"failed to compile the CEL expression '{text}': "
                       f"{_first_line(exc)}") from None
    expression = Expression(text, program, variables, output)
    if output != "any":
        # No static checker: a result computed without any data has a type
        # fixed by the expression itself, so judge it now as cel-go's
        # checker would; an evaluation error means it depends on the data.
        try:
            probe = expression.evaluate({})
        except CELError as exc:
            if "undeclared reference" in str(exc):
                # cel-go's checker rejects names that are not declared.
                detail = str(exc).split("': ", 1)[-1]
                raise CELError(f"failed to compile the CEL expression '{text}': "
                               f"{detail}") from None
            return expression
        if not isinstance(probe, _BOOL if output == "bool" else _STRING):
            raise CELError(f"failed to compile the CEL expression '{text}': expression "
                           f"output type '{_type_name(probe)}' does not match expected "
                           f"type '{output}'")
    return expression


def compile_expression(text: str, variables: Iterable[str], output: Output = "any") -> Expression:
    """Compile ``text`` with the given variables (each a dynamic map), or raise `CELError`."""
    return _compile(text, tuple(variables), output)
