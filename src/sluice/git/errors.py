"""Errors of the Git layer (`sluice.git`), shared by every controller that talks Git.

Each error carries the Flux condition reason a controller reports, and a
message that is already free of secrets (credentials in URLs dropped, secret
values replaced; library exceptions are never chained), so callers can put
it straight into a condition, an event or a log line::

    GitError                     .reason, .message (always secret-free)
    ├── AuthenticationFailed     "AuthenticationFailed": bad or missing
    │                            credentials, SSH without known_hosts, host
    │                            key not in known_hosts
    ├── GitOperationFailed       "GitOperationFailed": unreachable host,
    │   │                        missing ref, no semver match, server errors
    │   ├── GitTimeout           the deadline passed; the worker process was
    │   │   │                    killed and its connection closed
    │   │   └── GitPreempted     stopped before its deadline: it had hung for
    │   │                        a while and its worker was needed by others
    │   ├── WorkerCrashed        the worker process died (e.g. a libssh2
    │   │                        crash): only this operation fails
    │   ├── RefNotFound          the branch, tag or ref is not on the remote
    │   ├── PushRejected         the remote refused the update (not a fast
    │   │                        forward, or a hook said no)
    │   └── SigningKeyError      the commit signing key cannot sign
    │                            (`.problem`: unreadable, multiple,
    │                            passphrase_required, bad_passphrase,
    │                            unusable, unavailable)
    ├── InvalidURL               "URLInvalid": not http(s):// or ssh://
    └── ArchiveFailed            "ArchiveOperationFailed": the artifact of a
                                 checkout could not be written (`archive`)

Controllers map these onto their own error types (the source controller's
`SourceError` tree) by `reason`.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ArchiveFailed",
    "AuthenticationFailed",
    "GitError",
    "GitOperationFailed",
    "GitPreempted",
    "GitTimeout",
    "InvalidURL",
    "PushRejected",
    "RefNotFound",
    "SigningKeyError",
    "WorkerCrashed",
]


class GitError(Exception):
    """Base class; `reason` is the Flux condition reason."""

    reason: ClassVar[str] = "GitOperationFailed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class AuthenticationFailed(GitError):
    reason = "AuthenticationFailed"


class GitOperationFailed(GitError):
    reason = "GitOperationFailed"


class GitTimeout(GitOperationFailed):
    """The operation's deadline passed and its worker was killed."""


class GitPreempted(GitTimeout):
    """Killed before its deadline: it was hanging and every worker was taken (`sluice.git.pool`)."""


class WorkerCrashed(GitOperationFailed):
    """The worker process running the operation died."""


class RefNotFound(GitOperationFailed):
    """The ref asked for is not on the remote (``couldn't find remote ref``)."""


class PushRejected(GitOperationFailed):
    """The remote refused a ref update; `non_fast_forward` tells why."""

    def __init__(self, message: str, non_fast_forward: bool = False) -> None:
        super().__init__(message)
        self.non_fast_forward = non_fast_forward


class SigningKeyError(GitOperationFailed):
    """An OpenPGP signing key that cannot sign; `problem` names the failed check."""

    def __init__(self, message: str, problem: str = "unusable") -> None:
        super().__init__(message)
        self.problem = problem


class InvalidURL(GitError):
    reason = "URLInvalid"


class ArchiveFailed(GitError):
    """Building a checkout's artifact failed (disk full, a file that changed meanwhile)."""

    reason = "ArchiveOperationFailed"


# Worker processes send errors back by name; these are the names they may use.
BY_NAME: dict[str, type[GitError]] = {
    cls.__name__: cls
    for cls in (GitError, AuthenticationFailed, GitOperationFailed, GitTimeout, GitPreempted,
                WorkerCrashed, PushRejected, RefNotFound, SigningKeyError, InvalidURL,
                ArchiveFailed)
}
