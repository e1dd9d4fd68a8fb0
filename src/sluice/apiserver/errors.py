"""Errors of the embedded cluster, each one a Kubernetes ``metav1.Status``.

Every failure a client can see leaves the server as a Status object with the
code, reason and details the real API server would use, so that kubectl,
client-go, the official Python client and lightkube all report it the way
they report a real cluster's errors.

    ApiError                      (any Status failure; code and reason given)
    ├── BadRequest                400 BadRequest
    ├── Unauthorized              401 Unauthorized
    ├── Forbidden                 403 Forbidden
    ├── NotFound                  404 NotFound
    ├── MethodNotAllowed          405 MethodNotAllowed
    ├── NotAcceptable             406 NotAcceptable
    ├── AlreadyExists             409 AlreadyExists
    ├── Conflict                  409 Conflict (stale resourceVersion, apply conflicts)
    ├── Gone                      410 Expired (watch or continue token too old)
    ├── RequestEntityTooLarge     413 RequestEntityTooLarge
    ├── UnsupportedMediaType      415 UnsupportedMediaType
    ├── Invalid                   422 Invalid (with causes naming each field)
    ├── InternalError             500 InternalError
    └── StorageFailed             500 InternalError (the database could not commit)

    DataDirInUse                  (not a Status: another server holds the data directory)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Cause:
    """One reason an object was refused: the field path, the kind of fault, a message."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class ApiError(Exception):
    """A failed request, rendered as a ``metav1.Status``."""

    code: int
    reason: str
    message: str
    group: str = ""
    kind: str = ""
    name: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after: int | None = None

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body


def _resource_text(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def BadRequest(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def Unauthorized(message: str = "Unauthorized") -> ApiError:
    return ApiError(401, "Unauthorized", message)


def Forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def NotFound(group: str, resource: str, name: str) -> ApiError:
    text = _resource_text(group, resource)
    message = f'{text} "{name}" not found' if name else "the server could not find the requested resource"
    return ApiError(404, "NotFound", message, group=group, kind=resource, name=name)


def MethodNotAllowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def NotAcceptable(message: str) -> ApiError:
    return ApiError(406, "NotAcceptable", message)


def AlreadyExists(group: str, resource: str, name: str) -> ApiError:
    text = _resource_text(group, resource)
    return ApiError(409, "AlreadyExists", f'{text} "{name}" already exists',
                    group=group, kind=resource, name=name)


def Conflict(group: str, resource: str, name: str, why: str,
             causes: list[Cause] | None = None) -> ApiError:
    text = _resource_text(group, resource)
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {text} "{name}": {why}',
                    group=group, kind=resource, name=name, causes=causes or [])


def Gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def RequestEntityTooLarge(message: str = "Request entity too large: limit is 3145728") -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", message)


def UnsupportedMediaType(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def Invalid(group: str, kind: str, name: str, causes: list[Cause]) -> ApiError:
    """422: ``Kind.group "name" is invalid: field: message, ...`` as the API server words it."""
    text = f"{kind}.{group}" if group else kind
    if len(causes) == 1:
        detail = f"{causes[0].field}: {causes[0].message}" if causes[0].field else causes[0].message
    else:
        detail = "[" + ", ".join(
            f"{c.field}: {c.message}" if c.field else c.message for c in causes) + "]"
    return ApiError(422, "Invalid", f'{text} "{name}" is invalid: {detail}',
                    group=group, kind=kind, name=name, causes=causes)


def InternalError(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


class StorageFailed(ApiError):
    """A commit to the cluster's database failed: every request after it gets this 500."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(500, "InternalError", "Internal error occurred: the cluster's "
                         f"database could not commit: {cause}")


class DataDirInUse(Exception):
    """Another embedded cluster holds the exclusive lock on this data directory."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "another process"
        super().__init__(f"data directory {data_dir} is in use by another sluice server "
                         f"({holder}); stop it or choose another --data-dir")
        self.data_dir = data_dir
        self.pid = pid
