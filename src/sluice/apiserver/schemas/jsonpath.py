"""The Kubernetes JSONPath subset, as CRD printer columns and ``kubectl -o jsonpath`` read it.

A CRD's ``additionalPrinterColumns`` name their cells with JSONPath
expressions such as ``.spec.url``, ``.status.conditions[?(@.type=="Ready")].status``
or ``.spec.containers[*].image``. The embedded API server evaluates them when
it builds ``meta.k8s.io/v1`` Table responses (:mod:`sluice.apiserver.rest.tables`)
and checks that they parse when a CRD is created
(:func:`sluice.apiserver.schemas.crd_definition.validate_crd_definition`).

The dialect is the one client-go implements, not the JSONPath RFC:

- an optional ``{...}`` wrapper and an optional leading ``$``;
- ``.name`` (a dot inside a name is written ``\\.``), ``['name']``, ``["a","b"]``;
- ``.*`` and ``[*]``; ``..name`` (recursive descent);
- ``[0]``, ``[-1]``, ``[0,2]``, ``[1:3]``, ``[::2]``;
- filters ``[?(@.type=="Ready")]`` with ``== != < <= > >=``, or without an
  operator to keep elements where a path exists (``[?(@.ready)]``).

Kubernetes evaluates printer columns with missing keys allowed, so a path
that leads nowhere yields no result here rather than an error; only a
malformed expression raises :class:`ValueError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

__all__ = ["JSONPath", "evaluate", "first", "go_number_text", "parse", "to_text"]

# Characters that end a bare field name (client-go stops at the same ones).
_TERMINATORS = frozenset(" \t\n.[](),{}$@=!<>'\"")


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Recursive:
    pass


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True)
class _Indexes:
    items: tuple[int | _Slice, ...]


@dataclass(frozen=True)
class _Keys:
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _RelPath:
    steps: tuple[_Step, ...]


@dataclass(frozen=True)
class _Filter:
    left: _RelPath | _Literal
    op: str | None
    right: _RelPath | _Literal | None


_Step = _Field | _Wildcard | _Recursive | _Indexes | _Keys | _Filter


@dataclass(frozen=True)
class JSONPath:
    """A parsed expression; :meth:`evaluate` can be called any number of times."""

    text: str
    steps: tuple[_Step, ...]

    def evaluate(self, obj: Any) -> list[Any]:
        return _run(self.steps, [obj])


def parse(path: str) -> JSONPath:
    """Parse ``path``; raise :class:`ValueError` naming the fault if it is malformed."""
    return _parse_cached(path)


def evaluate(path: str, obj: Any) -> list[Any]:
    """Every value ``path`` selects in ``obj``, in document order (empty when none)."""
    return parse(path).evaluate(obj)


def first(path: str, obj: Any) -> Any | None:
    """The first value ``path`` selects in ``obj``, or None when it selects nothing."""
    results = evaluate(path, obj)
    return results[0] if results else None


def to_text(value: Any) -> str | None:
    """How ``kubectl -o jsonpath`` prints one result: scalars bare, objects and lists as JSON.

    None (JSON null) has no text: client-go refuses to print it, and a printer
    column shows an empty cell.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number_text(value)
    # Go's json.Marshal sorts map keys and writes no spaces.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def go_number_text(value: int | float) -> str:
    """A number as Go's ``%v`` prints it: ``60`` for 60.0, ``1e+21``, ``1.5e-07``."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    # repr() gives the shortest round-tripping digits; Go switches to an
    # exponent only below 1e-4 or from 1e21 on, later than Python does.
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    point = len(text) + exponent  # position of the decimal point in ``text``
    sci = point - 1
    if sci < -4 or sci >= 21:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mantissa}e{'-' if sci < 0 else '+'}{abs(sci):02d}"
    elif point <= 0:
        out = "0." + "0" * (-point) + text
    elif point >= len(text):
        out = text + "0" * (point - len(text))
    else:
        out = text[:point] + "." + text[point:]
    return ("-" if sign else "") + out


# --------------------------------------------------------------------------- parsing


@lru_cache(maxsize=512)
def _parse_cached(path: str) -> JSONPath:
    text = path.strip()
    if text.startswith("{"):
        if not text.endswith("}"):
            raise ValueError(f"invalid JSONPath {path!r}: unclosed action, missing '}}'")
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    if not text:
        raise ValueError(f"invalid JSONPath {path!r}: empty expression")
    if text[0] not in ".[":
        raise ValueError(f"invalid JSONPath {path!r}: must start with '.' or '['")
    parser = _Parser(text, path)
    steps = parser.steps(stop="")
    return JSONPath(path, tuple(steps))


class _Parser:
    def __init__(self, text: str, original: str) -> None:
        self.text = text
        self.pos = 0
        self.original = original

    def fail(self, why: str) -> ValueError:
        return ValueError(f"invalid JSONPath {self.original!r}: {why} at position {self.pos}")

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def steps(self, stop: str) -> list[_Step]:
        """Steps up to the end of the text, or up to a character in ``stop``."""
        out: list[_Step] = []
        while self.pos < len(self.text) and self.peek() not in stop:
            ch = self.peek()
            if ch == ".":
                self.pos += 1
                if self.peek() == ".":
                    self.pos += 1
                    out.append(_Recursive())
                    if self.peek() == "[":
                        continue
                if self.peek() == "*":
                    self.pos += 1
                    out.append(_Wildcard())
                elif self.peek() == "[":
                    continue
                elif self.peek() == "" or self.peek() in stop:
                    # A lone "." is the current object; ".." needs a name.
                    if out and isinstance(out[-1], _Recursive):
                        raise self.fail("'..' must be followed by a name")
                else:
                    out.append(_Field(self.name()))
            elif ch == "[":
                out.append(self.bracket())
            elif ch.isspace():
                raise self.fail("unexpected space")
            else:
                raise self.fail(f"unexpected character {ch!r}")
        return out

    def name(self) -> str:
        chars: list[str] = []
        while self.pos < len(self.text):
            ch = self.peek()
            if ch == "\\" and self.peek(1) == ".":
                chars.append(".")
                self.pos += 2
                continue
            if ch in _TERMINATORS:
                break
            chars.append(ch)
            self.pos += 1
        if not chars:
            raise self.fail("expected a field name")
        return "".join(chars)

    def bracket(self) -> _Step:
        self.pos += 1  # "["
        body_start = self.pos
        if self.peek() == "?":
            self.pos += 1
            if self.peek() != "(":
                raise self.fail("a filter must read [?(...)]")
            self.pos += 1
            inner_start = self.pos
            inner_end = self._matching_paren()
            inner = self.text[inner_start:inner_end]
            self.pos = inner_end + 1
            if self.peek() != "]":
                raise self.fail("expected ']' after a filter")
            self.pos += 1
            return _parse_filter(inner, self.original)
        end = self._closing_bracket()
        body = self.text[body_start:end].strip()
        self.pos = end + 1
        if not body:
            raise self.fail("empty brackets")
        if body == "*":
            return _Wildcard()
        if body[0] in "'\"":
            return _Keys(tuple(_split_quoted(body, self.original)))
        items: list[int | _Slice] = []
        for part in body.split(","):
            items.append(_parse_index(part.strip(), self.original))
        return _Indexes(tuple(items))

    def _closing_bracket(self) -> int:
        i = self.pos
        quote = ""
        while i < len(self.text):
            ch = self.text[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "]":
                return i
            i += 1
        raise self.fail("unclosed '['")

    def _matching_paren(self) -> int:
        depth = 1
        i = self.pos
        quote = ""
        while i < len(self.text):
            ch = self.text[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        raise self.fail("unclosed '(' in filter")


def _split_quoted(body: str, original: str) -> list[str]:
    names: list[str] = []
    i = 0
    while i < len(body):
        quote = body[i]
        if quote not in "'\"":
            raise ValueError(f"invalid JSONPath {original!r}: expected a quoted name in [{body}]")
        j = i + 1
        chars: list[str] = []
        while j < len(body) and body[j] != quote:
            if body[j] == "\\" and j + 1 < len(body):
                j += 1
            chars.append(body[j])
            j += 1
        if j >= len(body):
            raise ValueError(f"invalid JSONPath {original!r}: unterminated string in [{body}]")
        names.append("".join(chars))
        i = j + 1
        while i < len(body) and body[i] == " ":
            i += 1
        if i < len(body):
            if body[i] != ",":
                raise ValueError(f"invalid JSONPath {original!r}: expected ',' in [{body}]")
            i += 1
            while i < len(body) and body[i] == " ":
                i += 1
    return names


def _parse_int(text: str, original: str) -> int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"invalid JSONPath {original!r}: invalid array index {text!r}") from None


def _parse_index(part: str, original: str) -> int | _Slice:
    if ":" not in part:
        index = _parse_int(part, original)
        if index is None:
            raise ValueError(f"invalid JSONPath {original!r}: empty array index")
        return index
    pieces = part.split(":")
    if len(pieces) > 3:
        raise ValueError(f"invalid JSONPath {original!r}: invalid slice {part!r}")
    pieces += [""] * (3 - len(pieces))
    step = _parse_int(pieces[2].strip(), original)
    if step == 0:
        raise ValueError(f"invalid JSONPath {original!r}: slice step cannot be 0")
    return _Slice(_parse_int(pieces[0].strip(), original),
                  _parse_int(pieces[1].strip(), original), step)


_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")


def _parse_filter(inner: str, original: str) -> _Filter:
    # Find the comparison operator outside quotes and brackets.
    quote = ""
    depth = 0
    i = 0
    found: tuple[int, str] | None = None
    while i < len(inner):
        ch = inner[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif depth == 0:
            op = next((o for o in _OPERATORS if inner.startswith(o, i)), None)
            if op is not None:
                found = (i, op)
                break
        i += 1
    if found is None:
        return _Filter(_parse_operand(inner, original), None, None)
    at, op = found
    left = _parse_operand(inner[:at], original)
    right = _parse_operand(inner[at + len(op):], original)
    return _Filter(left, op, right)


def _parse_operand(text: str, original: str) -> _RelPath | _Literal:
    text = text.strip()
    if not text:
        raise ValueError(f"invalid JSONPath {original!r}: empty operand in filter")
    if text[0] == "@":
        rest = text[1:]
        if not rest:
            return _RelPath(())
        if rest[0] not in ".[":
            raise ValueError(f"invalid JSONPath {original!r}: unexpected {rest!r} after '@'")
        parser = _Parser(rest, original)
        return _RelPath(tuple(parser.steps(stop="")))
    if text[0] in "'\"":
        if len(text) < 2 or text[-1] != text[0]:
            raise ValueError(f"invalid JSONPath {original!r}: unterminated string {text}")
        return _Literal(text[1:-1].replace("\\" + text[0], text[0]))
    if text in ("true", "false"):
        return _Literal(text == "true")
    if text in ("null", "nil"):
        return _Literal(None)
    try:
        return _Literal(int(text))
    except ValueError:
        pass
    try:
        return _Literal(float(text))
    except ValueError:
        raise ValueError(
            f"invalid JSONPath {original!r}: unrecognized filter operand {text!r} "
            "(quote strings, start paths with '@')") from None


# ------------------------------------------------------------------------ evaluation


def _run(steps: tuple[_Step, ...], values: list[Any]) -> list[Any]:
    for step in steps:
        values = _apply(step, values)
        if not values:
            break
    return values


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    if isinstance(value, list):
        return list(value)
    return []


def _descendants(value: Any, out: list[Any]) -> None:
    # The node itself, then everything below it, depth first.
    out.append(value)
    for child in _children(value):
        if isinstance(child, dict | list):
            _descendants(child, out)


def _apply(step: _Step, values: list[Any]) -> list[Any]:
    out: list[Any] = []
    if isinstance(step, _Field):
        for v in values:
            if isinstance(v, dict) and step.name in v:
                out.append(v[step.name])
    elif isinstance(step, _Keys):
        for v in values:
            if isinstance(v, dict):
                out.extend(v[name] for name in step.names if name in v)
    elif isinstance(step, _Wildcard):
        for v in values:
            out.extend(_children(v))
    elif isinstance(step, _Recursive):
        for v in values:
            _descendants(v, out)
    elif isinstance(step, _Indexes):
        for v in values:
            if isinstance(v, list):
                out.extend(_select(v, step.items))
    else:
        for v in values:
            if isinstance(v, list):
                out.extend(item for item in v if _matches(step, item))
    return out


def _select(items: list[Any], selectors: tuple[int | _Slice, ...]) -> list[Any]:
    out: list[Any] = []
    n = len(items)
    for sel in selectors:
        if isinstance(sel, int):
            index = sel + n if sel < 0 else sel
            if 0 <= index < n:
                out.append(items[index])
        else:
            out.extend(items[slice(sel.start, sel.stop, sel.step)])
    return out


def _operand_values(operand: _RelPath | _Literal, item: Any) -> list[Any]:
    if isinstance(operand, _Literal):
        return [operand.value]
    return _run(operand.steps, [item])


def _matches(flt: _Filter, item: Any) -> bool:
    lefts = _operand_values(flt.left, item)
    if flt.op is None or flt.right is None:
        # Existence test: the path leads somewhere (a literal always "exists").
        return bool(lefts)
    rights = _operand_values(flt.right, item)
    if not lefts or not rights:
        return False
    return _compare(lefts[0], flt.op, rights[0])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(left: Any, op: str, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        pass
    elif type(left) is not type(right):
        # Values of different kinds never compare equal (client-go refuses them).
        return op == "!="
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if not (_is_number(left) or isinstance(left, str)):
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)
