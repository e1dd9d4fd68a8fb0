"""Printing objects exactly as ``kubectl kustomize`` prints them.

kustomize prints each object by encoding it to JSON and converting that JSON
to YAML with go-yaml v2 (sigs.k8s.io/yaml). So the output is not the input's
layout: keys are sorted with go-yaml v2's "natural" order (``a9`` before
``a10``, letters after other characters), comments are gone, floats that hold
whole numbers print as integers, long plain strings fold at column 80, and a
string is quoted only when go-yaml v2 would otherwise read it back as
something else (``"yes"``, ``"0777"``, ``"2020-01-01"``) or when libyaml's
emitter rules forbid the plain style. This module reimplements that encoder
for JSON-like data; ``dump_documents`` joins objects with ``---`` lines.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import cmp_to_key
from typing import Any, ClassVar

from .decode import go_parse_int

_BEST_WIDTH = 80
_BEST_INDENT = 2

# --- how go-yaml v2 would read a plain scalar back --------------------------

_V2_NON_STRINGS = {
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
    "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF",
    "", "~", "null", "Null", "NULL",
    ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
}  # fmt: skip
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_BASE60_RE = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_TIMESTAMP_RES = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
    ),
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?$"),
)


def _is_timestamp(text: str) -> bool:
    for pattern in _TIMESTAMP_RES:
        m = pattern.match(text)
        if not m:
            continue
        month, day = int(m.group(2)), int(m.group(3))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            continue
        if m.lastindex and m.lastindex >= 6:
            if int(m.group(4)) > 23 or int(m.group(5)) > 59 or int(m.group(6)) > 59:
                continue
        return True
    return False


def _v2_reads_as_string(text: str) -> bool:
    """True when go-yaml v2 would resolve this plain scalar to a string."""
    if text in _V2_NON_STRINGS:
        return False
    head = text[0]
    if head == ".":
        try:
            float(text)
        except ValueError:
            return True
        return False
    if head in "+-0123456789":
        if _is_timestamp(text):
            return False
        plain = text.replace("_", "")
        if go_parse_int(plain) is not None or go_parse_int(plain, unsigned=True) is not None:
            return False
        if _FLOAT_RE.match(plain) and not math.isinf(float(plain)):
            return False  # Go's ParseFloat fails on overflow: such text stays a string
        if plain.startswith(("0b", "-0b")):
            digits = plain.split("b", 1)[1]
            if digits and all(c in "01" for c in digits):
                return False
    return not _BASE60_RE.match(text)


# --- numbers: Go's JSON encoding, read back by go-yaml v2 ---------------------


def _go_float_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits and decimal-point position (Go's ``digs.d``/``digs.dp``)."""
    _sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).lstrip("0") or "0"
    assert isinstance(exponent, int)
    point = len("".join(map(str, digits)).lstrip("0")) + exponent
    stripped = text.rstrip("0") or "0"
    return stripped, point


def _format_e(digits: str, point: int, negative: bool) -> str:
    exp = point - 1 if digits != "0" else 0
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return ("-" if negative else "") + f"{mantissa}e{sign}{abs(exp):02d}"


def _format_f(digits: str, point: int, negative: bool) -> str:
    if digits == "0":
        body = "0"
    elif point <= 0:
        body = "0." + "0" * (-point) + digits
    elif point >= len(digits):
        body = digits + "0" * (point - len(digits))
    else:
        body = digits[:point] + "." + digits[point:]
    return ("-" if negative else "") + body


def format_float(value: float) -> str:
    """A float64 as Go's JSON encoder writes it, then as go-yaml v2 re-prints it."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {value}")
    negative = math.copysign(1.0, value) < 0 and value != 0
    digits, point = _go_float_digits(abs(value))
    absolute = abs(value)
    if absolute != 0 and (absolute < 1e-6 or absolute >= 1e21):
        json_text = _format_e(digits, point, negative)
        json_text = re.sub(r"e([+-])0(\d)$", r"e\1\2", json_text)
    else:
        json_text = _format_f(digits, point, negative)
    as_int = go_parse_int(json_text)
    if as_int is None:
        as_int = go_parse_int(json_text, unsigned=True)
    if as_int is not None:
        return str(as_int)
    # go-yaml v2 reads a float64 and prints it with strconv 'g', shortest.
    reread = float(json_text)
    digits, point = _go_float_digits(abs(reread))
    exp = point - 1
    if digits != "0" and (exp < -4 or exp >= 6):
        return _format_e(digits, point, reread < 0)
    return _format_f(digits, point, reread < 0)


# --- key order: go-yaml v2's keyList.Less for string keys ---------------------


def _key_less(a: str, b: str) -> bool:
    # sigs.k8s.io/yaml's copy of go-yaml v2 carries the later fix that, right
    # after a digit, puts a letter before a non-letter ("1e3" before "1_0").
    digits = False
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            digits = ca.isdigit()
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _key_cmp(a: str, b: str) -> int:
    if _key_less(a, b):
        return -1
    if _key_less(b, a):
        return 1
    return 0


def sorted_keys(mapping: dict[str, Any]) -> list[str]:
    """Keys in the order go-yaml v2 writes them."""
    return sorted(mapping, key=cmp_to_key(_key_cmp))


# --- character classes of libyaml's emitter ----------------------------------


def _printable(c: str) -> bool:
    o = ord(c)
    return (
        o == 0x0A
        or 0x20 <= o <= 0x7E
        or 0xA0 <= o <= 0xD7FF
        or (0xE000 <= o <= 0xFFFD and o != 0xFEFF)
    )


def _is_break(c: str) -> bool:
    return c in "\r\n\x85\u2028\u2029"


def _is_blankz(c: str) -> bool:
    return c in " \t\0" or _is_break(c)


class _Analysis:
    __slots__ = ("block", "block_plain", "multiline", "single")

    def __init__(self, value: str) -> None:
        if not value:
            self.multiline = False
            self.block_plain = True
            self.single = True
            self.block = False
            return
        block_ind = value.startswith(("---", "..."))
        line_breaks = special = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = previous_space = previous_break = False
        preceded_ws = True
        n = len(value)
        for i, c in enumerate(value):
            followed_ws = i + 1 >= n or value[i + 1] in " \t" or _is_break(value[i + 1])
            if i == 0:
                if c in "#,[]{}&*!|>'\"%@`":
                    block_ind = True
                elif c in "?:" or c == "-":
                    if followed_ws:
                        block_ind = True
            else:
                if c == ":" and followed_ws:
                    block_ind = True
                elif c == "#" and preceded_ws:
                    block_ind = True
            if not _printable(c):
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
            preceded_ws = _is_blankz(c)
        self.multiline = line_breaks
        self.block_plain = self.single = self.block = True
        if leading_space or leading_break or trailing_space or trailing_break:
            self.block_plain = False
        if trailing_space:
            self.block = False
        if break_space:
            self.block_plain = self.single = False
        if space_break or special:
            self.block_plain = self.single = self.block = False
        if line_breaks:
            self.block_plain = False
        if block_ind:
            self.block_plain = False


class _Emitter:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.indent = -1
        self.indents: list[int] = []
        self.whitespace = True
        self.indention = True

    # low-level writers
    def put(self, text: str) -> None:
        self.out.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.out.append("\n")
        self.column = 0

    def write_indent(self) -> None:
        indent = max(self.indent, 0)
        if (
            not self.indention
            or self.column > indent
            or (self.column == indent and not self.whitespace)
        ):
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = True
        self.indention = True

    def indicator(self, text: str, need_ws: bool, is_ws: bool, is_indention: bool) -> None:
        if need_ws and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = is_ws
        self.indention = self.indention and is_indention

    def increase_indent(self, flow: bool, indentless: bool) -> None:
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = _BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += _BEST_INDENT

    # nodes
    def node(self, value: Any, *, mapping_ctx: bool = False, simple_key: bool = False) -> None:
        if isinstance(value, dict):
            if not value:
                self.flow_empty("{", "}")
            else:
                self.block_mapping(value)
        elif isinstance(value, list):
            if not value:
                self.flow_empty("[", "]")
            else:
                self.block_sequence(value, mapping_ctx)
        else:
            self.scalar_value(value, simple_key)

    def flow_empty(self, start: str, end: str) -> None:
        self.indicator(start, True, True, False)
        self.indicator(end, False, False, False)

    def block_mapping(self, mapping: dict[str, Any]) -> None:
        self.increase_indent(False, False)
        for key in sorted_keys(mapping):
            self.write_indent()
            if len(key.encode()) <= 128 and not any(_is_break(c) for c in key):
                self.scalar_value(key, True)
                self.indicator(":", False, False, False)
            else:
                self.indicator("?", True, False, True)
                self.scalar_value(key, False)
                self.write_indent()
                self.indicator(":", True, False, True)
            self.node(mapping[key], mapping_ctx=True)
        self.indent = self.indents.pop()

    def block_sequence(self, items: list[Any], mapping_ctx: bool) -> None:
        self.increase_indent(False, mapping_ctx and not self.indention)
        for item in items:
            self.write_indent()
            self.indicator("-", True, False, True)
            self.node(item)
        self.indent = self.indents.pop()

    def scalar_value(self, value: Any, simple_key: bool) -> None:
        if value is None:
            self.scalar("null", "plain", simple_key)
        elif value is True or value is False:
            self.scalar("true" if value else "false", "plain", simple_key)
        elif isinstance(value, int):
            self.scalar(str(value), "plain", simple_key)
        elif isinstance(value, float):
            self.scalar(format_float(value), "plain", simple_key)
        else:
            text = str(value)
            if "\n" in text:
                style = "literal"
            elif _v2_reads_as_string(text):
                style = "plain"
            else:
                style = "double"
            self.scalar(text, style, simple_key)

    def scalar(self, text: str, style: str, simple_key: bool) -> None:
        info = _Analysis(text)
        if simple_key and info.multiline:
            style = "double"
        if style == "plain":
            if not info.block_plain or (not text and simple_key):
                style = "single"
        if style == "single" and not info.single:
            style = "double"
        if style == "literal" and (not info.block or simple_key):
            style = "double"
        self.increase_indent(True, False)
        allow_breaks = not simple_key
        if style == "plain":
            self.write_plain(text, allow_breaks)
        elif style == "single":
            self.write_single(text, allow_breaks)
        elif style == "double":
            self.write_double(text, allow_breaks)
        else:
            self.write_literal(text)
        self.indent = self.indents.pop()

    def write_plain(self, text: str, allow_breaks: bool) -> None:
        if not self.whitespace:
            self.put(" ")
        spaces = breaks = False
        n = len(text)
        for i, c in enumerate(text):
            if c == " ":
                nxt = text[i + 1] if i + 1 < n else ""
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and nxt != " ":
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            elif _is_break(c):
                if not breaks and c == "\n":
                    self.put_break()
                self.put_break()
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(c)
                self.indention = False
                spaces = breaks = False
        self.whitespace = False
        self.indention = False

    def write_single(self, text: str, allow_breaks: bool) -> None:
        self.indicator("'", True, False, False)
        spaces = breaks = False
        size = len(text.encode())
        offset = 0
        for i, c in enumerate(text):
            width = len(c.encode())
            if c == " ":
                nxt = text[i + 1] if i + 1 < len(text) else ""
                if (
                    allow_breaks
                    and not spaces
                    and self.column > _BEST_WIDTH
                    and 0 < offset < size - 1
                    and nxt != " "
                ):
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            elif _is_break(c):
                if not breaks and c == "\n":
                    self.put_break()
                self.put_break()
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put("''" if c == "'" else c)
                self.indention = False
                spaces = breaks = False
            offset += width
        self.indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    _ESCAPES: ClassVar[dict[str, str]] = {
        "\0": "0", "\x07": "a", "\x08": "b", "\t": "t", "\n": "n", "\x0b": "v",
        "\x0c": "f", "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N",
        "\xa0": "_", "\u2028": "L", "\u2029": "P",
    }  # fmt: skip

    def write_double(self, text: str, allow_breaks: bool) -> None:
        self.indicator('"', True, False, False)
        spaces = False
        size = len(text.encode())
        offset = 0
        n = len(text)
        for i, c in enumerate(text):
            width = len(c.encode())
            if not _printable(c) or c == "\ufeff" or _is_break(c) or c in '"\\':
                code = self._ESCAPES.get(c)
                if code is None:
                    o = ord(c)
                    if o <= 0xFF:
                        code = f"x{o:02X}"
                    elif o <= 0xFFFF:
                        code = f"u{o:04X}"
                    else:
                        code = f"U{o:08X}"
                self.put("\\" + code)
                spaces = False
            elif c == " ":
                if (
                    allow_breaks
                    and not spaces
                    and self.column > _BEST_WIDTH
                    and 0 < offset < size - 1
                ):
                    self.write_indent()
                    if i + 1 < n and text[i + 1] == " ":
                        self.put("\\")
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                spaces = False
            offset += width
        self.indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def write_literal(self, text: str) -> None:
        self.indicator("|", True, False, False)
        if text[:1] == " " or _is_break(text[:1] or "x"):
            self.indicator(str(_BEST_INDENT), False, False, False)
        if not _is_break(text[-1]):
            self.indicator("-", False, False, False)
        elif len(text) == 1 or _is_break(text[-2]):
            self.indicator("+", False, False, False)
        self.put_break()
        self.indention = True
        self.whitespace = True
        breaks = True
        for c in text:
            if _is_break(c):
                self.put_break()
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(c)
                self.indention = False
                breaks = False


def dump_object(obj: Any) -> str:
    """One document as go-yaml v2 marshals it (always ends with a newline)."""
    emitter = _Emitter()
    emitter.node(obj)
    emitter.write_indent()
    text = "".join(emitter.out)
    return text if text.endswith("\n") else text + "\n"


def dump_documents(objects: list[dict[str, Any]]) -> str:
    """Objects joined with ``---`` lines, as ``kubectl kustomize`` prints them."""
    return "---\n".join(dump_object(obj) for obj in objects)
