"""Errors of the ``sluice.kube`` layer: reaching a cluster and naming its resources.

Everything above ``kube`` (runtime, controllers, CLI) catches these instead of
lightkube's or httpx's exceptions, so a user sees one clear line that names
the kubeconfig file, the context or the kind involved::

    KubeError                   base; .message is safe to show a user
    ├── ConfigError             the kubeconfig cannot be used: missing or
    │                           unreadable file, bad YAML, unknown context,
    │                           no cluster/user for the context, no in-cluster
    │                           service account
    ├── NoKindMatch             discovery does not serve this apiVersion/kind
    │                           (the CRD is not installed, or a typo)
    ├── DiscoveryError          the discovery endpoints themselves failed
    └── ApiStatusError          the API server answered a request with an
                                error Status (404, 409, 410, 422 ...): .code,
                                .reason and the server's own message
                                (also raised for ERROR events in a watch)

Code that calls lightkube directly gets lightkube's ``ApiError`` instead;
`status_code` reads the HTTP code from any of them, so callers branch on
"not found" or "conflict" without knowing which client raised.
"""

from __future__ import annotations

from typing import Any

import httpx2
from lightkube.core.exceptions import ApiError

__all__ = [
    "ApiStatusError",
    "ConfigError",
    "DiscoveryError",
    "KubeError",
    "NoKindMatch",
    "is_conflict",
    "is_gone",
    "is_not_found",
    "status_code",
]


class KubeError(Exception):
    """Base of the kube layer's errors; ``message`` is a one-line explanation."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(KubeError):
    """The kubeconfig (or in-cluster configuration) cannot be used."""


class NoKindMatch(KubeError):
    """The cluster does not serve the requested apiVersion/kind."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f'no matches for kind "{kind}" in version "{api_version}"')
        self.api_version = api_version
        self.kind = kind


class DiscoveryError(KubeError):
    """The discovery endpoints could not be read."""


class ApiStatusError(KubeError):
    """An error ``Status`` returned by the API server."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message or reason or f"HTTP {code}")
        self.code = code
        self.reason = reason
        self.details = details or {}

    @classmethod
    def from_status(cls, status: Any, fallback_code: int = 500) -> ApiStatusError:
        """Build from a decoded ``metav1.Status`` (tolerating non-Status bodies)."""
        if not isinstance(status, dict):
            return cls(fallback_code, "", f"HTTP {fallback_code}")
        code = status.get("code")
        details = status.get("details")
        return cls(code if isinstance(code, int) else fallback_code,
                   str(status.get("reason") or ""), str(status.get("message") or ""),
                   details if isinstance(details, dict) else None)


def status_code(exc: BaseException) -> int | None:
    """The HTTP status code carried by an API error, or None for other errors.

    lightkube raises ``ApiError`` for ordinary requests and for ERROR events
    inside a watch stream (where only the decoded Status is known), but a
    plain ``HTTPStatusError`` when a watch request itself is refused.
    """
    if isinstance(exc, ApiStatusError):
        return exc.code
    if isinstance(exc, ApiError):
        status = getattr(exc, "status", None)
        code = getattr(status, "code", None)
        if isinstance(code, int):
            return code
    if isinstance(exc, httpx2.HTTPStatusError) and exc.response is not None:
        return int(exc.response.status_code)
    return None


def is_not_found(exc: BaseException) -> bool:
    return status_code(exc) == 404


def is_conflict(exc: BaseException) -> bool:
    return status_code(exc) == 409


def is_gone(exc: BaseException) -> bool:
    """410 Gone: the resourceVersion is too old; the client must list again."""
    return status_code(exc) == 410
