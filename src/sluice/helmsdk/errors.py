"""Errors of `sluice.helmsdk` (the SDK's own errors are `helm_python.HelmError`s)::

    TimeoutError
    └── HelmCallAbandoned    a Helm call did not return by its deadline; its
                             thread is left running (Go cannot be interrupted)
"""

from __future__ import annotations

__all__ = ["HelmCallAbandoned"]


class HelmCallAbandoned(TimeoutError):
    """The call's caller was answered at its deadline; the Go call still runs on its thread."""
