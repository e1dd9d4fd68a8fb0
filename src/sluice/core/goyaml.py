"""YAML written byte for byte as Go's go-yaml v2 writes it.

Flux and kustomize both print objects through ``sigs.k8s.io/yaml``: the
object is encoded as JSON, the JSON is read back into generic maps by go-yaml
v2, and go-yaml v2's port of libyaml's emitter writes them. Users diff
``sluice create ... --export`` against ``flux create ... --export``, and our
kustomize builds against ``kubectl kustomize``, byte for byte, so both print
through this one emitter, which follows go-yaml v2's rules where PyYAML's
differ:

* map keys in go-yaml's "natural" order: runs of digits compare as numbers
  (Go int64 arithmetic, overflow included), other characters before letters;
* a sequence that is a mapping value is not indented (``- kind: X`` under
  ``spec:``);
* a string offered plain (see ``sluice.core.goscalars``) is single-quoted
  where libyaml may not write it plain (``'*'``, ``'- x'``, ``'a: b'``), and
  double-quoted with escapes where single quotes cannot carry it either; a
  literal block (``|``, ``|-``, ``|+``) falls back to double quotes likewise;
* plain and quoted scalars fold at a space once the line passes column 80;
* a key longer than 128 bytes, or holding a line break, is written
  ``? key`` / ``: value``;
* empty maps and lists in flow style (``{}``, ``[]``).

Only the shapes JSON carries are handled: mappings with str keys, lists (and
tuples), str, bool, int, float, None. The callers add their framing:
``sluice.cli.exporting`` flux's ``---`` header and trimming,
``sluice.kustomize.emit`` kustomize's document separators.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.core.goscalars import read_back, scalar_text

__all__ = ["dump"]

_BEST_INDENT = 2
_BEST_WIDTH = 80
_SIMPLE_KEY_BYTES = 128
_INT64 = 1 << 63
_UINT64 = 1 << 64


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
        elif isinstance(value, str):
            # Values go through the JSON round trip's NEL folding; keys need
            # not: a key holding a raw NEL spans lines and go-yaml refuses it.
            self.scalar(read_back(value), simple_key=False)
        else:
            self.scalar(value, simple_key=False)

    def block_mapping(self, mapping: Mapping[str, Any]) -> None:
        self.increase_indent(False, False)
        for key in sorted(mapping, key=_key_order):
            self.write_indent()
            if len(key.encode()) <= _SIMPLE_KEY_BYTES and not any(_is_break(c) for c in key):
                self.scalar(key, simple_key=True)
                self.indicator(":", False, False, False)
            else:
                self.indicator("?", True, False, True)
                self.scalar(key, simple_key=False)
                self.write_indent()
                self.indicator(":", True, False, True)
            self.node(mapping[key], mapping_context=True)
        self.indent = self.indents.pop()

    def block_sequence(self, items: Sequence[Any], mapping_context: bool) -> None:
        self.increase_indent(False, mapping_context and not self.indention)
        for item in items:
            self.write_indent()
            self.indicator("-", True, False, True)
            self.node(item)
        self.indent = self.indents.pop()

    def scalar(self, value: Any, simple_key: bool) -> None:
        text, style = scalar_text(value)
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
            self.write_plain(text, allow_breaks=not simple_key, single_quoted=True)
        elif style == "double":
            self.write_double(text, allow_breaks=not simple_key)
        else:
            self.write_literal(text)
        self.indent = self.indents.pop()

    def write_plain(self, text: str, allow_breaks: bool, single_quoted: bool = False) -> None:
        """A plain or single-quoted scalar: no escapes, so they share one writer."""
        if single_quoted:
            self.indicator("'", True, False, False)
        elif not self.whitespace:
            self.put(" ")
        spaces = breaks = False
        n = len(text)
        for i, c in enumerate(text):
            if c == " ":
                # libyaml's single-quoted writer never folds at the first or
                # last character (it compares byte offsets; for a one-byte
                # space that reads the same in characters).
                if (allow_breaks and not spaces and self.column > _BEST_WIDTH
                        and text[i + 1:i + 2] != " " and (not single_quoted or 0 < i < n - 1)):
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
                self.put("''" if single_quoted and c == "'" else c)
                self.indention = False
                spaces = breaks = False
        if single_quoted:
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
