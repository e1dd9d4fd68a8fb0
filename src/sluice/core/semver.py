"""Semantic versions and Masterminds-style range constraints.

Flux resolves every version range with the Go library Masterminds/semver v3:
`GitRepository.spec.ref.semver`, `OCIRepository.spec.ref.semver`, HelmChart
and HelmRelease chart versions, and ImagePolicy `semver.range`. Python's
semver libraries disagree with it in places users notice (`1.0 - 2.0`
includes `2.0.5`, `!=` exists, commas and spaces both mean AND, a range with a
prerelease opens prereleases for its whole AND group), so this module
re-implements its rules:

* **Versions** (`parse_version`): an optional leading `v`, one to three
  numeric parts (`1.2` is `1.2.0`; leading zeros are tolerated, as v3.4 does),
  an optional `-prerelease` and `+metadata`. `strict=True` is Flux's
  `version.ParseVersion`: exactly three parts without leading zeros (a `v` is
  still allowed). Tags are always parsed strictly, so `latest` ignores `1.2`
  or `v1` tags just as Flux does.
* **Constraints** (`parse_constraint`): `||` separates alternatives; within
  one, terms separated by spaces or a comma must all hold. Operators are `=`,
  `!=`, `>`, `>=` (`=>`), `<`, `<=` (`=<`), `~` (`~>`), `^` and none (`=`).
  `x`, `X` and `*` are wildcards, and missing parts are wildcards too, so
  `>1.2` means "a minor above 1.2" and `<=1.2` allows `1.2.9`. `A - B`
  (spaces required) is `>= A, <= B` with those wildcard upper-bound rules.
* **Prereleases** only satisfy an alternative in which some term carries a
  prerelease itself (`>=1.0.0-0 <2.0.0` admits `1.5.0-rc.1`; `>=1.0.0`
  does not), unless `include_prerelease` is set. Unlike npm, the prerelease
  need not be on the same major.minor.patch.

Comparison follows SemVer 2.0: prereleases sort before their release,
numeric identifiers numerically and below alphanumeric ones, metadata is
ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import total_ordering

__all__ = [
    "Constraint",
    "SemverError",
    "Version",
    "latest",
    "parse_constraint",
    "parse_version",
]

# Masterminds caps these to keep hostile input cheap; the same limits apply.
MAX_CONSTRAINT_LENGTH = 512
MAX_CONSTRAINT_GROUPS = 32

_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION_RE = re.compile(
    rf"^v?(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    rf"(?:-(?P<pre>{_IDENT}))?(?:\+(?P<meta>{_IDENT}))?$"
)
# A version inside a constraint: parts may be wildcards.
_CV = rf"v?[0-9xX*]+(?:\.[0-9xX*]+)?(?:\.[0-9xX*]+)?(?:-{_IDENT})?(?:\+{_IDENT})?"
_CV_PARTS = re.compile(
    rf"^v?(?P<major>[0-9xX*]+)(?:\.(?P<minor>[0-9xX*]+))?(?:\.(?P<patch>[0-9xX*]+))?"
    rf"(?P<pre>-{_IDENT})?(?:\+{_IDENT})?$"
)
# Longest operators first, so `>=` is not read as `>` followed by `=1`.
_OPS = r"!=|>=|=>|<=|=<|~>|>|<|=|~|\^"
_ATOM = re.compile(rf"\s*(?P<op>{_OPS})?\s*(?P<ver>{_CV})")
_HYPHEN_RANGE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_WILDCARDS = frozenset({"x", "X", "*"})


class SemverError(ValueError):
    """A version or constraint that cannot be parsed."""


@total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A parsed version; equality and order ignore build metadata."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""
    original: str = field(default="", compare=False)

    def compare(self, other: Version) -> int:
        """Return -1, 0 or 1 as SemVer precedence orders `self` and `other`."""
        mine = (self.major, self.minor, self.patch)
        theirs = (other.major, other.minor, other.patch)
        if mine != theirs:
            return -1 if mine < theirs else 1
        return _compare_prerelease(self.prerelease, other.prerelease)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.compare(other) == 0

    def __lt__(self, other: Version) -> bool:
        return self.compare(other) < 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.prerelease))

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += f"-{self.prerelease}"
        if self.metadata:
            text += f"+{self.metadata}"
        return text


def _compare_prerelease(left: str, right: str) -> int:
    # A release outranks any prerelease of the same major.minor.patch.
    if left == right:
        return 0
    if not left:
        return 1
    if not right:
        return -1
    left_parts, right_parts = left.split("."), right.split(".")
    for a, b in zip(left_parts, right_parts, strict=False):
        if a == b:
            continue
        a_num, b_num = a.isdigit(), b.isdigit()
        if a_num and b_num:
            return -1 if int(a) < int(b) else 1
        if a_num != b_num:
            # Numeric identifiers have lower precedence than alphanumeric ones.
            return -1 if a_num else 1
        return -1 if a < b else 1
    if len(left_parts) == len(right_parts):
        return 0
    return -1 if len(left_parts) < len(right_parts) else 1


def parse_version(text: str, *, strict: bool = False) -> Version:
    """Parse `text`; see the module docstring for the loose and strict rules."""
    match = _VERSION_RE.match(text)
    if match is None:
        raise SemverError(f"invalid semantic version: {text!r}")
    major, minor, patch = match["major"], match["minor"], match["patch"]
    if strict:
        if minor is None or patch is None:
            raise SemverError(f"invalid semantic version: {text!r}: needs major.minor.patch")
        if any(len(part) > 1 and part[0] == "0" for part in (major, minor, patch)):
            raise SemverError(f"invalid semantic version: {text!r}: a part starts with 0")
    prerelease = match["pre"] or ""
    for ident in prerelease.split(".") if prerelease else ():
        if ident.isdigit() and len(ident) > 1 and ident[0] == "0":
            raise SemverError(f"invalid semantic version: {text!r}: prerelease part starts with 0")
    return Version(
        int(major),
        int(minor or 0),
        int(patch or 0),
        prerelease,
        match["meta"] or "",
        text,
    )


@dataclass(frozen=True)
class _Term:
    """One `<op><version>` term; `dirty` marks wildcard or missing parts."""

    op: str
    version: Version
    text: str
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False

    def check(self, v: Version, include_pre: bool) -> bool:
        if v.prerelease and not include_pre:
            return False
        return _OPERATORS[self.op](v, self)


def _tilde(v: Version, t: _Term) -> bool:
    c = t.version
    if v < c:
        return False
    # `~0.0.0` and `~*` accept everything at or above 0.0.0.
    if (c.major, c.minor, c.patch) == (0, 0, 0) and not t.minor_dirty and not t.patch_dirty:
        return True
    if v.major != c.major:
        return False
    return v.minor == c.minor or t.minor_dirty


def _equal(v: Version, t: _Term) -> bool:
    # A wildcard (`1.2`, `1.x`, `=2`) behaves as a tilde range.
    return _tilde(v, t) if t.dirty else v == t.version


def _not_equal(v: Version, t: _Term) -> bool:
    c = t.version
    if t.dirty:
        if c.major != v.major:
            return True
        if t.minor_dirty:
            return False
        if c.minor != v.minor:
            return True
        if not t.patch_dirty and c.patch != v.patch:
            return True
        if t.patch_dirty:
            if v.prerelease or c.prerelease:
                return _compare_prerelease(v.prerelease, c.prerelease) != 0
            return False
    return v != c


def _greater(v: Version, t: _Term) -> bool:
    c = t.version
    if not t.dirty:
        return v > c
    if v.major != c.major:
        return v.major > c.major
    if t.minor_dirty:
        # `>11` wants 12 or above: 11.1.0 is not greater than "11".
        return False
    if t.patch_dirty:
        # `>11.1` wants 11.2 or above.
        return v.minor > c.minor
    return v > c


def _less_equal(v: Version, t: _Term) -> bool:
    c = t.version
    if not t.dirty:
        return v <= c
    if v.major > c.major:
        return False
    # `<=1.1` still admits 1.1.9; `<=1` admits any 1.x.
    return not (v.major == c.major and v.minor > c.minor and not t.minor_dirty)


def _caret(v: Version, t: _Term) -> bool:
    c = t.version
    if v < c:
        return False
    if c.major > 0 or t.minor_dirty:
        return v.major == c.major
    if v.major > 0:
        return False
    # ^0.y.z stays within 0.y; ^0.0.z pins the patch.
    if c.minor > 0 or t.patch_dirty:
        return v.minor == c.minor
    if v.minor > 0:
        return False
    return v.patch == c.patch


_OPERATORS: dict[str, Callable[[Version, _Term], bool]] = {
    "": _equal,
    "=": _equal,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda v, t: v < t.version,
    ">=": lambda v, t: v >= t.version,
    "=>": lambda v, t: v >= t.version,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: alternatives (OR) of term lists (AND)."""

    text: str
    groups: tuple[tuple[_Term, ...], ...]
    include_prerelease: bool = False

    def check(self, version: Version | str) -> bool:
        """Whether `version` (a Version or loosely parsed text) satisfies this."""
        v = parse_version(version) if isinstance(version, str) else version
        for terms in self.groups:
            include_pre = self.include_prerelease or any(t.version.prerelease for t in terms)
            if all(t.check(v, include_pre) for t in terms):
                return True
        return False

    def __str__(self) -> str:
        return self.text


def _parse_term(text: str) -> _Term:
    match = re.fullmatch(rf"\s*(?P<op>{_OPS})?\s*(?P<ver>{_CV})\s*", text)
    if match is None:
        raise SemverError(f"improper constraint: {text!r}")
    op, ver = match["op"] or "", match["ver"]
    parts = _CV_PARTS.match(ver)
    if parts is None:  # pragma: no cover - _CV and _CV_PARTS accept the same text
        raise SemverError(f"improper constraint: {text!r}")
    major, minor, patch, pre = parts["major"], parts["minor"], parts["patch"], parts["pre"] or ""
    dirty = minor_dirty = patch_dirty = False
    if major in _WILDCARDS:
        ver, dirty = f"0.0.0{pre}", True
    elif minor is None or minor in _WILDCARDS:
        ver, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif patch is None or patch in _WILDCARDS:
        ver, dirty, patch_dirty = f"{major}.{minor}.0{pre}", True, True
    try:
        version = parse_version(ver)
    except SemverError:
        raise SemverError(f"improper constraint: {text!r}") from None
    return _Term(op, version, f"{op}{match['ver']}", dirty, minor_dirty, patch_dirty)


def _split_group(group: str) -> list[str]:
    """Split one OR alternative into terms separated by spaces or one comma."""
    atoms: list[str] = []
    pos, end = 0, len(group)
    while True:
        match = _ATOM.match(group, pos)
        if match is None:
            raise SemverError(f"improper constraint: {group!r}")
        atoms.append(match.group(0))
        pos = match.end()
        rest = pos
        while pos < end and group[pos].isspace():
            pos += 1
        if pos == end:
            return atoms
        if group[pos] == ",":
            pos += 1
        elif pos == rest:
            # Two terms run together, as in `12.3.34~ 1.2.3`.
            raise SemverError(f"improper constraint: {group!r}")


def parse_constraint(text: str, *, include_prerelease: bool = False) -> Constraint:
    """Parse a Masterminds constraint such as `>=1.2.0 <2.0.0 || ^3.1`."""
    if len(text) > MAX_CONSTRAINT_LENGTH:
        raise SemverError(f"constraint is too long (max {MAX_CONSTRAINT_LENGTH} bytes)")
    # `A - B` becomes `>= A, <= B` before anything else, as Masterminds does.
    rewritten = _HYPHEN_RANGE.sub(lambda m: f">= {m[1]}, <= {m[2]} ", text)
    alternatives = rewritten.split("||")
    if len(alternatives) > MAX_CONSTRAINT_GROUPS:
        raise SemverError(f"too many constraint groups (max {MAX_CONSTRAINT_GROUPS})")
    groups = tuple(
        tuple(_parse_term(atom) for atom in _split_group(alternative))
        for alternative in alternatives
    )
    return Constraint(text, groups, include_prerelease)


def latest(tags: Iterable[str], constraint: str | Constraint) -> str | None:
    """The tag with the highest version satisfying `constraint`, or None.

    Tags that are not strict versions (see `parse_version`) are skipped, and
    the tag is returned as written (a `v` prefix is kept). Among tags of equal
    precedence (differing only in metadata) the last one given wins, so pass
    tags oldest first to prefer the newest.
    """
    con = parse_constraint(constraint) if isinstance(constraint, str) else constraint
    best: Version | None = None
    for tag in tags:
        try:
            version = parse_version(tag, strict=True)
        except SemverError:
            continue
        if con.check(version) and (best is None or version >= best):
            best = version
    return best.original if best is not None else None
