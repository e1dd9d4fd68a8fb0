"""Failures of the image reflector, each carrying the Flux reason users see in status.

    ReflectorError (reason, message)
    ├── ImageURLInvalid     the image cannot be parsed: Stalled until the spec changes
    ├── AuthOptionsFailed   secrets/certs/proxy unusable: Ready=False AuthenticationFailed
    ├── ScanFailed          the registry did not give tags: Ready=False ReadOperationFailed
    ├── InvalidPolicy       bad policy or filter: Stalled InvalidPolicy
    ├── DependencyFailed    ImageRepository missing or not scanned: DependencyNotReady
    ├── AccessDenied        cross-namespace reference refused: AccessDenied
    └── PolicyFailed        the policy could not decide (bad numeric tag...): Failure
"""

from __future__ import annotations

from sluice.api.image import AUTHENTICATION_FAILED, IMAGE_URL_INVALID, READ_OPERATION_FAILED
from sluice.api.meta import ACCESS_DENIED, DEPENDENCY_NOT_READY

__all__ = [
    "AccessDenied",
    "AuthOptionsFailed",
    "DependencyFailed",
    "ImageURLInvalid",
    "InvalidPolicy",
    "PolicyFailed",
    "ReflectorError",
    "ScanFailed",
]


class ReflectorError(Exception):
    reason = "Failure"
    # Stalled errors are not retried until the object changes.
    stalls = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ImageURLInvalid(ReflectorError):
    reason = IMAGE_URL_INVALID
    stalls = True


class AuthOptionsFailed(ReflectorError):
    reason = AUTHENTICATION_FAILED


class ScanFailed(ReflectorError):
    reason = READ_OPERATION_FAILED


class InvalidPolicy(ReflectorError):
    reason = "InvalidPolicy"
    stalls = True


class DependencyFailed(ReflectorError):
    reason = DEPENDENCY_NOT_READY


class AccessDenied(ReflectorError):
    reason = ACCESS_DENIED


class PolicyFailed(ReflectorError):
    reason = "Failure"
