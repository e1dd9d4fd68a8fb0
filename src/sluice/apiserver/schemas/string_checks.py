"""String checks of CRD schemas: RE2 patterns, OpenAPI formats, DNS names.

Kubernetes runs a schema's ``pattern`` with Go's RE2 engine and checks
``format`` with kube-openapi's format registry. Python's :mod:`re` reads most
RE2 patterns the same way but not all: ``$`` also matches before a final
newline, ``\\d`` and ``\\w`` match non-ASCII digits and letters, POSIX classes
such as ``[[:alpha:]]`` and ``\\z`` do not exist. :func:`compile_pattern`
rewrites those before compiling, so that a CRD written for Kubernetes accepts
and refuses the same strings here. It is used by
:mod:`sluice.apiserver.schemas.structural` (object validation) and
:mod:`sluice.apiserver.schemas.crd_definition` (refusing bad patterns up front).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from datetime import date, datetime
from functools import lru_cache

__all__ = [
    "UnsupportedPattern",
    "check_format",
    "compile_pattern",
    "dns1035_label_errors",
    "dns1123_subdomain_errors",
    "translate_re2",
]

# --------------------------------------------------------------------- RE2 patterns

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
# RE2's Perl classes are ASCII-only.
_PERL_OUTSIDE = {"d": "[0-9]", "D": "[^0-9]", "w": "[0-9A-Za-z_]", "W": "[^0-9A-Za-z_]",
                 "s": "[\\t\\n\\f\\r ]", "S": "[^\\t\\n\\f\\r ]"}
_PERL_INSIDE = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
# The Unicode classes Python can express without the third-party regex module.
_UNICODE_OUTSIDE = {"L": "[^\\W\\d_]", "N": "\\d", "Nd": "\\d"}
_FLAG_GROUP = re.compile(r"\(\?([imsU-]+)\)")


class UnsupportedPattern(ValueError):
    """A valid RE2 construct that Python's :mod:`re` cannot express."""


def translate_re2(pattern: str) -> str:
    """Rewrite an RE2 ``pattern`` into Python syntax that matches the same strings.

    Raises :class:`UnsupportedPattern` for RE2 constructs Python cannot
    express, and :class:`ValueError` for malformed ones.
    """
    flags = re.match(r"\(\?([imsU]+)\)", pattern)
    multiline = bool(flags and "m" in flags.group(1))
    out: list[str] = []
    i = 0
    n = len(pattern)
    in_class = False
    class_start = False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            esc = pattern[i + 1]
            if esc == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2:] if end < 0 else pattern[i + 2:end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if esc == "z" and not in_class:
                out.append("\\Z")
            elif esc == "x" and i + 2 < n and pattern[i + 2] == "{":
                close = pattern.find("}", i + 3)
                if close < 0:
                    raise ValueError("missing closing } in \\x{...}")
                out.append(f"\\U{int(pattern[i + 3:close], 16):08x}")
                i = close + 1
                class_start = False
                continue
            elif esc in "pP":
                if in_class or esc == "P":
                    raise UnsupportedPattern(f"unsupported Unicode class \\{esc} in this position")
                if i + 2 < n and pattern[i + 2] == "{":
                    close = pattern.find("}", i + 3)
                    cls, skip = pattern[i + 3:close], close + 1 - i
                else:
                    cls, skip = pattern[i + 2:i + 3], 3
                if cls not in _UNICODE_OUTSIDE:
                    raise UnsupportedPattern(f"unsupported Unicode class \\p{{{cls}}}")
                out.append(_UNICODE_OUTSIDE[cls])
                i += skip
                continue
            elif esc == "C":
                raise UnsupportedPattern("\\C is not supported")
            elif esc in _PERL_OUTSIDE:
                if not in_class:
                    out.append(_PERL_OUTSIDE[esc])
                elif esc in _PERL_INSIDE:
                    out.append(_PERL_INSIDE[esc])
                else:
                    out.append(pattern[i:i + 2])
            else:
                out.append(pattern[i:i + 2])
            i += 2
            class_start = False
            continue
        if in_class:
            if ch == "[" and pattern.startswith("[:", i):
                close = pattern.find(":]", i + 2)
                name = pattern[i + 2:close] if close > 0 else ""
                if name not in _POSIX_CLASSES:
                    raise ValueError(f"invalid character class range [:{name}:]")
                out.append(_POSIX_CLASSES[name])
                i = close + 2
            elif ch == "]" and not class_start:
                in_class = False
                out.append(ch)
                i += 1
            elif ch == "[" or (ch in "&~|" and i + 1 < n and pattern[i + 1] == ch):
                # Python reserves these for future set operations inside classes.
                out.append("\\" + ch)
                i += 1
            else:
                out.append("\\]" if ch == "]" else ch)
                i += 1
            class_start = False
            continue
        if ch == "[":
            in_class = True
            out.append("[")
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            class_start = True
            continue
        if ch == "$" and not multiline:
            # RE2's "$" is the very end of the text; Python's also matches
            # before a trailing newline.
            out.append("\\Z")
        elif ch == "(" and (flag_group := _FLAG_GROUP.match(pattern, i)) is not None and (
                i > 0 or "U" in flag_group.group(1)):
            # Python takes flags only at the very start and has no "ungreedy".
            raise UnsupportedPattern(f"flags {flag_group.group(0)} are not supported here")
        elif ch == "(" and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str] | str | None:
    """The compiled pattern; the reason it is malformed (a string); or None.

    None means a valid RE2 pattern that Python cannot run (``\\p{Greek}``):
    the CRD is accepted, as Kubernetes would, and the pattern is not checked.
    """
    try:
        return re.compile(translate_re2(pattern))
    except UnsupportedPattern:
        return None
    except (ValueError, re.error, OverflowError) as exc:
        return f"error parsing regexp: {exc}"


# --------------------------------------------------------------------- formats

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$")
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_LOOSE_DURATION = re.compile(r"^\s*(\d+\s*[A-Za-zµ]+\s*)+$")
_LOOSE_DURATION_PART = re.compile(r"(\d+)\s*([A-Za-zµ]+)")
_DURATION_UNITS = frozenset({
    "ns", "nanosecond", "nanoseconds", "us", "µs", "microsecond", "microseconds",
    "ms", "millisecond", "milliseconds", "s", "sec", "secs", "second", "seconds",
    "m", "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour", "hours",
    "d", "day", "days", "w", "wk", "wks", "week", "weeks",
})
_UUID = {
    "uuid": re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I),
    "uuid3": re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I),
    "uuid4": re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", re.I),
    "uuid5": re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", re.I),
}
_HOSTNAME = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?)*\.?$")
_MAC = re.compile(
    r"^([0-9A-Fa-f]{2}([:-]))(?:[0-9A-Fa-f]{2}\2){4}[0-9A-Fa-f]{2}$"
    r"|^([0-9A-Fa-f]{2}([:-]))(?:[0-9A-Fa-f]{2}\4){6}[0-9A-Fa-f]{2}$"
    r"|^([0-9A-Fa-f]{2}([:-]))(?:[0-9A-Fa-f]{2}\6){18}[0-9A-Fa-f]{2}$"
    r"|^[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}$|^[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){3}$"
    r"|^[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){9}$")
_EMAIL = re.compile(r"^(?:[^<>@\s]+ <)?[^<>@\s]+@[^<>@\s]+>?$")
_URI = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|/)\S*$")
_SIMPLE_FORMATS = {
    "bsonobjectid": re.compile(r"^[0-9a-fA-F]{24}$"),
    "hexcolor": re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"),
    "rgbcolor": re.compile(
        r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])"
        r"\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$"),
    "ssn": re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$"),
}


def _is_date_time(value: str) -> bool:
    m = _DATE_TIME.match(value)
    if m is None:
        return False
    try:
        datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_duration(value: str) -> bool:
    if value == "0" or _GO_DURATION.match(value):
        return True
    if not _LOOSE_DURATION.match(value):
        return False
    return all(unit.lower() in _DURATION_UNITS or unit == "µs"
               for _, unit in _LOOSE_DURATION_PART.findall(value))


def _is_ip(value: str, version: int) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return address.version == version


def _is_cidr(value: str) -> bool:
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def check_format(fmt: str, value: str) -> bool:
    """Does ``value`` have format ``fmt``? Formats Kubernetes does not check always pass."""
    name = fmt.replace("-", "").lower()
    if name == "datetime":
        return _is_date_time(value)
    if name == "date":
        return _is_date(value)
    if name == "duration":
        return _is_duration(value)
    if name in _UUID:
        return _UUID[name].match(value) is not None
    if name == "ipv4":
        return _is_ip(value, 4)
    if name == "ipv6":
        return _is_ip(value, 6)
    if name == "cidr":
        return _is_cidr(value)
    if name == "hostname":
        return len(value) <= 255 and _HOSTNAME.match(value) is not None
    if name == "mac":
        return _MAC.match(value) is not None
    if name == "email":
        return _EMAIL.match(value) is not None
    if name == "uri":
        return _URI.match(value) is not None
    if name == "byte":
        return _is_base64(value)
    if name in _SIMPLE_FORMATS:
        return _SIMPLE_FORMATS[name].match(value) is not None
    # password, int32, int64, int-or-string, isbn*, creditcard, and formats
    # Kubernetes strips from CRD schemas: not checked.
    return True


# --------------------------------------------------------------------- DNS names

_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1123 subdomain (empty when it is one)."""
    errors: list[str] = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character "
            f"(e.g. 'example.com', regex used for validation is '{_DNS1123_SUBDOMAIN.pattern}')")
    return errors


def dns1035_label_errors(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1035 label (empty when it is one)."""
    errors: list[str] = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _DNS1035_LABEL.fullmatch(value):
        errors.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character "
            f"(e.g. 'my-name', or 'abc-123', regex used for validation is '{_DNS1035_LABEL.pattern}')")
    return errors
