"""Errors of the web UI.

    UIError
    ├── UnknownKind       a URL names a kind the UI does not show
    └── ActionRefused     an action that cannot run (suspended object, read-only)
"""

from __future__ import annotations

__all__ = ["ActionRefused", "UIError", "UnknownKind"]


class UIError(Exception):
    """Base of the UI's errors; the message is safe to show to the user."""


class UnknownKind(UIError):
    pass


class ActionRefused(UIError):
    pass
