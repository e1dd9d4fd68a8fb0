"""JSON bytes as Go's ``encoding/json`` writes them.

Flux's notifiers marshal payloads with ``json.Marshal``: compact, UTF-8,
map keys sorted, and ``<``, ``>``, ``&``, U+2028, U+2029 escaped as
``\\u003c`` ... (HTML-safe escaping). Webhook receivers verifying an HMAC
over the body, and goldens compared byte for byte, need exactly that.
Python dicts keep their insertion order, which stands for a Go struct's
field order; pass ``sort_keys=True`` where the Go value is a map.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["marshal"]

_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
            ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def marshal(value: Any, *, sort_keys: bool = False) -> bytes:
    """``json.Marshal(value)``: compact, HTML-escaped, UTF-8."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    for char, escaped in _ESCAPES:
        text = text.replace(char, escaped)
    return text.encode()
