"""Field errors worded as kube-apiserver words them.

An Invalid (422) Status lists one cause per faulty field, and clients show
the cause's message after the field path: ``spec.url: Invalid value:
"ftp://x": ...``, ``spec.interval: Required value``, ``spec.provider:
Unsupported value: "foo": supported values: "generic", "aws"``. The message
starts with the kind of fault, then the bad value as Go prints it (strings
quoted, numbers bare, maps as ``map[string]interface {}{...}``), then the
detail. The constructors here build :class:`~sluice.apiserver.errors.Cause`
objects in that shape, with the reason Kubernetes gives each kind of fault;
:mod:`sluice.apiserver.schemas.structural` and :mod:`sluice.apiserver.schemas.crd_definition`
use them.
"""

from __future__ import annotations

from typing import Any

from sluice.apiserver.errors import Cause
from sluice.apiserver.schemas.jsonpath import go_number_text

__all__ = [
    "child",
    "duplicate",
    "forbidden",
    "go_quote",
    "go_syntax",
    "index",
    "invalid",
    "not_supported",
    "required",
    "too_long",
    "too_many",
    "type_invalid",
]

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v", '"': '\\"', "\\": "\\\\"}


def go_quote(text: str) -> str:
    """``text`` as Go's ``%q`` writes it (printable Unicode kept, the rest escaped)."""
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def go_syntax(value: Any) -> str:
    """A decoded JSON value as Go's ``%#v`` prints it."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number_text(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{go_quote(str(k))}:{go_syntax(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_syntax(v) for v in value) + "}"
    return go_quote(str(value))


def _bad_value(value: Any) -> str:
    # A JSON null reads "null" here, not Go's typed nil.
    return "null" if value is None else go_syntax(value)


def child(path: str, key: str) -> str:
    """The path of field ``key`` below ``path`` (``spec`` + ``url`` = ``spec.url``)."""
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    """The path of element ``i`` of the list at ``path``."""
    return f"{path}[{i}]"


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, f"Invalid value: {_bad_value(value)}: {detail}", "FieldValueInvalid")


def type_invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, f"Invalid value: {_bad_value(value)}: {detail}", "FieldValueTypeInvalid")


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, f"Forbidden: {detail}", "FieldValueForbidden")


def duplicate(path: str, value: Any) -> Cause:
    return Cause(path, f"Duplicate value: {_bad_value(value)}", "FieldValueDuplicate")


def not_supported(path: str, value: Any, supported: list[str]) -> Cause:
    message = f"Unsupported value: {_bad_value(value)}"
    if supported:
        message += ": supported values: " + ", ".join(go_quote(s) for s in supported)
    return Cause(path, message, "FieldValueNotSupported")


def too_long(path: str, limit: int) -> Cause:
    # The value itself is left out: it may be huge.
    return Cause(path, f"Too long: may not be longer than {limit}", "FieldValueTooLong")


def too_many(path: str, actual: int, limit: int) -> Cause:
    return Cause(path, f"Too many: {actual}: must have at most {limit} items", "FieldValueTooMany")
