"""How a command fails: one clear line for the user and an exit code.

Commands raise :class:`CommandError` for anything the user can fix (a missing
object, an unreachable cluster, a timeout); ``main`` prints it after flux's
``✗`` glyph. Anything else is a bug and still must not print a traceback
unless ``SLUICE_DEBUG`` is set.
"""

from __future__ import annotations


class CommandError(Exception):
    """A failure to report to the user as one line on stderr."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
