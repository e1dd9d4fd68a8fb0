"""Flux's post-build variable substitution: ``${var}`` expressions with bash-like operators.

A Kustomization's ``spec.postBuild`` replaces ``${name}`` in every built
object with values from ``substitute`` and ``substituteFrom``. Flux does it
with its fork of drone/envsubst, whose rules differ from a shell's in ways
repositories depend on, so this module reproduces them:

* only the braced form is an expression: ``$var`` stays as written;
* ``$$`` collapses to ``$`` everywhere in the text, which is how ``$${var}``
  yields a literal ``${var}``; backslashes outside expressions are kept;
* operators (``value`` is the variable's value, empty when unset):

  ===================== ==================================================
  ``${v:-d}`` ``${v-d}`` ``d`` when ``value`` is empty, else ``value``
  ``${v:=d}`` ``${v=d}`` same (nothing is assigned)
  ``${#v}``              length of ``value``
  ``${v^}`` ``${v^^}``   first character / all upper case
  ``${v,}`` ``${v,,}``   first character / all lower case
  ``${v:n}``             from offset ``n`` (negative counts from the end)
  ``${v:n:len}``         ``len`` characters (negative: stop that far from
                         the end); a non-numeric offset or length leaves
                         ``value`` unchanged
  ``${v#p}`` ``${v##p}`` remove the shortest / longest prefix matching the
                         glob ``p`` (``*`` spans ``/``, ``?``, ``[a-z]``)
  ``${v%p}`` ``${v%%p}`` remove the shortest / longest matching suffix
  ``${v/p/r}``           replace the first occurrence of the text ``p``
  ``${v//p/r}``          replace every occurrence
  ``${v/#p/r}``          replace ``p`` when it is a prefix (empty ``p``
                         prepends)
  ``${v/%p/r}``          replace ``p`` when it is a suffix (empty ``p``
                         appends)
  ===================== ==================================================

  Operator arguments may hold nested expressions (``${a:-${b}}``). In the
  pattern and replacement of ``/`` operators, ``\\/`` is a literal slash and
  ``\\\\`` a backslash;
* ``${v+x}``, ``${v:+x}``, ``${v?x}`` and ``${v:?x}`` are refused with an
  error (Flux parses some of them but gives them the wrong meaning);
* in strict mode (kustomize-controller's default since v1.9) a variable
  with no value is an error naming it (``variable not set (strict mode):
  "name"``) unless a default operator covers it. A variable set to the
  empty string has a value.

Lengths and offsets count characters, where Flux counts UTF-8 bytes; the two
agree for ASCII values. Pure functions, no I/O; `sluice.controllers`
applies them to each object's YAML text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "VAR_NAME_PATTERN",
    "SubstitutionError",
    "VariableNotSet",
    "expand",
    "is_valid_name",
    "parse",
]

# Names accepted as substitution variables (Flux validates the keys of
# substitute/substituteFrom with this before substituting).
VAR_NAME_PATTERN = r"^[_a-zA-Z][_a-zA-Z0-9]*$"
_VAR_NAME = re.compile(VAR_NAME_PATTERN)

# Operators that handle an unset variable themselves.
_DEFAULT_OPS = frozenset({":-", ":=", "-", "="})
_UNSUPPORTED = frozenset({"+", ":+", "?", ":?"})
_CASING = frozenset({"^", "^^", ",", ",,"})

Lookup = Callable[[str], "str | None"]


class SubstitutionError(ValueError):
    """The text cannot be substituted; ``message`` says why in Flux's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class VariableNotSet(SubstitutionError):
    """Strict mode: ``name`` has no value and the expression gives no default."""

    def __init__(self, name: str) -> None:
        super().__init__(f'variable not set (strict mode): "{name}"')
        self.name = name


def is_valid_name(name: str) -> bool:
    return bool(_VAR_NAME.match(name))


# ------------------------------------------------------------------ the tree


@dataclass(frozen=True)
class _Text:
    value: str


@dataclass(frozen=True)
class _Expr:
    name: str
    op: str = ""
    # Each argument is a sequence of text and nested expressions.
    args: tuple[tuple[_Node, ...], ...] = field(default_factory=tuple)


_Node = _Text | _Expr


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def _snippet(self, start: int) -> str:
        end = self.text.find("}", start)
        end = len(self.text) if end < 0 else end + 1
        snippet = self.text[start:end]
        return snippet if len(snippet) <= 60 else snippet[:57] + "..."

    # Top level: text with ``$$`` collapsed, and expressions.
    def template(self) -> tuple[_Node, ...]:
        nodes: list[_Node] = []
        buf: list[str] = []
        text, n = self.text, len(self.text)
        while self.pos < n:
            c = text[self.pos]
            if c == "$":
                nxt = self.peek(1)
                if nxt == "{":
                    if buf:
                        nodes.append(_Text("".join(buf)))
                        buf = []
                    start = self.pos
                    self.pos += 2
                    nodes.append(self.expression(start))
                    continue
                if nxt == "$":
                    buf.append("$")
                    self.pos += 2
                    continue
            # Plain text runs are copied in one slice.
            stop = text.find("$", self.pos + 1)
            stop = n if stop < 0 else stop
            buf.append(text[self.pos:stop])
            self.pos = stop
        if buf:
            nodes.append(_Text("".join(buf)))
        return tuple(nodes)

    def _ident(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum()
                                             or self.text[self.pos] == "_"):
            self.pos += 1
        return self.text[start:self.pos]

    def _close(self, start: int) -> None:
        if self.peek() != "}":
            if self.pos >= len(self.text):
                raise SubstitutionError(f"missing closing brace in '{self._snippet(start)}'")
            raise SubstitutionError(f"bad substitution in '{self._snippet(start)}'")
        self.pos += 1

    def argument(self, stops: str, escapes: bool, start: int) -> tuple[_Node, ...]:
        """Text and nested expressions up to (not including) one of ``stops``."""
        nodes: list[_Node] = []
        buf: list[str] = []
        while True:
            c = self.peek()
            if c == "":
                raise SubstitutionError(f"missing closing brace in '{self._snippet(start)}'")
            if c == "$" and self.peek(1) == "{":
                if buf:
                    nodes.append(_Text("".join(buf)))
                    buf = []
                inner = self.pos
                self.pos += 2
                nodes.append(self.expression(inner))
                continue
            if escapes and ((c == "\\" and self.peek(1) in ("/", "\\"))
                            or (c == "$" and self.peek(1) == "$")):
                buf.append(self.peek(1))
                self.pos += 2
                continue
            if c in stops:
                break
            buf.append(c)
            self.pos += 1
        if buf:
            nodes.append(_Text("".join(buf)))
        return tuple(nodes)

    def expression(self, start: int) -> _Expr:
        """After ``${``: one expression up to and including its ``}``."""
        if self.peek() == "#":
            self.pos += 1
            name = self._ident()
            if not name:
                raise SubstitutionError(f"bad substitution in '{self._snippet(start)}'")
            self._close(start)
            return _Expr(name, "#len")
        name = self._ident()
        if not name:
            raise SubstitutionError(
                f"unable to parse variable name in '{self._snippet(start)}'")
        c = self.peek()
        if c == "}":
            self.pos += 1
            return _Expr(name)
        if c == ":":
            nxt = self.peek(1)
            if nxt in ("-", "="):
                return self._default(name, ":" + nxt, start)
            if nxt in ("+", "?"):
                self._unsupported(":" + nxt, start)
            self.pos += 1
            offset = self.argument(":}", False, start)
            args = [offset]
            if self.peek() == ":":
                self.pos += 1
                args.append(self.argument("}", False, start))
            self._close(start)
            return _Expr(name, ":", tuple(args))
        if c in ("-", "="):
            return self._default(name, c, start)
        if c in ("+", "?"):
            self._unsupported(c, start)
        if c in (",", "^"):
            op = c
            self.pos += 1
            if self.peek() in (",", "^"):
                op += self.peek()
                self.pos += 1
            if op not in _CASING:
                raise SubstitutionError(f"bad substitution in '{self._snippet(start)}'")
            self._close(start)
            return _Expr(name, op)
        if c == "/":
            self.pos += 1
            op = "/"
            if self.peek() in ("/", "#", "%"):
                op += self.peek()
                self.pos += 1
            pattern = self.argument("/}", True, start)
            args = [pattern]
            if self.peek() == "/":
                self.pos += 1
                args.append(self.argument("}", True, start))
            self._close(start)
            return _Expr(name, op, tuple(args))
        if c in ("#", "%"):
            op = c
            self.pos += 1
            if self.peek() == c:
                op += c
                self.pos += 1
            pattern = self.argument("}", False, start)
            self._close(start)
            return _Expr(name, op, (pattern,))
        if c == "":
            raise SubstitutionError(f"missing closing brace in '{self._snippet(start)}'")
        raise SubstitutionError(f"missing closing brace in '{self._snippet(start)}'")

    def _default(self, name: str, op: str, start: int) -> _Expr:
        self.pos += len(op)
        value = self.argument("}", False, start)
        self._close(start)
        return _Expr(name, op, (value,))

    def _unsupported(self, op: str, start: int) -> None:
        raise SubstitutionError(
            f"unsupported substitution operator '{op}' in '{self._snippet(start)}'")


def parse(text: str) -> tuple[_Node, ...]:
    """Check ``text``'s syntax; `SubstitutionError` names the faulty expression."""
    return _Parser(text).template()


# ---------------------------------------------------------------- evaluation


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi: an optional sign and decimal digits, nothing else."""
    if re.fullmatch(r"[+-]?[0-9]+", text) is None:
        return None
    return int(text)


def _glob(pattern: str) -> re.Pattern[str] | None:
    """The regular expression of a glob, or None for a malformed one."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            if i + 1 >= n:
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = i + 1
            negate = j < n and pattern[j] in ("^", "!")
            if negate:
                j += 1
            members: list[str] = []
            first = True
            while j < n and (pattern[j] != "]" or first):
                first = False
                ch = pattern[j]
                if ch == "\\" and j + 1 < n:
                    j += 1
                    ch = pattern[j]
                if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    hi = pattern[j + 2]
                    if hi == "\\" and j + 3 < n:
                        hi = pattern[j + 3]
                        j += 1
                    if hi < ch:
                        return None
                    members.append(f"{re.escape(ch)}-{re.escape(hi)}")
                    j += 3
                    continue
                members.append(re.escape(ch))
                j += 1
            if j >= n:
                return None
            out.append("[" + ("^" if negate else "") + "".join(members) + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(value: str, pattern: str, longest: bool) -> str:
    regex = _glob(pattern)
    if regex is None:
        return value
    lengths = range(len(value), 0, -1) if longest else range(1, len(value) + 1)
    for size in lengths:
        if regex.fullmatch(value[:size]):
            return value[size:]
    return value


def _trim_suffix(value: str, pattern: str, longest: bool) -> str:
    regex = _glob(pattern)
    if regex is None:
        return value
    starts = range(0, len(value)) if longest else range(len(value) - 1, -1, -1)
    for start in starts:
        if regex.fullmatch(value[start:]):
            return value[:start]
    return value


def _substring(value: str, args: list[str]) -> str:
    pos = _atoi(args[0])
    if pos is None:
        return value  # bash leaves the value alone when the offset is not a number
    if pos < 0:
        pos = max(0, len(value) + pos)
    if len(args) == 1:
        return value[pos:]
    length = _atoi(args[1])
    if length is None:
        return value
    if length < 0:
        end = len(value) + length
        return value[pos:end] if end >= pos else ""
    return value[pos:pos + length]


def _apply(op: str, value: str, args: list[str]) -> str:
    if op == "":
        return value
    if op in _DEFAULT_OPS:
        return value if value else "".join(args)
    if op == "#len":
        return str(len(value))
    if op == "^":
        return value[:1].upper() + value[1:]
    if op == "^^":
        return value.upper()
    if op == ",":
        return value[:1].lower() + value[1:]
    if op == ",,":
        return value.lower()
    if op == ":":
        return _substring(value, args)
    if op in ("#", "##"):
        return _trim_prefix(value, args[0], op == "##")
    if op in ("%", "%%"):
        return _trim_suffix(value, args[0], op == "%%")
    pattern = args[0]
    replacement = args[1] if len(args) > 1 else ""
    if op == "/":
        return value.replace(pattern, replacement, 1)
    if op == "//":
        return value.replace(pattern, replacement)
    if op == "/#":
        return replacement + value[len(pattern):] if value.startswith(pattern) else value
    if op == "/%":
        if value.endswith(pattern):
            return value[:len(value) - len(pattern)] + replacement
        return value
    raise SubstitutionError(f"unsupported substitution operator '{op}'")  # pragma: no cover


def _evaluate(nodes: tuple[_Node, ...], lookup: Lookup, strict: bool) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.value)
            continue
        # Arguments are expanded first, so an unset variable inside a default
        # is reported even when the default is not needed (as Flux does).
        args = [_evaluate(arg, lookup, strict) for arg in node.args]
        value = lookup(node.name)
        if value is None and strict and node.op not in _DEFAULT_OPS:
            raise VariableNotSet(node.name)
        out.append(_apply(node.op, value or "", args))
    return "".join(out)


def expand(text: str, variables: Mapping[str, str] | Lookup, *, strict: bool = False) -> str:
    """Substitute every ``${...}`` of ``text``.

    ``variables`` is a mapping, or a function returning None for an unset
    name. Raises `SubstitutionError` for a malformed or unsupported
    expression and, with ``strict``, `VariableNotSet` for a variable with no
    value and no default.
    """
    if "$" not in text:
        return text
    nodes = parse(text)
    if isinstance(variables, Mapping):
        lookup: Lookup = variables.get
    else:
        lookup = variables
    return _evaluate(nodes, lookup, strict)
