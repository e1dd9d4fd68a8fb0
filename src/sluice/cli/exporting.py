"""Exported YAML byte for byte as flux prints it: a go-yaml v2 emitter.

``flux create ... --export`` marshals Go objects with ``sigs.k8s.io/yaml``:
the object goes to JSON, the JSON is read back into generic maps and written
by go-yaml v2. So the bytes depend on go-yaml v2's rules, which PyYAML does
not share:

* map keys sorted by go-yaml's "natural" order (digit runs compared as
  numbers, non-letters before letters);
* sequences inside mappings not indented (``- kind: X`` under ``spec:``);
* a string that would read back as another type is double-quoted (``"on"``,
  ``"1.0"``, ``"2024-01-02"``, ``""``), one that cannot be a plain scalar is
  single-quoted (``'*'``, ``'- x'``, ``'a: b'``), a string with a line break
  is a literal block (``|``, ``|-``, ``|+``) unless that is impossible;
* plain and quoted scalars are folded at spaces once a line passes 80
  columns, continuation lines indented two more than the key;
* empty maps and lists in flow style (``{}``, ``[]``).

Only the data shapes JSON can carry are handled: dict with str keys, list,
str, bool, int, float, None.

On top of the emitter sit flux's three ways of printing an exported object:
typed Flux objects (``export_object``: ``---``, the YAML trimmed), Secrets
from ``create secret`` (``export_secret``: untrimmed, so a blank line
follows) and tenant objects (``export_tenant_object``). Each drops
``creationTimestamp: null`` and ``status: {}`` by text replacement, exactly
as flux does, first occurrence only.
"""

from __future__ import annotations

import decimal
import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dump", "export_object", "export_secret", "export_tenant_object", "go_yaml_key_less"]

_BEST_INDENT = 2
_BEST_WIDTH = 80


# --- key order -------------------------------------------------------------

def go_yaml_key_less(a: str, b: str) -> bool:
    """go-yaml v2's ``keyList.Less`` for two string keys."""
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdecimal():
            an = an * 10 + ord(a[ai]) - 48
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdecimal():
            bn = bn * 10 + ord(b[bi]) - 48
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _key_cmp(a: str, b: str) -> int:
    if go_yaml_key_less(a, b):
        return -1
    if go_yaml_key_less(b, a):
        return 1
    return 0


_key_order = functools.cmp_to_key(_key_cmp)


# --- how go-yaml v2 resolves a plain scalar ----------------------------------

_YAML_STYLE_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_BASE60_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_GO_INT = re.compile(r"^[+-]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$")
_GO_UINT = re.compile(r"^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$")
_DOT_FLOAT = re.compile(r"^\.[0-9]+([eE][-+]?[0-9]+)?$")
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?"
    r"(?:[ \t]*(?:Z|[+-]\d{1,2}(?::\d{2})?))?)?$"
)
_RESOLVE_MAP = frozenset({
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    "", "~", "null", "Null", "NULL",
    ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
})


def _go_int_in_range(text: str, signed: bool) -> bool:
    neg = text.startswith("-")
    body = text.lstrip("+-")
    low = body.lower()
    if low.startswith("0x"):
        value = int(body[2:], 16)
    elif low.startswith("0b"):
        value = int(body[2:], 2)
    elif low.startswith("0o"):
        value = int(body[2:], 8)
    elif len(body) > 1 and body.startswith("0"):
        value = int(body[1:], 8)
    else:
        value = int(body)
    if signed:
        return value <= (1 << 63) if neg else value < (1 << 63)
    return value < (1 << 64)


def _resolves_to_non_string(s: str) -> bool:
    """True when go-yaml v2 would read ``s`` unquoted as bool/int/float/null/time."""
    if s in _RESOLVE_MAP:
        return True
    first = s[0]
    if first == ".":
        return bool(_DOT_FLOAT.match(s))
    if first not in "+-0123456789":
        return False
    if _is_timestamp(s):
        return True
    plain = s.replace("_", "")
    if _GO_INT.match(plain) and _go_int_in_range(plain, signed=True):
        return True
    if _GO_UINT.match(plain) and _go_int_in_range(plain, signed=False):
        return True
    if _YAML_STYLE_FLOAT.match(plain):
        return True
    if plain.startswith("-0b") and re.match(r"^-0b[01]+$", plain):
        return int(plain[3:], 2) <= (1 << 63)
    return False


def _is_timestamp(s: str) -> bool:
    """go-yaml v2 ``parseTimestamp``: the date/time layouts it tries, with range checks."""
    m = _TIMESTAMP.match(s)
    if not m:
        return False
    month, day = int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    if m.group(4) is not None:
        return int(m.group(4)) < 24 and int(m.group(5)) < 60 and int(m.group(6)) < 60
    return True


def _plain_safe(s: str) -> bool:
    """go-yaml v2 ``encoder.stringv``: may the string be written without quotes?"""
    return not _resolves_to_non_string(s) and not _BASE60_FLOAT.match(s)


# --- character classes (libyaml, by code point) ---------------------------

def _is_printable(c: str) -> bool:
    o = ord(c)
    return (o == 0x0A or 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF
            or (0xE000 <= o <= 0xFFFD and o != 0xFEFF))


def _is_break(c: str) -> bool:
    return c in "\r\n\x85\u2028\u2029"


def _is_blank(c: str) -> bool:
    return c in " \t"


class _Analysis:
    __slots__ = ("block_allowed", "block_plain_allowed", "multiline", "single_quoted_allowed")

    def __init__(self, value: str) -> None:
        if not value:
            self.multiline = False
            self.block_plain_allowed = True
            self.single_quoted_allowed = True
            self.block_allowed = False
            return
        block_indicators = flow_indicators = line_breaks = special = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = False
        previous_space = previous_break = False
        if value.startswith("---") or value.startswith("..."):
            block_indicators = flow_indicators = True
        preceded_by_whitespace = True
        n = len(value)
        for i, c in enumerate(value):
            followed_by_whitespace = i + 1 >= n or _is_blank(value[i + 1])
            if i == 0:
                if c in "#,[]{}&*!|>'\"%@`":
                    flow_indicators = block_indicators = True
                elif c in "?:":
                    flow_indicators = True
                    if followed_by_whitespace:
                        block_indicators = True
                elif c == "-" and followed_by_whitespace:
                    flow_indicators = block_indicators = True
            else:
                if c in ",?[]{}":
                    flow_indicators = True
                elif c == ":":
                    flow_indicators = True
                    if followed_by_whitespace:
                        block_indicators = True
                elif c == "#" and preceded_by_whitespace:
                    flow_indicators = block_indicators = True
            if not _is_printable(c):
                special = True
            if c == " ":
                if i == 0:
                    leading_space = True
                if i == n - 1:
                    trailing_space = True
                if previous_break:
                    break_space = True
                previous_space, previous_break = True, False
            elif _is_break(c):
                line_breaks = True
                if i == 0:
                    leading_break = True
                if i == n - 1:
                    trailing_break = True
                if previous_space:
                    space_break = True
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_whitespace = _is_blank(c) or _is_break(c)
        self.multiline = line_breaks
        self.block_plain_allowed = True
        self.single_quoted_allowed = True
        self.block_allowed = True
        if leading_space or leading_break or trailing_space or trailing_break:
            self.block_plain_allowed = False
        if trailing_space:
            self.block_allowed = False
        if break_space:
            self.block_plain_allowed = False
            self.single_quoted_allowed = False
        if space_break or special:
            self.block_plain_allowed = False
            self.single_quoted_allowed = False
            self.block_allowed = False
        if line_breaks or block_indicators:
            self.block_plain_allowed = False
        del flow_indicators  # only matters inside flow collections, which we never emit


# --- the emitter -------------------------------------------------------------

def _format_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, 64)`` with YAML's inf/nan names."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    # repr() gives the shortest digits that round-trip, as Go's shortest mode does.
    _sign, digit_tuple, exponent = decimal.Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    point = len(digit_tuple) + exponent  # decimal point position relative to digits
    exp = point - 1
    prefix = "-" if value < 0 else ""
    # Shortest %g switches to exponent form below 1e-4 and from 1e6 (eprec 6).
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _json_number(value: float) -> int | float:
    """A float after Go's JSON round trip: integral values below 2^63 come back as ints."""
    if math.isfinite(value) and value == int(value) and abs(value) < 2**63:
        return int(value)
    return value


class _Emitter:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.whitespace = True
        self.indention = True
        self.open_ended = False

    # primitives
    def put(self, text: str) -> None:
        self.out.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.out.append("\n")
        self.column = 0

    def write_indent(self, indent: int) -> None:
        indent = max(indent, 0)
        if not self.indention or self.column > indent or (
                self.column == indent and not self.whitespace):
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = True
        self.indention = True

    def write_indicator(self, text: str, need_whitespace: bool, is_whitespace: bool,
                        is_indention: bool) -> None:
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    # nodes
    def node(self, value: Any, indent: int, in_sequence: bool, in_mapping_value: bool) -> None:
        """Emit a value; ``indent`` is the current collection's indent."""
        if isinstance(value, Mapping) and value:
            self.block_mapping(value, indent + _BEST_INDENT if indent >= 0 else 0)
        elif isinstance(value, list | tuple) and value:
            indentless = in_mapping_value and not self.indention
            seq_indent = indent if indentless else (indent + _BEST_INDENT if indent >= 0 else 0)
            self.block_sequence(value, seq_indent)
        elif isinstance(value, Mapping):
            self.write_indicator("{", True, True, False)
            self.write_indicator("}", False, False, False)
        elif isinstance(value, list | tuple):
            self.write_indicator("[", True, True, False)
            self.write_indicator("]", False, False, False)
        else:
            scalar_indent = indent + _BEST_INDENT if indent >= 0 else _BEST_INDENT
            self.scalar(value, scalar_indent, simple_key=False)

    def block_mapping(self, value: Mapping[str, Any], indent: int) -> None:
        for key in sorted(value, key=_key_order):
            self.write_indent(indent)
            self.scalar(key, indent + _BEST_INDENT, simple_key=True)
            self.write_indicator(":", False, False, False)
            self.node(value[key], indent, in_sequence=False, in_mapping_value=True)

    def block_sequence(self, value: Sequence[Any], indent: int) -> None:
        for item in value:
            self.write_indent(indent)
            self.write_indicator("-", True, False, True)
            self.node(item, indent, in_sequence=True, in_mapping_value=False)

    def scalar(self, value: Any, indent: int, simple_key: bool) -> None:
        if value is None:
            self.plain("null", indent, allow_breaks=not simple_key)
        elif value is True:
            self.plain("true", indent, allow_breaks=not simple_key)
        elif value is False:
            self.plain("false", indent, allow_breaks=not simple_key)
        elif isinstance(value, int):
            self.plain(str(value), indent, allow_breaks=not simple_key)
        elif isinstance(value, float):
            number = _json_number(value)
            text = str(number) if isinstance(number, int) else _format_float(number)
            self.plain(text, indent, allow_breaks=not simple_key)
        elif isinstance(value, str):
            self.string(value, indent, simple_key)
        else:
            raise TypeError(f"cannot emit {type(value).__name__} as YAML")

    def string(self, value: str, indent: int, simple_key: bool) -> None:
        if "\n" in value:
            style = "literal"
        elif _plain_safe(value):
            style = "plain"
        else:
            style = "double"
        analysis = _Analysis(value)
        if simple_key and analysis.multiline:
            style = "double"
        if style == "plain" and not analysis.block_plain_allowed:
            style = "single"
        if style == "single" and not analysis.single_quoted_allowed:
            style = "double"
        if style == "literal" and (not analysis.block_allowed or simple_key):
            style = "double"
        allow_breaks = not simple_key
        if style == "plain":
            self.plain(value, indent, allow_breaks)
        elif style == "single":
            self.single_quoted(value, indent, allow_breaks)
        elif style == "double":
            self.double_quoted(value, indent, allow_breaks)
        else:
            self.literal(value, indent)

    def plain(self, value: str, indent: int, allow_breaks: bool) -> None:
        if not self.whitespace:
            self.put(" ")
        spaces = False
        n = len(value)
        i = 0
        while i < n:
            c = value[i]
            if c == " ":
                next_is_space = i + 1 < n and value[i + 1] == " "
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and not next_is_space:
                    self.write_indent(indent)
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                self.indention = False
                spaces = False
            i += 1
        self.whitespace = False
        self.indention = False

    def single_quoted(self, value: str, indent: int, allow_breaks: bool) -> None:
        self.write_indicator("'", True, False, False)
        spaces = False
        n = len(value)
        for i, c in enumerate(value):
            if c == " ":
                next_is_space = i + 1 < n and value[i + 1] == " "
                if (allow_breaks and not spaces and self.column > _BEST_WIDTH and 0 < i < n - 1
                        and not next_is_space):
                    self.write_indent(indent)
                else:
                    self.put(c)
                spaces = True
            else:
                if c == "'":
                    self.put("'")
                self.put(c)
                self.indention = False
                spaces = False
        self.write_indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    def double_quoted(self, value: str, indent: int, allow_breaks: bool) -> None:
        self.write_indicator('"', True, False, False)
        spaces = False
        n = len(value)
        i = 0
        while i < n:
            c = value[i]
            o = ord(c)
            if not _is_printable(c) or o == 0xFEFF or _is_break(c) or c in '"\\':
                self.put("\\" + _escape(o))
                spaces = False
            elif c == " ":
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and i != 0 and i != n - 1:
                    self.write_indent(indent)
                    if i + 1 < n and value[i + 1] == " ":
                        self.put("\\")
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                spaces = False
            i += 1
        self.write_indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def literal(self, value: str, indent: int) -> None:
        self.write_indicator("|", True, False, False)
        if value[0] == " " or _is_break(value[0]):
            self.write_indicator(str(_BEST_INDENT), False, False, False)
        self.open_ended = False
        chomp = ""
        if not _is_break(value[-1]):
            chomp = "-"
        elif len(value) == 1 or _is_break(value[-2]):
            chomp = "+"
            self.open_ended = True
        if chomp:
            self.write_indicator(chomp, False, False, False)
        self.put_break()
        self.indention = True
        self.whitespace = True
        breaks = True
        for c in value:
            if _is_break(c):
                self.out.append("\n" if c in "\r\n" else c)
                self.column = 0
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent(indent)
                self.put(c)
                self.indention = False
                breaks = False


def _escape(code: int) -> str:
    simple = {0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f",
              0x0D: "r", 0x1B: "e", 0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_",
              0x2028: "L", 0x2029: "P"}
    if code in simple:
        return simple[code]
    if code <= 0xFF:
        return f"x{code:02X}"
    if code <= 0xFFFF:
        return f"u{code:04X}"
    return f"U{code:08X}"


def dump(value: Any) -> str:
    """``value`` as go-yaml v2 (via sigs.k8s.io/yaml) would write it, ending in a newline."""
    emitter = _Emitter()
    emitter.node(value, -1, in_sequence=False, in_mapping_value=False)
    emitter.write_indent(0)
    if emitter.open_ended:
        # A keep-chomped block scalar (|+) anywhere leaves the stream open-ended.
        emitter.write_indicator("...", True, False, False)
        emitter.write_indent(0)
    return "".join(emitter.out)


# Go's bytes.TrimSpace trims Unicode white space (unicode.IsSpace).
_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _drop_empty_metadata(text: str) -> str:
    # flux's resourceToString: plain text replacement, first occurrence only.
    text = text.replace("  creationTimestamp: null\n", "", 1)
    return text.replace("status: {}\n", "", 1)


def export_object(obj: Mapping[str, Any]) -> str:
    """What ``printExport`` prints for a typed Flux object: ``---``, the YAML, trimmed."""
    return "---\n" + _drop_empty_metadata(dump(obj)).strip(_GO_SPACE) + "\n"


def export_secret(obj: Mapping[str, Any]) -> str:
    """What ``create secret ... --export`` prints: untrimmed, so a blank line follows."""
    return "---\n" + _drop_empty_metadata(dump(obj)) + "\n"


def export_tenant_object(obj: Mapping[str, Any]) -> str:
    """A tenant Namespace/ServiceAccount/RoleBinding: ``spec: {}`` goes too."""
    text = dump(obj).replace("spec: {}\n", "", 1)
    return "---\n" + _drop_empty_metadata(text).strip(_GO_SPACE) + "\n"
