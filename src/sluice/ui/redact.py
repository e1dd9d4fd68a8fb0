"""What the UI must never show: webhook addresses, proxies, Receiver paths, Secret data.

Flux keeps some secrets outside Secrets. A Provider's ``spec.address`` is the
webhook URL, and for Slack, Discord, Teams or a generic webhook the URL *is*
the credential. ``spec.proxy`` may carry a password. A Receiver's
``status.webhookPath`` (``/hook/<sha256>``) is the only thing a caller needs
to trigger reconciles. The Receiver's own Ready message repeats the path
("Receiver initialized for path: /hook/..."), and a delivery error may quote
the address. So masking fields is not enough.

Two layers:

* `mask_object` returns a copy of an object with those fields replaced by
  `MASK`, and with a Secret's ``data``/``stringData`` left out. Every YAML and
  spec view is built from it.
* `Redactor` remembers every such value it has seen (fed by the live
  informers, kept after a change or deletion because old Events may still
  quote the old value). `Redactor.scrub` replaces them, raw or HTML-escaped,
  in every rendered page, fragment and SSE payload. It also masks two shapes
  whatever their origin: a ``/hook/<64 hex>`` path and the user-info of any
  URL (``scheme://user:password@``).

The Provider page still says whether an address is set (`notification_panel`
in `panels.py`), never what it is.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from markupsafe import escape

__all__ = ["MASK", "SENSITIVE_FIELDS", "Redactor", "mask_object", "sensitive_values"]

MASK = "••••••"

# (kind -> field paths) whose values are credentials, whatever the object's API version.
SENSITIVE_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Provider": (("spec", "address"), ("spec", "proxy")),
    "Receiver": (("status", "webhookPath"),),
}
# Values shorter than this are not scrubbed from text (an address "x" would eat every x).
MIN_SECRET = 6
# Bound on remembered values: an address rotated every minute for a week still fits.
MAX_REMEMBERED = 20_000

_HOOK_PATH = re.compile(r"/hook/[0-9a-fA-F]{64}")
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"<>]+@")


def _field(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def mask_object(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `obj` safe to show: sensitive fields masked, Secret data left out."""
    shown = dict(obj)
    if kind == "Secret" or obj.get("kind") == "Secret":
        shown.pop("data", None)
        shown.pop("stringData", None)
        return shown
    paths = SENSITIVE_FIELDS.get(kind, ())
    if not any(_field(obj, p) for p in paths):
        return shown
    shown = copy.deepcopy(dict(obj))
    for path in paths:
        parent: Any = shown
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[-1]):
            parent[path[-1]] = MASK
    return shown


def sensitive_values(kind: str, obj: Mapping[str, Any]) -> list[str]:
    """The secret strings `obj` holds, with the parts of them a message may quote alone."""
    out: list[str] = []
    for path in SENSITIVE_FIELDS.get(kind, ()):
        value = _field(obj, path)
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if value.startswith("/hook/"):
            # Only the digest: a message then reads "/hook/••••••", still saying what it is.
            out.append(value.removeprefix("/hook/"))
            continue
        out.append(value)
        try:
            parts = urlsplit(value)
        except ValueError:
            continue
        # A message may quote the path (Slack's /services/T/B/token) without the host,
        # or the Receiver's digest without /hook/.
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if parts.netloc and len(tail) >= MIN_SECRET:
            out.append(tail)
        if parts.query:
            out.append(parts.query)
        if parts.password:
            out.append(parts.password)
    return [v for v in out if len(v) >= MIN_SECRET]


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, longest match first (a full address wins over
    the path it contains), with common prefixes shared so matching stays near-linear."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items())
                    if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # A word ending here is a shorter match: tried only after every longer one.
        return f"(?:{body})?" if "" in node else body

    return emit(root)


class Redactor:
    """The secret values seen so far, and `scrub` to take them out of any text."""

    def __init__(self) -> None:
        self._values: dict[str, None] = {}  # insertion-ordered set
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False

    def __len__(self) -> int:
        return len(self._values)

    def remember(self, values: Iterable[str]) -> None:
        for value in values:
            if value not in self._values:
                self._values[value] = None
                self._dirty = True
        while len(self._values) > MAX_REMEMBERED:
            del self._values[next(iter(self._values))]

    def observe(self, kind: str, obj: Mapping[str, Any]) -> None:
        if kind in SENSITIVE_FIELDS:
            self.remember(sensitive_values(kind, obj))

    def _compiled(self) -> re.Pattern[str] | None:
        if self._dirty:
            forms: set[str] = set()
            for value in self._values:
                forms.add(value)
                forms.add(str(escape(value)))  # as Jinja's autoescape writes it
            # As a trie (shared prefixes factored out): Python's re tries each alternative
            # in turn at every position, so 800 flat ones cost ~50 ms on a 500 KiB page.
            self._pattern = re.compile(_trie_pattern(forms))
            self._dirty = False
        return self._pattern

    def scrub(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        if "/hook/" in text:
            text = _HOOK_PATH.sub("/hook/" + MASK, text)
        if "@" in text and "://" in text:
            text = _USERINFO.sub(r"\1" + MASK + "@", text)
        return text
