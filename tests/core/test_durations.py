"""Go duration strings: what flux accepts in flags and prints in exported YAML."""

from __future__ import annotations

import pytest

from sluice.core.durations import (
    HOUR,
    MILLISECOND,
    MINUTE,
    SECOND,
    DurationError,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(("text", "nanos"), [
    ("0", 0), ("0s", 0), ("1m", MINUTE), ("5m", 5 * MINUTE), ("1h30m", HOUR + 30 * MINUTE),
    ("1.5h", HOUR + 30 * MINUTE), ("500ms", 500 * MILLISECOND), ("90s", 90 * SECOND),
    ("1h0m0s", HOUR), ("+2s", 2 * SECOND), ("-1.5s", -1500 * MILLISECOND), ("1us", 1000),
    ("1µs", 1000), ("1μs", 1000), ("3ns", 3), (".5s", 500 * MILLISECOND), ("1.s", SECOND),
    ("2562047h47m16.854775807s", (1 << 63) - 1),
])
def test_parse(text: str, nanos: int) -> None:
    assert parse_duration(text) == nanos


@pytest.mark.parametrize(("text", "message"), [
    ("", 'time: invalid duration ""'),
    ("1", 'time: missing unit in duration "1"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("5 m", 'time: unknown unit " m" in duration "5 m"'),
    ("m", 'time: invalid duration "m"'),
    (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"'),
    ("2562047h47m16.854775808s", 'time: invalid duration "2562047h47m16.854775808s"'),
])
def test_parse_errors_carry_go_messages(text: str, message: str) -> None:
    with pytest.raises(DurationError) as err:
        parse_duration(text)
    assert str(err.value) == message


@pytest.mark.parametrize(("nanos", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (500 * MILLISECOND, "500ms"), (1500 * MILLISECOND, "1.5s"),
    (MINUTE, "1m0s"), (10 * MINUTE, "10m0s"), (HOUR, "1h0m0s"), (90 * MINUTE, "1h30m0s"),
    (2 * MINUTE + 500 * MILLISECOND, "2m0.5s"), (-5 * SECOND, "-5s"), (100 * HOUR, "100h0m0s"),
])
def test_format_like_go(nanos: int, text: str) -> None:
    assert format_duration(nanos) == text
