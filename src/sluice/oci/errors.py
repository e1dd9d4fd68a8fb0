"""Errors of the OCI client.

Every message is safe to show: it names the request (method and URL, which
never carry credentials) and the registry's answer, never a password, token
or Authorization header.

    OCIError
    ├── InvalidReference      the image name cannot be parsed (a spec error: stall)
    ├── CredentialsError      a pull secret that cannot be read (bad dockerconfigjson)
    ├── AuthenticationFailed  the registry or its token service refused us (401/403)
    ├── RegistryError         any other non-2xx answer, with the registry's error codes
    ├── InvalidResponse       a 2xx answer that is not what the API promises (garbage)
    └── TransportError        connection refused, TLS failure, timeout
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "CredentialsError",
    "InvalidReference",
    "InvalidResponse",
    "OCIError",
    "RegistryError",
    "TransportError",
]


class OCIError(Exception):
    """Base of every error raised by `sluice.oci`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidReference(OCIError):
    """An image reference that cannot be parsed, or carries what it must not."""


class CredentialsError(OCIError):
    """Credentials that cannot be used (malformed dockerconfigjson, bad PEM)."""


class RegistryError(OCIError):
    """A non-2xx answer; ``status`` is the HTTP status code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationFailed(RegistryError):
    """401/403 from the registry or its token endpoint."""


class InvalidResponse(OCIError):
    """A successful status with a body that is not what the API specifies."""


class TransportError(OCIError):
    """The request did not get an answer (connection, TLS, timeout)."""
