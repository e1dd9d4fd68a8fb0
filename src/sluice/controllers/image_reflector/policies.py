"""Choosing the latest tag: Flux's semver, alphabetical and numerical policers and tag filter.

* **semver**: tags that are strict versions (three parts, an optional
  leading ``v``: Flux's ``version.ParseVersion``) satisfying the
  Masterminds range (`sluice.core.semver`); the greatest wins, the first
  seen among equals, and the tag is returned as written. None: ``unable to
  determine latest version from provided list``.
* **alphabetical**: byte order; ``asc`` picks the greatest, ``desc`` the
  smallest.
* **numerical**: every candidate must parse as a float64 (Go's
  ``strconv.ParseFloat``, so ``1e3``, ``inf`` and ``0x1p-2`` parse and ``2.10``
  equals ``2.1``): one that does not fails the whole policy with
  ``failed to parse invalid numeric value '<tag>'``. ``asc`` picks the
  largest, ``desc`` the smallest; among equal values the last seen wins.
  This is why the seed's ``\\d\\.\\d\\d`` filter with ``desc`` gives ``2.10``.
* **filterTags**: an unanchored Go regex; each matching tag maps to
  ``extract`` expanded over the match (or to itself); the map is keyed by the
  extracted value, so a later tag with the same value replaces an earlier
  one (tags are visited in stored order). The policy runs on the extracted
  values and the winner maps back to its original tag.

An empty candidate list is ``version list argument cannot be empty``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol

from sluice.api.image import ImagePolicyChoice, TagFilter
from sluice.core.goregex import GoRegexError, compile_go, expand
from sluice.core.semver import Constraint, SemverError, Version, parse_constraint, parse_version

__all__ = ["Policer", "RegexFilter", "latest_tag", "parse_go_float", "policer_from_spec"]

EMPTY_LIST = "version list argument cannot be empty"


class Policer(Protocol):
    def latest(self, tags: Sequence[str]) -> str: ...


class PolicyError(ValueError):
    """The policy cannot decide (the message goes to the Ready condition)."""


class SpecError(ValueError):
    """The policy itself is unusable (invalid range, order, regex)."""


class SemVerPolicer:
    def __init__(self, range_: str) -> None:
        try:
            self.constraint: Constraint = parse_constraint(range_)
        except SemverError as exc:
            raise SpecError(str(exc)) from None

    def latest(self, tags: Sequence[str]) -> str:
        if not tags:
            raise PolicyError(EMPTY_LIST)
        best: Version | None = None
        for tag in tags:
            try:
                version = parse_version(tag, strict=True)
            except SemverError:
                continue
            if self.constraint.check(version) and (best is None or version > best):
                best = version
        if best is None:
            raise PolicyError("unable to determine latest version from provided list")
        return best.original


class AlphabeticalPolicer:
    def __init__(self, order: str) -> None:
        self.order = _order(order)

    def latest(self, tags: Sequence[str]) -> str:
        if not tags:
            raise PolicyError(EMPTY_LIST)
        ordered = sorted(tags, key=lambda t: t.encode("utf-8"))
        return ordered[-1] if self.order == "ASC" else ordered[0]


_GO_FLOAT = re.compile(
    r"^[+-]?(?:(?:\d(?:_?\d)*)?\.?\d(?:_?\d)*(?:[eE][+-]?\d+)?|\d(?:_?\d)*\.(?:[eE][+-]?\d+)?"
    r"|0[xX](?:[0-9a-fA-F_]*\.?[0-9a-fA-F_]*)[pP][+-]?\d+|inf|infinity|nan)$",
    re.IGNORECASE)


def parse_go_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)``; ValueError where Go fails."""
    if not _GO_FLOAT.match(text):
        raise ValueError(text)
    body = text.replace("_", "")
    lowered = body.lower().lstrip("+-")
    if lowered.startswith("0x"):
        value = float.fromhex(body)
    else:
        value = float(body)
    if math.isinf(value) and lowered not in ("inf", "infinity"):
        raise ValueError(text)  # out of range: Go reports ErrRange
    return value


class NumericalPolicer:
    def __init__(self, order: str) -> None:
        self.order = _order(order)

    def latest(self, tags: Sequence[str]) -> str:
        if not tags:
            raise PolicyError(EMPTY_LIST)
        best_tag, best = "", 0.0
        for n, tag in enumerate(tags):
            try:
                value = parse_go_float(tag)
            except ValueError:
                raise PolicyError(f"failed to parse invalid numeric value '{tag}'") from None
            # Flux keeps the current pick only when strictly better: among equal
            # values (2.10 and 2.100) the last one seen wins.
            if n > 0 and (value < best if self.order == "ASC" else value > best):
                continue
            best_tag, best = tag, value
        return best_tag


def _order(order: str | None) -> str:
    value = (order or "asc").upper()
    if value not in ("ASC", "DESC"):
        raise SpecError(f"invalid order argument provided: '{value}', must be one of: ASC, DESC")
    return value


def policer_from_spec(choice: ImagePolicyChoice) -> Policer:
    """The policer of ``spec.policy``; `SpecError` for an unusable one."""
    if choice.semver is not None:
        return SemVerPolicer(choice.semver.range)
    if choice.alphabetical is not None:
        return AlphabeticalPolicer(choice.alphabetical.order or "asc")
    if choice.numerical is not None:
        return NumericalPolicer(choice.numerical.order or "asc")
    raise SpecError("given ImagePolicyChoice object is invalid")


class RegexFilter:
    def __init__(self, pattern: str, extract: str) -> None:
        try:
            self.regexp = compile_go(pattern)
        except GoRegexError as exc:
            raise SpecError(f"invalid regular expression pattern '{pattern}': {exc}") from None
        self.extract = extract
        self.filtered: dict[str, str] = {}

    def apply(self, tags: Sequence[str]) -> list[str]:
        self.filtered = {}
        for tag in tags:
            match = self.regexp.search(tag)
            if match is None:
                continue
            value = expand(self.extract, match) if self.extract else tag
            self.filtered[value] = tag
        return list(self.filtered)

    def original(self, value: str) -> str:
        return self.filtered.get(value, "")


def latest_tag(choice: ImagePolicyChoice, filter_tags: TagFilter | None,
               tags: Sequence[str]) -> str:
    """The tag the policy selects from ``tags``; SpecError / PolicyError on failure."""
    try:
        policer = policer_from_spec(choice)
    except SpecError as exc:
        raise SpecError(f"invalid policy: {exc}") from None
    if filter_tags is None:
        return policer.latest(tags)
    try:
        regex = RegexFilter(filter_tags.pattern or "", filter_tags.extract or "")
    except SpecError as exc:
        raise SpecError(f"failed to filter tags: {exc}") from None
    return regex.original(policer.latest(regex.apply(tags)))
