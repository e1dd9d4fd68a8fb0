"""YAML written byte for byte as Go's go-yaml v2 writes it.

Flux and kustomize both print objects through ``sigs.k8s.io/yaml``: the
object is encoded as JSON, the JSON is read back into generic maps by go-yaml
v2, and go-yaml v2's port of libyaml's emitter writes them. Users diff
``sluice create ... --export`` against ``flux create ... --export``, and our
kustomize builds against ``kubectl kustomize``, byte for byte, so both need
go-yaml v2's exact rules, which PyYAML does not share:

* map keys in go-yaml's "natural" order: runs of digits compare as numbers
  (Go int64 arithmetic, overflow included), other characters before letters;
* a sequence that is a mapping value is not indented (``- kind: X`` under
  ``spec:``);
* a string that go-yaml would read back as something else is double-quoted
  (``"on"``, ``"1.0"``, ``"2024-01-02"``, ``""``), one that libyaml may not
  write plain is single-quoted (``'*'``, ``'- x'``, ``'a: b'``), one holding a
  line feed is a literal block (``|``, ``|-``, ``|+``) unless that is
  impossible;
* plain and quoted scalars fold at a space once the line passes column 80;
* a key longer than 128 bytes, or holding a line break, is written
  ``? key`` / ``: value``;
* empty maps and lists in flow style (``{}``, ``[]``);
* floats as Go's JSON encoder writes them and go-yaml then reads them back:
  ``2.0`` is ``2``, ``1e19`` is ``10000000000000000000``, ``1.5e20`` is
  ``1.5e+20``; NaN and infinities are refused, as Go's JSON encoder refuses.

Only the shapes JSON carries are handled: mappings with str keys, lists (and
tuples), str, bool, int, float, None. The callers add their framing:
``sluice.cli.exporting`` flux's ``---`` header and trimming,
``sluice.kustomize.emit`` kustomize's document separators.
"""

from __future__ import annotations

import calendar
import decimal
import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dump", "go_parse_int"]

_BEST_INDENT = 2
_BEST_WIDTH = 80
_SIMPLE_KEY_BYTES = 128
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


def _read_back(text: str) -> str:
    """A string as it comes out of sigs.k8s.io/yaml's JSON-to-YAML round trip."""
    if "\x85" not in text:
        return text
    return _RAW_NEL_RUN.sub(lambda m: "\n" * (m[0].count("\x85") - 1) or " ", text)


def _scalar_text(value: Any) -> tuple[str, str]:
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
        value = _read_back(value)
        if "\n" in value:
            return value, "literal"
        return value, "plain" if _plain_requested(value) else "double"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


# --- key order: go-yaml v2's keyList.Less for string keys -------------------


def _key_less(a: str, b: str) -> bool:
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return bl
        # Neither is a letter: compare the digit runs starting here as numbers
        # (unicode.IsDigit, value rune - '0', so non-ASCII digits count oddly).
        an = bn = 0
        if ca == "0" or cb == "0":
            # A zero inside a longer number ("10" vs "1a") is not a leading zero.
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
        # Go accumulates in an int64 and wraps around on overflow.
        an = (an + _INT64) % _UINT64 - _INT64
        bn = (bn + _INT64) % _UINT64 - _INT64
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


_key_order = functools.cmp_to_key(_key_cmp)


def _item_order(item: tuple[str, Any]) -> Any:
    return _key_order(item[0])


# --- libyaml's character classes and scalar analysis -------------------------


def _is_printable(c: str) -> bool:
    o = ord(c)
    return (
        o == 0x0A
        or 0x20 <= o <= 0x7E
        or 0xA0 <= o <= 0xD7FF
        or (0xE000 <= o <= 0xFFFD and o != 0xFEFF)
    )


def _is_break(c: str) -> bool:
    return c in "\r\n\x85\u2028\u2029"


def _is_blank(c: str) -> bool:
    return c in " \t"


class _Analysis:
    """libyaml's ``analyze_scalar``: which styles can carry this text in block context."""

    __slots__ = ("block", "block_plain", "multiline", "single_quoted")

    def __init__(self, value: str) -> None:
        self.multiline = False
        self.block_plain = self.single_quoted = True
        self.block = bool(value)
        if not value:
            return
        block_indicators = value.startswith(("---", "..."))
        line_breaks = special = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = previous_space = previous_break = False
        preceded_by_whitespace = True
        n = len(value)
        for i, c in enumerate(value):
            followed_by_whitespace = i + 1 >= n or _is_blank(value[i + 1])
            if i == 0:
                if c in "#,[]{}&*!|>'\"%@`" or (c in "?:-" and followed_by_whitespace):
                    block_indicators = True
            elif (c == ":" and followed_by_whitespace) or (c == "#" and preceded_by_whitespace):
                block_indicators = True
            if not _is_printable(c):
                special = True
            if c == " ":
                leading_space = leading_space or i == 0
                trailing_space = trailing_space or i == n - 1
                break_space = break_space or previous_break
                previous_space, previous_break = True, False
            elif _is_break(c):
                line_breaks = True
                leading_break = leading_break or i == 0
                trailing_break = trailing_break or i == n - 1
                space_break = space_break or previous_space
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_whitespace = _is_blank(c) or _is_break(c) or c == "\0"
        self.multiline = line_breaks
        if leading_space or leading_break or trailing_space or trailing_break:
            self.block_plain = False
        if trailing_space:
            self.block = False
        if break_space:
            self.block_plain = self.single_quoted = False
        if space_break or special:
            self.block_plain = self.single_quoted = self.block = False
        if line_breaks or block_indicators:
            self.block_plain = False


# --- the emitter ---------------------------------------------------------------

_ESCAPES = {
    "\0": "0", "\x07": "a", "\x08": "b", "\t": "t", "\n": "n", "\x0b": "v", "\x0c": "f",
    "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_",
    "\u2028": "L", "\u2029": "P",
}  # fmt: skip


def _escape(c: str) -> str:
    code = _ESCAPES.get(c)
    if code is not None:
        return "\\" + code
    o = ord(c)
    if o <= 0xFF:
        return f"\\x{o:02X}"
    if o <= 0xFFFF:
        return f"\\u{o:04X}"
    return f"\\U{o:08X}"


class _Emitter:
    """libyaml's block-style emitter state: column, indent stack, whitespace flags."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.indent = -1
        self.indents: list[int] = []
        self.whitespace = True
        self.indention = True
        self.open_ended = False

    # output primitives
    def put(self, text: str) -> None:
        self.out.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.out.append("\n")
        self.column = 0

    def write_break(self, c: str) -> None:
        # A line feed is written as the emitter's line break; the other break
        # characters (U+2028, U+2029 in practice) are copied as they are.
        if c == "\n":
            self.put_break()
        else:
            self.out.append(c)
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

    def indicator(self, text: str, need_whitespace: bool, is_whitespace: bool,
                  is_indention: bool) -> None:
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    def increase_indent(self, flow: bool, indentless: bool) -> None:
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = _BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += _BEST_INDENT

    # nodes
    def node(self, value: Any, mapping_context: bool = False) -> None:
        if isinstance(value, Mapping):
            if value:
                self.block_mapping(value)
            else:
                self.indicator("{", True, True, False)
                self.indicator("}", False, False, False)
        elif isinstance(value, list | tuple):
            if value:
                self.block_sequence(value, mapping_context)
            else:
                self.indicator("[", True, True, False)
                self.indicator("]", False, False, False)
        else:
            self.scalar(value, simple_key=False)

    def block_mapping(self, mapping: Mapping[str, Any]) -> None:
        self.increase_indent(False, False)
        items = sorted(((_read_back(k), v) for k, v in mapping.items()), key=_item_order)
        for key, value in items:
            self.write_indent()
            if len(key.encode()) <= _SIMPLE_KEY_BYTES and not any(_is_break(c) for c in key):
                self.scalar(key, simple_key=True)
                self.indicator(":", False, False, False)
            else:
                self.indicator("?", True, False, True)
                self.scalar(key, simple_key=False)
                self.write_indent()
                self.indicator(":", True, False, True)
            self.node(value, mapping_context=True)
        self.indent = self.indents.pop()

    def block_sequence(self, items: Sequence[Any], mapping_context: bool) -> None:
        self.increase_indent(False, mapping_context and not self.indention)
        for item in items:
            self.write_indent()
            self.indicator("-", True, False, True)
            self.node(item)
        self.indent = self.indents.pop()

    def scalar(self, value: Any, simple_key: bool) -> None:
        text, style = _scalar_text(value)
        info = _Analysis(text)
        if simple_key and info.multiline:
            style = "double"
        if style == "plain" and (not info.block_plain or (not text and simple_key)):
            style = "single"
        if style == "single" and not info.single_quoted:
            style = "double"
        if style == "literal" and (not info.block or simple_key):
            style = "double"
        self.increase_indent(True, False)
        if style == "plain":
            self.write_plain(text, allow_breaks=not simple_key)
        elif style == "single":
            self.write_single(text, allow_breaks=not simple_key)
        elif style == "double":
            self.write_double(text, allow_breaks=not simple_key)
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
                next_is_space = i + 1 < n and text[i + 1] == " "
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and not next_is_space:
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            elif _is_break(c):
                if not breaks and c == "\n":
                    self.put_break()
                self.write_break(c)
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
        n = len(text)
        for i, c in enumerate(text):
            if c == " ":
                # libyaml compares byte offsets with the byte length; for a
                # one-byte space "not first, not last" reads the same in chars.
                if (allow_breaks and not spaces and self.column > _BEST_WIDTH and 0 < i < n - 1
                        and text[i + 1] != " "):
                    self.write_indent()
                else:
                    self.put(c)
                spaces = True
            elif _is_break(c):
                if not breaks and c == "\n":
                    self.put_break()
                self.write_break(c)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put("''" if c == "'" else c)
                self.indention = False
                spaces = breaks = False
        self.indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    def write_double(self, text: str, allow_breaks: bool) -> None:
        self.indicator('"', True, False, False)
        # libyaml's BOM test looks at the start of the value whatever the
        # position, so a value that opens with U+FEFF is escaped throughout.
        escape_all = text.startswith("\ufeff")
        spaces = False
        n = len(text)
        for i, c in enumerate(text):
            if escape_all or not _is_printable(c) or _is_break(c) or c in '"\\':
                self.put(_escape(c))
                spaces = False
            elif c == " ":
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and 0 < i < n - 1:
                    self.write_indent()
                    if text[i + 1] == " ":
                        self.put("\\")  # a folded line may not start with a space
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                spaces = False
        self.indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def write_literal(self, text: str) -> None:
        self.indicator("|", True, False, False)
        if text[0] == " " or _is_break(text[0]):
            self.indicator(str(_BEST_INDENT), False, False, False)
        self.open_ended = False
        if not _is_break(text[-1]):
            self.indicator("-", False, False, False)
        elif len(text) == 1 or _is_break(text[-2]):
            self.indicator("+", False, False, False)
            self.open_ended = True
        self.put_break()
        self.indention = True
        self.whitespace = True
        breaks = True
        for c in text:
            if _is_break(c):
                self.write_break(c)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(c)
                self.indention = False
                breaks = False


def dump(value: Any, *, mark_open_end: bool = False) -> str:
    """``value`` as ``sigs.k8s.io/yaml`` marshals it.

    ``mark_open_end`` adds the ``...`` line libyaml writes after a stream left
    open-ended by a keep-chomped block (``|+``) that is the last block scalar
    written. go-yaml v2.4.0, which sigs.k8s.io/yaml vendors and kubectl prints
    with, clears that state before ending the stream and never writes it.
    """
    emitter = _Emitter()
    emitter.node(value)
    emitter.write_indent()
    if mark_open_end and emitter.open_ended:
        emitter.indicator("...", True, False, False)
        emitter.write_indent()
    return "".join(emitter.out)
