"""Errors of the notification controller.

::

    NotificationError
    ├── InvalidEvent          the event server got something that is not Flux's event JSON (400)
    ├── ProviderError         a Provider cannot be used as configured (bad type, secret, address)
    ├── DeliveryFailed        a provider endpoint refused or never answered (after retries)
    └── ReceiverError         a webhook call is refused
        ├── NotFound          no Receiver has this path (404)
        ├── Unavailable       the Receiver is suspended or not ready (503)
        └── Rejected          bad signature, token or payload (400/401)

Messages never carry the secret parts (webhook addresses, tokens): callers
mask them with `mask` before an error reaches a log, an event or a status.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DeliveryFailed",
    "InvalidEvent",
    "NotFound",
    "NotificationError",
    "ProviderError",
    "ReceiverError",
    "Rejected",
    "Unavailable",
    "mask",
]


class NotificationError(Exception):
    """Base class."""


class InvalidEvent(NotificationError):
    """The request body is not an event."""


class ProviderError(NotificationError):
    """The Provider's configuration cannot be used."""


class DeliveryFailed(NotificationError):
    """The endpoint answered with an error, or not at all, after the retries."""


class ReceiverError(NotificationError):
    """A webhook call is refused; ``status`` is the HTTP answer."""

    status = 400


class NotFound(ReceiverError):
    status = 404


class Unavailable(ReceiverError):
    status = 503


class Rejected(ReceiverError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``*****`` (fluxcd/pkg masktoken does the same)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "*****")
    return text
