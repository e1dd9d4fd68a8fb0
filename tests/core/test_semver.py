"""Masterminds/semver v3 rules as Flux users meet them in `ref.semver`,
chart `version` and ImagePolicy `semver.range`.

Aspects covered: version parsing (loose and Flux-strict), precedence,
every operator with wildcards and missing parts, hyphen ranges and their
inclusive upper bound, AND by comma or space, OR groups, prerelease opt-in
per AND group, malformed constraints, and `latest` over a tag list.
"""

from __future__ import annotations

import pytest

from sluice.core.semver import (
    SemverError,
    Version,
    latest,
    parse_constraint,
    parse_version,
)

# (constraint, version, satisfied)
CHECKS: list[tuple[str, str, bool]] = [
    # exact and implicit equality; missing parts behave as a tilde range
    ("1.4.2", "1.4.2", True),
    ("1.4.2", "1.4.3", False),
    ("=1.4.2", "1.4.2", True),
    ("= 3.0", "3.0.7", True),
    ("= 3.0", "3.1.0", False),
    ("3", "3.9.9", True),
    ("3", "4.0.0", False),
    ("v2.1", "2.1.4", True),
    ("2.1.0+build.7", "2.1.0", True),
    # wildcards
    ("*", "0.0.1", True),
    ("*", "12.4.0", True),
    ("*", "1.0.0-beta", False),
    ("x", "7.7.7", True),
    ("5.x", "5.12.0", True),
    ("5.x", "6.0.0", False),
    ("5.X.x", "5.0.3", True),
    ("5.2.*", "5.2.11", True),
    ("5.2.*", "5.3.0", False),
    ("*-0", "3.0.0-rc.2", True),
    # not equal
    ("!=3.2.1", "3.2.1", False),
    ("!=3.2.1", "3.2.2", True),
    ("!=3.2", "3.2.7", False),
    ("!=3.2", "3.3.0", True),
    ("!=3.x", "3.9.0", False),
    ("!=3.x", "4.0.0", True),
    ("!=3.2.x", "3.1.9", True),
    ("!=3.2-rc", "3.2.0", True),
    # greater than: a missing part lifts the bound to the next minor/major
    (">2.5.1", "2.5.2", True),
    (">2.5.1", "2.5.1", False),
    (">2.5", "2.5.9", False),
    (">2.5", "2.6.0", True),
    (">2", "2.99.0", False),
    (">2", "3.0.0", True),
    (">0.0.0-0", "0.0.0-alpha", True),
    (">1.0.0-rc.1", "1.0.0-rc.2", True),
    (">1.0.0-rc.1", "1.4.0-beta", True),
    # greater or equal
    (">=2.5", "2.5.0", True),
    (">=2.5", "2.4.99", False),
    ("=>2.5", "3.0.0", True),
    (">= 2.5", "2.5.1-beta", False),
    (">=2.5.0-0", "2.5.1-beta", True),
    (">=0.0.0-0", "17.0.0-alpha.1", True),
    # less than
    ("<4.2.0", "4.1.99", True),
    ("<4.2.0", "4.2.0", False),
    ("<4.2", "4.2.0", False),
    ("<4", "3.999.0", True),
    ("<4.x", "4.0.1", False),
    ("<4.2.0", "4.2.0-rc.1", False),
    ("<4.2.0-0", "4.1.0-rc.1", True),
    ("<0-z", "0.0.0-alpha", True),
    # less or equal: a missing part keeps its whole range
    ("<=4.2.0", "4.2.0", True),
    ("<=4.2.0", "4.2.1", False),
    ("<=4.2", "4.2.9", True),
    ("<=4.2", "4.3.0", False),
    ("<=4", "4.8.0", True),
    ("=<4", "5.0.0", False),
    ("<=4.2.x", "4.3.0", False),
    # tilde
    ("~3.4.5", "3.4.9", True),
    ("~3.4.5", "3.4.4", False),
    ("~3.4.5", "3.5.0", False),
    ("~3.4", "3.4.0", True),
    ("~3.4", "3.5.0", False),
    ("~3", "3.9.0", True),
    ("~3", "4.0.0", False),
    ("~>3.4", "3.4.7", True),
    ("~3.x", "3.1.0", True),
    ("~*", "9.9.9", True),
    ("~0.0.0", "9.9.9", True),
    ("~3.4.5-beta.1", "3.4.5-beta.3", True),
    ("~3.4.5-beta.1", "3.4.6-alpha", True),  # npm would refuse this one
    ("~3.4.5-beta.1", "3.5.0-alpha", False),
    ("~3.4.5-beta", "3.4.5-alpha", False),
    ("~3.4.5-beta", "3.4.5", True),
    # caret
    ("^2.3.4", "2.9.0", True),
    ("^2.3.4", "3.0.0", False),
    ("^2.3.4", "2.3.3", False),
    ("^2.3", "2.3.0", True),
    ("^2", "2.0.0", True),
    ("^2.x", "2.4.4", True),
    ("^2.x", "3.0.0", False),
    ("^0.3.4", "0.3.9", True),
    ("^0.3.4", "0.4.0", False),
    ("^0.3", "0.3.0", True),
    ("^0.3", "1.3.0", False),
    ("^0.0.4", "0.0.4", True),
    ("^0.0.4", "0.0.5", False),
    ("^0.0", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("^0", "0.9.9", True),
    ("^0", "1.0.0", False),
    ("^0.0.0", "1.2.3", False),
    ("^2.3.4", "2.4.0-rc.1", False),
    ("^2.3.4-0", "2.4.0-rc.1", True),
    ("^2.3.4-beta.2", "2.3.4-beta.1", False),
    # AND with commas and/or spaces
    (">=1.2, <2", "1.9.0", True),
    (">=1.2, <2", "2.0.0", False),
    (">=1.2 <2", "1.1.0", False),
    (">= 1.2  < 2", "1.5.0", True),
    (">=1.2 , <2 , !=1.5.0", "1.5.0", False),
    (">=1.2,<2,!=1.5.0", "1.6.0", True),
    # OR groups
    ("^1.0 || ^3.0", "3.4.0", True),
    ("^1.0 || ^3.0", "2.4.0", False),
    (">=1.1 <2 !=1.2.3 || >=3", "3.0.0", True),
    (">=1.1 <2 !=1.2.3 || >3", "3.0.0", False),
    ("<1 || >=2 <3", "2.5.0", True),
    # hyphen ranges: `A - B` is `>= A, <= B`, and B keeps its wildcard range
    ("1.2 - 1.4.5", "1.2.0", True),
    ("1.2 - 1.4.5", "1.4.6", False),
    ("1.0 - 2.0", "2.0.5", True),
    ("1.0 - 2.0", "2.1.0", False),
    ("2.3.4 - 4", "4.9.0", True),
    ("2.3.4 - 4", "2.3.3", False),
    ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", True),
    ("1.0.0 - 2.0.0 || 3.x", "3.1.0", True),
    ("1.1-3", "4.3.2", False),  # no spaces: a single version with prerelease "3"
    # a prerelease anywhere in an AND group opens prereleases for the group
    (">=1.0.0-0 <2.0.0", "1.5.0-rc.1", True),
    (">=1.0.0 <2.0.0", "1.5.0-rc.1", False),
    (">=1.0.0 <2.0.0-0 || >=3", "1.5.0-rc.1", True),
    ("<2.0.0-0 || >=3", "3.5.0-rc.1", False),
    (">=1.2.3-alpha", "1.3.0-beta", True),
    ("!=4.1-alpha", "4.1.0-alpha", False),
    ("!=4.1-alpha", "4.1.1-alpha", False),
    # loosely parsed candidate versions
    ("^1.0", "v1.4", True),
    ("1.x", "1.4", True),
    (">=1.0.0", "01.02.03", True),
]


@pytest.mark.parametrize(("constraint", "version", "expected"), CHECKS)
def test_constraint_check(constraint: str, version: str, expected: bool) -> None:
    assert parse_constraint(constraint).check(parse_version(version)) is expected


def test_include_prerelease_opens_every_group() -> None:
    assert not parse_constraint(">=1.0.0").check("1.4.0-rc.1")
    assert parse_constraint(">=1.0.0", include_prerelease=True).check("1.4.0-rc.1")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "foo",
        ">= bar",
        "BAR >= 1.2.3",
        "1.2.3.4",
        "12.3.34~ 1.2.3",
        ">=1.0,",
        ">=1.0,,<2",
        ">=1.0 ||",
        "|| 1.0",
        "1.x2",
        "1.2.3-01",
        ">" * 600,
        " || ".join(["1"] * 40),
    ],
)
def test_malformed_constraints_are_refused(bad: str) -> None:
    with pytest.raises(SemverError):
        parse_constraint(bad)


def test_four_part_versions_inside_and_groups_are_refused_but_spaced_terms_are_fine() -> None:
    con = parse_constraint("12.3.34 ~1.2.3")
    assert len(con.groups) == 1 and len(con.groups[0]) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", (1, 2, 3, "", "")),
        ("v1.2.3", (1, 2, 3, "", "")),
        ("1.2", (1, 2, 0, "", "")),
        ("3", (3, 0, 0, "", "")),
        ("1.2.3-rc.1+sha.abc", (1, 2, 3, "rc.1", "sha.abc")),
        ("1.2.3+20230101", (1, 2, 3, "", "20230101")),
        ("01.02.03", (1, 2, 3, "", "")),
        ("1.2.3-x-y-z.--", (1, 2, 3, "x-y-z.--", "")),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int, str, str]) -> None:
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.metadata) == expected
    assert v.original == text


@pytest.mark.parametrize(
    "bad", ["", "v", "1.2.3.4", "1.2.3-", "1.2.3+", "1.2.3-a..b", "1.2.3-01", "a.b.c", "V1.2.3"]
)
def test_parse_version_rejects(bad: str) -> None:
    with pytest.raises(SemverError):
        parse_version(bad)


@pytest.mark.parametrize("bad", ["1.2", "v1", "1.02.3", "01.2.3", "1.2.03"])
def test_strict_versions_need_three_parts_without_leading_zeros(bad: str) -> None:
    parse_version(bad)  # loosely fine
    with pytest.raises(SemverError):
        parse_version(bad, strict=True)
    assert parse_version("v1.2.3", strict=True).original == "v1.2.3"


def test_precedence_follows_semver() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
        "10.0.0",
    ]
    versions = [parse_version(v) for v in ordered]
    assert sorted(reversed(versions)) == versions
    assert parse_version("1.0.0+a") == parse_version("v1.0.0+b")
    assert str(parse_version("v1.2-rc.1+m")) == "1.2.0-rc.1+m"
    assert isinstance(max(versions), Version)


@pytest.mark.parametrize(
    ("tags", "constraint", "expected"),
    [
        (["1.0.0", "1.2.0", "1.10.0", "2.0.0"], "<2.0.0", "1.10.0"),
        (["v1.0.0", "v1.1.0", "v2.0.0-rc.1"], "*", "v1.1.0"),
        (["v1.0.0", "v1.1.0", "v2.0.0-rc.1"], ">=1.0.0-0", "v2.0.0-rc.1"),
        (["latest", "main", "1.2", "v1", "1.2.3", "1.02.4"], "*", "1.2.3"),
        (["6.3.5", "6.4.0", "6.4.1", "7.0.0"], "6.4.x", "6.4.1"),
        (["1.0.0", "2.0.0"], ">=3", None),
        ([], "*", None),
        (["1.0.0+old", "1.0.0+new"], "1.0.0", "1.0.0+new"),
    ],
)
def test_latest(tags: list[str], constraint: str, expected: str | None) -> None:
    assert latest(tags, constraint) == expected
    assert latest(tags, parse_constraint(constraint)) == expected
