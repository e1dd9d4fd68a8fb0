"""What a scan keeps of a registry's tags, exactly as the image reflector computes it.

* tags matching any ``exclusionList`` regex (Go syntax, unanchored; default
  ``^.*\\.sig$`` drops cosign signatures) are dropped;
* the rest are sorted **descending by plain string comparison** (Go's
  ``strings.Compare`` is byte order; Python's ``str`` order is code point
  order, the same for the ASCII tags registries allow), so ``2.9`` comes
  before ``2.57``: ``latestTags`` is the first 10 of that order, which is
  why the seed shows ``"2.9"`` ahead of ``"2.57"``;
* ``revision`` is the decimal Adler-32 of the JSON array of the stored tags
  in that order (Go's ``json.Marshal``: compact, ``<>&`` escaped);
  ImagePolicies re-run only when it changes.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sluice.core.goregex import GoRegexError, compile_go

__all__ = ["LATEST_TAGS_COUNT", "Scan", "checksum", "compile_exclusions", "summarise"]

LATEST_TAGS_COUNT = 10


def compile_exclusions(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    out = []
    for pattern in patterns:
        try:
            out.append(compile_go(pattern))
        except GoRegexError as exc:
            raise ValueError(f"failed to compile regex {pattern}: {exc}") from None
    return out


def checksum(tags: Sequence[str]) -> str:
    """Decimal Adler-32 of ``json.Marshal(tags)``."""
    text = json.dumps(list(tags), separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return str(zlib.adler32(text.encode("utf-8")))


@dataclass(frozen=True)
class Scan:
    """The stored tags (descending) and the summary that goes to ``lastScanResult``."""

    tags: list[str]
    revision: str

    @property
    def latest_tags(self) -> list[str] | None:
        # Omitted (not an empty list) when there are none, as Flux's omitempty does.
        return self.tags[:LATEST_TAGS_COUNT] or None


def summarise(tags: Iterable[str], exclusions: Sequence[re.Pattern[str]]) -> Scan:
    kept = [t for t in tags if not any(rx.search(t) for rx in exclusions)]
    kept.sort(reverse=True)
    return Scan(kept, checksum(kept))
