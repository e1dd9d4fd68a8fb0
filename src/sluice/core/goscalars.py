"""Scalars as sigs.k8s.io/yaml hands them to go-yaml v2's emitter.

Flux and kustomize print objects by encoding them as JSON, reading that JSON
back with go-yaml v2 and writing the result with go-yaml v2
(``sluice.core.goyaml`` does the writing). Before any layout, each scalar's
text and requested style are settled here:

* a string is offered plain only if go-yaml would read it back as a string:
  not ``on``/``y``/``null``/``~``, not a Go int (``0x1F``, ``0755``,
  ``0b-101``), not a float (``1.0``, ``.5_5``; but ``.5e999`` overflows and
  stays text), not a timestamp (``2024-01-02``, ``2001-12-14t21:59:43,1Z``;
  but ``2023-02-30`` is no date), not a base-60 float (``1:20``); otherwise
  it is double-quoted, and a string holding a line feed asks for a literal
  block;
* a float is written as Go's JSON encoder writes it and go-yaml re-prints
  what it reads back: ``2.0`` is ``2``, ``1e19`` is
  ``10000000000000000000``, ``1.5e20`` is ``1.5e+20``; NaN and infinities
  are refused, as encoding/json refuses them;
* a raw NEL (U+0085), which encoding/json leaves unescaped, is folded by
  go-yaml's reader like a line break (``read_back``).
"""

from __future__ import annotations

import calendar
import decimal
import math
import re
from typing import Any

__all__ = ["go_parse_int", "read_back", "scalar_text"]

_INT64 = 1 << 63
_UINT64 = 1 << 64


# --- Go's strconv, as go-yaml uses it to resolve plain scalars ----------------


def go_parse_int(text: str, *, base: int = 0, unsigned: bool = False) -> int | None:
    """Go's ``strconv.ParseInt(text, base, 64)`` (``ParseUint`` when unsigned); None on error.

    Base 0 reads Go's prefixes: ``0x``, ``0b``, ``0o`` and a bare leading ``0``
    for octal. Underscores are refused: go-yaml strips them before asking.
    """
    s = text
    negative = False
    if not unsigned and s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    if not s or not s.isascii():
        return None
    if base == 0:
        base = 10
        if s[0] == "0":
            prefix = s[1:2].lower()
            if len(s) >= 3 and prefix in ("b", "o", "x"):
                base, s = {"b": 2, "o": 8, "x": 16}[prefix], s[2:]
            else:
                base, s = 8, s[1:]  # "0" alone is octal zero
    allowed = "0123456789abcdef"[:base]
    if any(c not in allowed for c in s.lower()):
        return None
    value = int(s, base) if s else 0
    if unsigned:
        return value if value < _UINT64 else None
    value = -value if negative else value
    return value if -_INT64 <= value < _INT64 else None


# Go's ParseFloat on text that starts with ".": digits, single underscores
# between digits, an optional exponent. Overflow to infinity is an error.
_DOT_FLOAT = re.compile(r"\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
# The layouts go-yaml v2 hands to time.Parse: "2006-1-2T15:4:5.999999999Z07:00"
# (also with "t"), "2006-1-2 15:4:5.999999999" (a layout space matches a run of
# spaces) and "2006-1-2". A fraction may follow a comma, as Go accepts.
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?(?:Z|[+-]([0-9]{2}):([0-9]{2}))"
    r"| +([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?)?"
)
# Texts go-yaml's resolver finds in its table. "<<" is in the table too, but
# the resolver only looks a text up when its first byte hints it might be
# there, and "<" gives no hint: "<<" stays a string.
_RESOLVE_MAP = frozenset({
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    "", "~", "null", "Null", "NULL",
    ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
})  # fmt: skip


def _is_timestamp(s: str) -> bool:
    """go-yaml v2 ``parseTimestamp``, with time.Parse's range checks."""
    m = _TIMESTAMP.fullmatch(s)
    if not m:
        return False
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if not 1 <= month <= 12:
        return False
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return False  # time.Parse checks the day against the month: 2023-02-30 is text
    if m[4] is not None:
        clock = m[4], m[5], m[6]
        # Zone offsets may reach 24 hours and 60 minutes.
        if m[7] is not None and (int(m[7]) > 24 or int(m[8]) > 60):
            return False
    elif m[9] is not None:
        clock = m[9], m[10], m[11]
    else:
        return True
    return int(clock[0]) < 24 and int(clock[1]) < 60 and int(clock[2]) < 60


def _reads_back_as_string(s: str) -> bool:
    """go-yaml v2 ``resolve``: would ``s``, written plain, be read back as a string?"""
    if s in _RESOLVE_MAP:
        return False
    head = s[0]
    if head == ".":
        return not (_DOT_FLOAT.fullmatch(s) and not math.isinf(float(s.replace("_", ""))))
    if head not in "+-0123456789":
        return True
    if _is_timestamp(s):
        return False
    plain = s.replace("_", "")
    if go_parse_int(plain) is not None or go_parse_int(plain, unsigned=True) is not None:
        return False
    if _YAML_STYLE_FLOAT.fullmatch(plain) and not math.isinf(float(plain)):
        return False
    if plain.startswith("0b"):
        # go-yaml retries the digits in base 2, where Go accepts a sign: "0b-101" is -5.
        digits = plain[2:]
        return go_parse_int(digits, base=2) is None and (
            go_parse_int(digits, base=2, unsigned=True) is None
        )
    if plain.startswith("-0b"):
        return go_parse_int("-" + plain[3:], base=2) is None
    return True


def _plain_requested(s: str) -> bool:
    """go-yaml v2 ``encoder.stringv``: may the string be offered to the emitter plain?"""
    return _reads_back_as_string(s) and not _BASE60_FLOAT.fullmatch(s)


# --- floats: Go's JSON encoding, read back and re-printed by go-yaml v2 ------


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``abs(value)`` and the decimal point's position."""
    _sign, digit_tuple, exponent = decimal.Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return "0", 0
    return digits.rstrip("0"), len(digits) + exponent


def _format_e(digits: str, point: int, negative: bool) -> str:
    exp = point - 1 if digits != "0" else 0
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if negative else ''}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _format_f(digits: str, point: int, negative: bool) -> str:
    if digits == "0":
        body = "0"
    elif point <= 0:
        body = "0." + "0" * -point + digits
    elif point >= len(digits):
        body = digits + "0" * (point - len(digits))
    else:
        body = digits[:point] + "." + digits[point:]
    return ("-" if negative else "") + body


def _format_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        go_text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise ValueError(f"json: unsupported value: {go_text}")
    negative = value < 0
    digits, point = _shortest_digits(value)
    # encoding/json: exponent form below 1e-6 and from 1e21 ("1e-07" becomes
    # "1e-7"); a whole number prints without a fraction, so go-yaml reads it
    # back as an int (uint64 above int64's range).
    if value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21):
        json_text = re.sub(r"e-0(\d)$", r"e-\1", _format_e(digits, point, negative))
    else:
        json_text = _format_f(digits, point, negative)
    whole = go_parse_int(json_text)
    if whole is None:
        whole = go_parse_int(json_text, unsigned=True)
    if whole is not None:
        return str(whole)
    # go-yaml prints the float64 it read with strconv's shortest 'g'.
    reread = float(json_text)
    digits, point = _shortest_digits(reread)
    exp = point - 1
    if digits != "0" and (exp < -4 or exp >= 6):
        return _format_e(digits, point, reread < 0)
    return _format_f(digits, point, reread < 0)


# encoding/json leaves U+0085 (NEL) unescaped, and go-yaml, reading the JSON
# back, takes it for a line break inside a double-quoted scalar and folds it
# with the spaces around it: one break becomes a space, n breaks n-1 newlines.
_RAW_NEL_RUN = re.compile(" *\x85[ \x85]*")


def read_back(text: str) -> str:
    """A string as it comes out of sigs.k8s.io/yaml's JSON-to-YAML round trip."""
    if "\x85" not in text:
        return text
    return _RAW_NEL_RUN.sub(lambda m: "\n" * (m[0].count("\x85") - 1) or " ", text)


def scalar_text(value: Any) -> tuple[str, str]:
    """The text go-yaml v2 writes for a scalar and the style it asks the emitter for."""
    if value is None:
        return "null", "plain"
    if value is True or value is False:
        return ("true" if value else "false"), "plain"
    if isinstance(value, int):
        return str(value), "plain"
    if isinstance(value, float):
        return _format_float(value), "plain"
    if isinstance(value, str):
        if "\n" in value:
            return value, "literal"
        return value, "plain" if _plain_requested(value) else "double"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")
