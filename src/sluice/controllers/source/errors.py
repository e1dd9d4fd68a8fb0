"""Errors of the source controller's Git and artifact layer.

Each error carries the Flux condition reason the reconciler reports, so a
failure maps onto `Ready=False` / `FetchFailed` / `StorageOperationFailed`
without string matching::

    SourceError                      .reason, .message (always secret-free)
    ├── AuthenticationFailed         "AuthenticationFailed": bad or missing
    │                                credentials, SSH without known_hosts,
    │                                host key not in known_hosts
    ├── GitOperationFailed           "GitOperationFailed": unreachable host,
    │                                missing branch/tag/commit, no semver
    │                                match, timeout, server errors
    ├── InvalidURL                   "URLInvalid": not http(s):// or ssh://
    ├── ArchiveOperationFailed       "ArchiveOperationFailed": building or
    │   │                            extracting a tarball failed
    │   └── UnsafeArchiveEntry       path traversal, absolute path, symlink
    │                                escaping the root, device file
    └── StorageOperationFailed       "StorageOperationFailed": writing,
                                     collecting or serving stored artifacts

Messages name the failed step and the object users can act on, in Flux's
words where Flux has them (`unable to clone '<url>': couldn't find remote
ref "refs/heads/nope"`); the reconciler prefixes them as Flux does
(`failed to checkout and determine revision: ...`). They are built from
scrubbed parts only: credentials in URLs are dropped and secret values
replaced, and the library exception is never chained (`from None`), so a
traceback cannot leak what the message hides.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ArchiveOperationFailed",
    "AuthenticationFailed",
    "GitOperationFailed",
    "InvalidURL",
    "SourceError",
    "StorageOperationFailed",
    "UnsafeArchiveEntry",
]


class SourceError(Exception):
    """Base class; `reason` is the Flux condition reason."""

    reason: ClassVar[str] = "Failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class AuthenticationFailed(SourceError):
    reason = "AuthenticationFailed"


class GitOperationFailed(SourceError):
    reason = "GitOperationFailed"


class InvalidURL(SourceError):
    reason = "URLInvalid"


class ArchiveOperationFailed(SourceError):
    reason = "ArchiveOperationFailed"


class UnsafeArchiveEntry(ArchiveOperationFailed):
    """An archive entry that would land or point outside its root."""


class StorageOperationFailed(SourceError):
    reason = "StorageOperationFailed"
