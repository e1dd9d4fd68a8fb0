"""flux's tables, byte for byte: column padding, tabs, truncated hashes, human ages.

``flux get``, ``flux events`` and ``flux stats`` print with the tablewriter
settings of flux's ``TablePrinter``: no borders, left aligned, upper-case
headers, and a tab after each cell. Scripts cut those columns (``cut -f``,
``awk -F'\\t'``), so the exact bytes matter:

* each cell is padded with spaces to its column's width (the widest cell of
  the column, header included, counted in terminal columns);
* header cells are joined by a tab, the last one padded one space further and
  followed by nothing;
* data cells are each followed by a tab, the last one included;
* a cell holding several lines (a multi-line event message) spreads over as
  many table lines; the other columns of the extra lines hold blanks.

`truncate_hex` shortens the 40-to-128 digit hashes inside revisions and
messages to 8 digits, as flux's ``TruncateHex`` does (``main@sha1:1234abcd``).
`human_duration` is Kubernetes' compact age (``5m29s``, ``3h``, ``12d``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = [
    "display_width",
    "format_table",
    "human_duration",
    "parse_time",
    "truncate_hex",
]

_HEX = re.compile(r"\b([a-f0-9]{8})[a-f0-9]{32,120}\b", re.ASCII)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def truncate_hex(text: str) -> str:
    """Every run of 40 to 128 lowercase hex digits cut to its first 8."""
    return _HEX.sub(r"\1", text)


def display_width(text: str) -> int:
    """Terminal columns of ``text``: wide East Asian characters count two, marks none."""
    width = 0
    for char in _ANSI.sub("", text):
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The table as flux prints it; an empty ``header`` prints no header line."""
    heads = [h.upper() for h in header]
    columns = max([len(heads), *(len(r) for r in rows)]) if (heads or rows) else 0
    cells = [[str(c).split("\n") for c in row] for row in rows]
    widths = [0] * columns
    for i, head in enumerate(heads):
        widths[i] = max(widths[i], display_width(head))
    for row in cells:
        for i, lines in enumerate(row):
            for line in lines:
                widths[i] = max(widths[i], display_width(line))
    out: list[str] = []
    if heads:
        parts = []
        for i, head in enumerate(heads):
            last = i == len(heads) - 1
            parts.append(_pad(head, widths[i]) + (" " if last else "\t"))
        out.append("".join(parts))
    for row in cells:
        height = max((len(lines) for lines in row), default=1)
        for line_no in range(height):
            parts = []
            for i in range(columns):
                lines = row[i] if i < len(row) else []
                # tablewriter fills the extra lines of shorter cells with two spaces.
                text = lines[line_no] if line_no < len(lines) else "  "
                parts.append(_pad(text, widths[i]) + "\t")
            out.append("".join(parts))
    return "".join(line + "\n" for line in out)


def human_duration(seconds: float) -> str:
    """Kubernetes' ``HumanDuration``: the compact age kubectl and flux print."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp from the API (``2024-01-02T03:04:05Z``, micro-precision too)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
