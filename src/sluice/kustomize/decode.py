"""Reading YAML the way kustomize reads it.

kustomize parses files with go-yaml v3 (through kyaml) and, before printing,
turns every object into JSON. So what reaches the output is a plain JSON value
whose scalars were typed by go-yaml v3's rules, which differ from PyYAML's
YAML 1.1 rules: ``yes``/``on`` stay strings, ``017`` is octal 15 and ``0o17``
too, ``1_000`` is 1000, timestamps stay strings, and ``1.0`` is a float that
JSON later prints as ``1``. This module composes documents with PyYAML (the C
parser when present) but types plain scalars itself with v3's rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_PLAIN = "!sluice-plain"
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """Composes nodes, marking untagged plain scalars so we can type them ourselves."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        if kind is SequenceNode:
            return _SEQ
        return _MAP


_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_CONSTANTS: dict[str, Any] = {
    "true": True, "True": True, "TRUE": True,
    "false": False, "False": False, "FALSE": False,
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
}  # fmt: skip


def go_parse_int(text: str, *, unsigned: bool = False) -> int | None:
    """Go's ``strconv.ParseInt(s, 0, 64)`` (or ParseUint): sign, 0x/0b/0o/0 prefixes."""
    s = text
    neg = False
    if s[:1] in "+-" and s:
        if unsigned:
            return None
        neg = s[0] == "-"
        s = s[1:]
    if not s:
        return None
    base = 10
    low = s.lower()
    if low.startswith("0x"):
        base, s = 16, s[2:]
    elif low.startswith("0b"):
        base, s = 2, s[2:]
    elif low.startswith("0o"):
        base, s = 8, s[2:]
    elif s.startswith("0") and len(s) > 1:
        base, s = 8, s[1:]
    digits = "0123456789abcdef"[:base]
    if not s or any(c not in digits for c in s.lower()):
        return None
    value = int(s, base)
    if neg:
        value = -value
    if unsigned:
        return value if value < 2**64 else None
    return value if -(2**63) <= value < 2**63 else None


def resolve_plain(text: str) -> Any:
    """Types an untagged plain scalar as go-yaml v3 does when decoding into interface{}."""
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    head = text[0]
    if head == ".":
        try:
            number = float(text)
        except ValueError:
            return text
        return text if math.isinf(number) else number
    if head in "+-0123456789":
        plain = text.replace("_", "")
        for unsigned in (False, True):
            value = go_parse_int(plain, unsigned=unsigned)
            if value is not None:
                return value
        if _FLOAT_RE.match(plain) and not math.isinf(float(plain)):
            return float(plain)  # Go's ParseFloat fails on overflow: it stays a string
    return text


def _tagged(node: ScalarNode) -> Any:
    tag = node.tag
    if tag in (_STR, "!", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp"):
        return node.value
    if tag == _PLAIN:
        return resolve_plain(node.value)
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"):
        value = resolve_plain(node.value)
        if isinstance(value, str):
            raise ValueError(f"cannot decode {node.value!r} as {tag.rsplit(':', 1)[-1]}")
        return value
    return node.value  # an application tag: kustomize keeps the text


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""  # go-yaml v3 decodes a null key into map[string]any as ""
    return str(value)


def to_value(node: Node) -> Any:
    """Converts a composed node into JSON-like Python data (dicts keep key order)."""
    if isinstance(node, ScalarNode):
        return _tagged(node)
    if isinstance(node, SequenceNode):
        return [to_value(item) for item in node.value]
    assert isinstance(node, MappingNode)
    out: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.tag == _PLAIN and key_node.value == "<<":
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                value = to_value(source)
                if not isinstance(value, dict):
                    raise ValueError("map merge requires map or sequence of maps as the value")
                for k, v in value.items():
                    merged.setdefault(k, v)
            continue
        key = _key_text(to_value(key_node))
        if key in out:
            line = key_node.start_mark.line + 1
            raise ValueError(f'mapping key "{key}" already defined at line {line}')
        out[key] = to_value(value_node)
    for k, v in merged.items():
        out.setdefault(k, v)
    return out


class YAMLSyntaxError(yaml.YAMLError):
    """A text does not parse; the message is go-yaml's one line (see `yaml_error_text`)."""


def load_documents(text: str) -> Iterator[Any]:
    """Yields each non-empty document of a multi-document YAML text.

    Raises `YAMLSyntaxError` (a ``yaml.YAMLError``) with a one-line message when
    the text does not parse, so that every caller's message stays on one line.
    """
    nodes = yaml.compose_all(text, Loader=_Loader)
    while True:
        try:
            node = next(nodes)
        except StopIteration:
            return
        except yaml.YAMLError as exc:
            raise YAMLSyntaxError(yaml_error_text(exc, text)) from exc
        if node is None:
            continue
        yield to_value(node)


def load_one(text: str) -> Any:
    """Loads a single-document YAML text (a kustomization file); None when empty."""
    docs = list(load_documents(text))
    if not docs:
        return None
    if len(docs) > 1:
        raise ValueError("expected a single YAML document")
    return docs[0]


# PyYAML's problem wording (from the start of its message) and go-yaml v3's for the
# same fault; a ``None`` context matches any.
_GO_PROBLEMS: tuple[tuple[str, str | None, str], ...] = (
    ("expected ',' or ']'", None, "did not find expected ',' or ']'"),
    ("expected ',' or '}'", None, "did not find expected ',' or '}'"),
    ("expected <block end>", "while parsing a block mapping", "did not find expected key"),
    ("expected <block end>", None, "did not find expected '-' indicator"),
    ("expected the node content", None, "did not find expected node content"),
    ("expected '<document start>'", None, "did not find expected <document start>"),
    ("mapping values are not allowed", None, "mapping values are not allowed in this context"),
    ("found character", None, "found character that cannot start any token"),
)


def yaml_error_text(exc: BaseException, text: str | None = None) -> str:
    """A YAML failure on one line, worded as go-yaml v3 words it (``yaml: line 6: ...``).

    PyYAML's messages span several lines (context, snippet, ``in "<unicode
    string>"``); kustomize, and so Flux, shows go-yaml's one-liner. ``text`` is the
    document, to name an undefined alias libyaml's message leaves out. The line is
    chosen as go-yaml chooses it: the context mark when it is past the first line,
    else the problem mark; a parser error prints the 0-based mark (go-yaml's
    well-known "one line early"), a scanner error the 1-based line.
    """
    if isinstance(exc, YAMLSyntaxError):
        return str(exc)
    if not isinstance(exc, yaml.MarkedYAMLError):
        if isinstance(exc, yaml.YAMLError | ValueError):
            return "yaml: " + " ".join(str(exc).split())
        return " ".join(str(exc).split())
    problem = " ".join((exc.problem or exc.context or "invalid YAML").split())
    context = exc.context or ""
    if problem.startswith("found undefined alias"):
        problem = f"unknown anchor '{_alias_at(exc.problem_mark, text)}' referenced"
    else:
        for prefix, where, words in _GO_PROBLEMS:
            if problem.startswith(prefix) and (where is None or context.startswith(where)):
                problem = words
                break
        else:
            problem = problem.split(", but found")[0]
    scanner = isinstance(exc, yaml.scanner.ScannerError)
    line = 0
    for mark in (exc.context_mark, exc.problem_mark):
        if mark is not None and mark.line != 0:
            line = mark.line + 1 if scanner else mark.line
            break
    return f"yaml: line {line}: {problem}" if line else f"yaml: {problem}"


def _alias_at(mark: Any, text: str | None) -> str:
    """The name of the ``*alias`` at ``mark`` in ``text``, or ``""``."""
    if mark is None or text is None:
        return ""
    lines = text.splitlines()
    if mark.line >= len(lines):
        return ""
    found = re.match(r"\*([^\s,\[\]{}]+)", lines[mark.line][mark.column:])
    return found.group(1) if found else ""
