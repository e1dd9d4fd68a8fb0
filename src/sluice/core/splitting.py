"""Splitting text at separators that stand outside brackets.

Kubernetes-style expressions nest lists inside brackets: a label selector
``app in (web,api),tier=front`` separates its requirements with commas but
not the commas inside ``( )``; a kustomize field path
``spec.containers.[name=web.1].image`` separates its parts with dots but not
the dots inside ``[ ]``. The embedded API server's label selectors,
kustomize's target selectors and kustomize's field paths all cut text this
way; what each then makes of the parts (strict Kubernetes grammar, kustomize's
looser matching, path steps) stays with them.
"""

from __future__ import annotations

__all__ = ["split_outside_brackets", "split_selector"]


def split_outside_brackets(text: str, separator: str, opening: str, closing: str) -> list[str]:
    """``text`` cut at each ``separator`` character not inside ``opening``/``closing``.

    Every part is kept, empty ones included: n separators at the top level
    give n + 1 parts. Brackets are counted, not matched, so after a stray
    closing bracket no separator cuts until an opening one balances it.
    """
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == opening:
            depth += 1
        elif ch == closing:
            depth -= 1
        if ch == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def split_selector(text: str) -> list[str]:
    """A label selector's requirements: cut at commas outside ``( )``.

    A blank last part (an empty selector, a trailing comma) is dropped; an
    empty part anywhere else is kept, for the parser to refuse.
    """
    parts = split_outside_brackets(text, ",", "(", ")")
    if not parts[-1].strip():
        parts.pop()
    return parts
