"""Go (RE2) regular expressions in Python: compiling Flux's patterns and ``Regexp.Expand``.

Flux users write Go regexes in ``exclusionList`` and ``filterTags.pattern``
and Go expansion templates in ``filterTags.extract`` (``$ts``, ``${1}``).
Python's ``re`` reads most RE2 syntax the same way; the differences that
matter for tags are handled here:

* ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII-only in RE2: compiled with
  ``re.ASCII``;
* named groups may be written ``(?P<name>...)`` or ``(?<name>...)`` (Go
  1.22+); Python wants the former;
* ``\\z`` (end of text) is Python's ``\\Z``; RE2 has no backreferences or
  lookaround, so a pattern using them is refused as Go refuses it.

`expand` follows ``Regexp.Expand``: ``$name``/``${name}`` take the longest
run of letters, digits and ``_``; a number names a group by index; an
unknown or unmatched group expands to nothing; ``$$`` is a literal ``$``.
"""

from __future__ import annotations

import re

__all__ = ["GoRegexError", "compile_go", "expand"]


class GoRegexError(ValueError):
    """A pattern Go's regexp package would refuse."""


_NAMED = re.compile(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>")
_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]")


def compile_go(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern; `GoRegexError` with Go's wording where it can be matched."""
    if _UNSUPPORTED.search(pattern):
        raise GoRegexError(f"error parsing regexp: invalid or unsupported Perl syntax: `{pattern}`")
    translated = _NAMED.sub(r"(?P<\1>", pattern).replace(r"\z", r"\Z")
    try:
        return re.compile(translated, re.ASCII)
    except re.error as exc:
        raise GoRegexError(f"error parsing regexp: {exc.msg}: `{pattern}`") from None


_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")


def expand(template: str, match: re.Match[str]) -> str:
    """``Regexp.ExpandString(nil, template, src, match)`` for one match."""
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        i += 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        name = ""
        if i < n and template[i] == "{":
            end = template.find("}", i + 1)
            candidate = template[i + 1:end] if end != -1 else ""
            if end == -1 or not candidate or not all(_NAME_CHAR.match(c) for c in candidate):
                out.append("$")  # not a valid reference: Go copies the '$' through
                continue
            name, i = candidate, end + 1
        else:
            start = i
            while i < n and _NAME_CHAR.match(template[i]):
                i += 1
            name = template[start:i]
            if not name:
                out.append("$")
                continue
        out.append(_group(match, name))
    return "".join(out)


def _group(match: re.Match[str], name: str) -> str:
    if name.isdigit():
        index = int(name)
        if index > (match.re.groups or 0):
            return ""
        return match.group(index) or ""
    if name in match.re.groupindex:
        return match.group(name) or ""
    return ""
