"""Errors of the image-automation controller, each carrying the Flux reason it reports.

The reconciler turns them into ``Ready=False`` (or ``Stalled``) with
``.reason`` and ``.message``; messages never hold secret values::

    AutomationError              .reason, .message, .stalled
    ├── InvalidSourceConfiguration  "InvalidSourceConfiguration" (stalled):
    │                               no spec.git, a sourceRef kind other than
    │                               GitRepository, no push branch to infer
    ├── AccessDenied                "AccessDenied" (stalled): cross-namespace
    │                               source refused
    ├── SourceNotReady              "SourceManagerFailed": the GitRepository
    │                               or its Secret cannot be read, the
    │                               signing key cannot sign
    ├── UpdateError                 "UpdateFailed": the update path is
    │                               missing, setters could not run
    ├── TemplateFailed              "GitOperationFailed": the commit message
    │                               template does not parse or fails
    └── GitFailed                   "GitOperationFailed" (or the Git layer's
                                    reason): clone, commit or push failed
"""

from __future__ import annotations

from typing import ClassVar

from sluice.api.image import (
    GIT_OPERATION_FAILED,
    INVALID_SOURCE_CONFIGURATION,
    SOURCE_MANAGER_FAILED,
    UPDATE_FAILED,
)
from sluice.api.meta import ACCESS_DENIED

__all__ = [
    "AccessDenied",
    "AutomationError",
    "GitFailed",
    "InvalidSourceConfiguration",
    "SourceNotReady",
    "TemplateFailed",
    "UpdateError",
]


class AutomationError(Exception):
    """A failed step of an automation run; ``message`` is safe to show."""

    reason: ClassVar[str] = GIT_OPERATION_FAILED
    stalled: ClassVar[bool] = False

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason  # type: ignore[misc]


class InvalidSourceConfiguration(AutomationError):
    reason = INVALID_SOURCE_CONFIGURATION
    stalled = True


class AccessDenied(AutomationError):
    reason = ACCESS_DENIED
    stalled = True


class SourceNotReady(AutomationError):
    reason = SOURCE_MANAGER_FAILED


class UpdateError(AutomationError):
    reason = UPDATE_FAILED


class TemplateFailed(AutomationError):
    reason = GIT_OPERATION_FAILED


class GitFailed(AutomationError):
    reason = GIT_OPERATION_FAILED
