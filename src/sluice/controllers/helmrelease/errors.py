"""The HelmRelease controller's exceptions.

::

    HelmReleaseError                 any failure of a step, with a message safe to show
     ├── ChartLoadError              the chart artifact could not be fetched, verified or loaded
     │    └── ArtifactMissing        the source advertises an artifact its server no longer has (404)
     ├── ValuesError                 a valuesFrom reference or a values document is unusable
     ├── StorageError                Helm's release storage could not be read or written
     └── HelmActionError             a Helm action failed (install, upgrade, test, rollback, ...)
          └── HelmActionTimeout      ... and was cancelled when its timeout passed

Messages never carry credentials: Helm's errors name objects and fields,
artifact URLs carry none, and values are never quoted.
"""

from __future__ import annotations

__all__ = [
    "ArtifactMissing",
    "ChartLoadError",
    "HelmActionError",
    "HelmActionTimeout",
    "HelmReleaseError",
    "StorageError",
    "ValuesError",
]


class HelmReleaseError(Exception):
    """A failed step; ``message`` is one readable line (or a few) for status and events."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ChartLoadError(HelmReleaseError):
    """The chart could not be downloaded, verified against its digest or loaded by Helm."""


class ArtifactMissing(ChartLoadError):
    """The artifact URL answered 404: the source has moved on; wait for it."""


class ValuesError(HelmReleaseError):
    """Values could not be composed (missing reference, YAML that is not a map...)."""


class StorageError(HelmReleaseError):
    """Helm's storage (release Secrets) could not be read or updated."""


class HelmActionError(HelmReleaseError):
    """A Helm action failed; ``released`` tells whether Helm wrote a (failed) release."""

    def __init__(self, message: str, *, released: bool = True) -> None:
        super().__init__(message)
        self.released = released


class HelmActionTimeout(HelmActionError):
    """The action ran past its timeout and was cancelled through its Helm context."""
