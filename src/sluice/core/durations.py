"""Go ``time.Duration`` parsing and formatting.

Flux's APIs carry durations as strings (``interval: 1m0s``) and its CLI takes
them as flags (``--interval=5m``). Both go through Go's ``time`` package, so a
``5m`` flag comes back as ``5m0s`` in exported YAML and ``1.5h`` as ``1h30m0s``.
Sluice must print and accept exactly the same strings, with the same error
messages (``time: unknown unit "d" in duration "1d"``), so this module mirrors
``time.ParseDuration`` and ``Duration.String`` on integer nanoseconds.
"""

from __future__ import annotations

__all__ = [
    "HOUR",
    "MICROSECOND",
    "MILLISECOND",
    "MINUTE",
    "NANOSECOND",
    "SECOND",
    "DurationError",
    "format_duration",
    "format_seconds",
    "go_quote",
    "parse_duration",
    "seconds_or",
]

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

# Go's time.Duration is an int64 count of nanoseconds.
_MAX = (1 << 63) - 1

_UNITS: dict[str, int] = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "µs": MICROSECOND,  # U+00B5 micro sign
    "μs": MICROSECOND,  # U+03BC Greek small letter mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}


class DurationError(ValueError):
    """A string Go's ``time.ParseDuration`` would reject; the message is Go's."""


def go_quote(text: str) -> str:
    """Quote like Go's ``strconv.Quote`` for the printable strings users type."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _leading_int(s: str) -> tuple[int, str]:
    i = 0
    value = 0
    while i < len(s) and "0" <= s[i] <= "9":
        value = value * 10 + ord(s[i]) - 48
        if value > 1 << 63:
            raise OverflowError
        i += 1
    return value, s[i:]


def _leading_fraction(s: str) -> tuple[int, float, str]:
    # Digits past what an int64 can hold are consumed but ignored, as in Go.
    i = 0
    value = 0
    scale = 1.0
    overflow = False
    while i < len(s) and "0" <= s[i] <= "9":
        if not overflow:
            if value > _MAX // 10:
                overflow = True
            else:
                candidate = value * 10 + ord(s[i]) - 48
                if candidate > _MAX:
                    overflow = True
                else:
                    value = candidate
                    scale *= 10
        i += 1
    return value, scale, s[i:]


def parse_duration(text: str) -> int:
    """Nanoseconds in ``text`` (``1m``, ``1h30m``, ``500ms``, ``-1.5s``, ``0``)."""
    invalid = DurationError("time: invalid duration " + go_quote(text))
    s = text
    negative = False
    if s and s[0] in "+-":
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        before = len(s)
        try:
            whole, s = _leading_int(s)
        except OverflowError:
            raise invalid from None
        consumed_int = before != len(s)
        frac, scale, consumed_frac = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            before = len(s)
            frac, scale, s = _leading_fraction(s)
            consumed_frac = before != len(s)
        if not consumed_int and not consumed_frac:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise DurationError("time: missing unit in duration " + go_quote(text))
        unit_name, s = s[:i], s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise DurationError(
                "time: unknown unit " + go_quote(unit_name) + " in duration " + go_quote(text)
            )
        if whole > (1 << 63) // unit:
            raise invalid
        value = whole * unit
        if frac > 0:
            # Go computes the fractional part in float64, truncating toward zero.
            value += int(float(frac) * (float(unit) / scale))
            if value > 1 << 63:
                raise invalid
        total += value
        if total > 1 << 63:
            raise invalid
    if negative:
        return -total
    if total > _MAX:
        raise invalid
    return total


def _frac(value: int, precision: int) -> tuple[str, int]:
    """Go's fmtFrac: the fraction digits (without trailing zeros) and the rest."""
    digits: list[str] = []
    printed = False
    for _ in range(precision):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        value //= 10
    text = "." + "".join(reversed(digits)) if printed else ""
    return text, value


def format_duration(nanos: int) -> str:
    """Go's ``Duration.String``: ``0s``, ``1.5µs``, ``500ms``, ``1m0s``, ``1h0m0s``."""
    negative = nanos < 0
    u = -nanos if negative else nanos
    if u < SECOND:
        if u == 0:
            return "0s"
        if u < MICROSECOND:
            text = f"{u}ns"
        elif u < MILLISECOND:
            frac, whole = _frac(u, 3)
            text = f"{whole}{frac}µs"
        else:
            frac, whole = _frac(u, 6)
            text = f"{whole}{frac}ms"
    else:
        frac, seconds = _frac(u, 9)
        text = f"{seconds % 60}{frac}s"
        minutes = seconds // 60
        if minutes > 0:
            text = f"{minutes % 60}m" + text
            hours = minutes // 60
            if hours > 0:
                text = f"{hours}h" + text
    return "-" + text if negative else text


def seconds_or(text: str | None, default: float) -> float:
    """A duration field in seconds; ``default`` when it is unset or unreadable.

    What controllers do with a spec's ``interval``/``timeout`` (the API server
    already validated it; a bad value must not fail the reconcile).
    """
    if not text:
        return default
    try:
        return parse_duration(text) / SECOND
    except DurationError:
        return default


def format_seconds(value: float) -> str:
    """Seconds printed as Go prints a ``time.Duration`` (``1m30s``, ``1.5ms``)."""
    return format_duration(int(value * SECOND))
