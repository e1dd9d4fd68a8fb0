"""Checking a webhook call per Receiver type, as Flux's receiver handlers do.

Each check takes the request's headers (case-insensitive mapping), body and
the Receiver's token and returns the event type (for the ``events``
filter) or raises `Rejected` with Flux's message. Comparisons of secrets are
constant-time.

``acr`` and ``quay``/``dockerhub`` only parse the payload (the secret path is
the authentication, as in Flux). ``cdevents`` checks the CloudEvents
``Ce-Type`` header against ``events`` and the body's CDEvents v0.4 shape
(``context`` with ``version``, ``id``, ``source``, ``type`` =
``dev.cdevents.<subject>.<predicate>.<version>`` and ``timestamp``, and a
``subject`` with an ``id``); Flux validates it against the full CDEvents
JSON schema, Sluice checks those required fields only. ``generic-oidc`` is
checked in ``oidc.py`` (the receiver server calls it instead of this).
``gcr`` (a Google-signed OIDC token for a service account's email) is not
served: `SUPPORTED_TYPES` leaves it out, and the reconciler stalls such
Receivers with Flux's ``recevier type ... not supported``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from sluice.controllers.notification.errors import Rejected

__all__ = ["SUPPORTED_TYPES", "unsupported_message", "validate"]

SUPPORTED_TYPES = frozenset({"generic", "generic-hmac", "github", "gitlab", "bitbucket",
                             "harbor", "dockerhub", "quay", "nexus", "acr", "cdevents",
                             "generic-oidc"})


def unsupported_message(kind: str) -> str:
    """Flux's wording, spelling included (receiver_handlers.go)."""
    return f'recevier type "{kind}" not supported'

_ALGOS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def _check_signature(signature: str, body: bytes, token: str) -> None:
    """go-github ValidateSignature: ``<algo>=<hex HMAC(body, token)>``."""
    if not signature:
        raise ValueError("missing signature")
    algo, _, hexdigest = signature.partition("=")
    hasher = _ALGOS.get(algo)
    if hasher is None or not hexdigest:
        raise ValueError(f"unknown hash type prefix: {algo!r}")
    expected = hmac.new(token.encode(), body, hasher).hexdigest()
    if not hmac.compare_digest(expected, hexdigest.lower()):
        raise ValueError("payload signature check failed")


def _github_body(headers: Mapping[str, str], body: bytes) -> bytes:
    content_type = headers.get("Content-Type", "application/json").split(";")[0].strip()
    if content_type == "application/x-www-form-urlencoded":
        return body  # the signature covers the form body as sent
    if content_type not in ("application/json", ""):
        raise ValueError(f"webhook request has unsupported Content-Type {content_type!r}")
    return body


def _allowed(event: str, events: list[str] | None, what: str) -> None:
    if events and not any(event.lower() == e.lower() for e in events):
        raise Rejected(f"the {what} event {event!r} is not authorised".replace("'", '"'))


def _json(body: bytes, what: str) -> dict[str, object]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected(f"cannot decode {what} webhook payload") from None
    if not isinstance(doc, dict):
        raise Rejected(f"cannot decode {what} webhook payload")
    return doc


def validate(kind: str, headers: Mapping[str, str], body: bytes, token: str,
             events: list[str] | None) -> str:
    """The event type of a valid call; `Rejected` otherwise."""
    if kind == "generic":
        return ""
    if kind == "generic-hmac":
        try:
            _check_signature(headers.get("X-Signature", ""), body, token)
        except ValueError as exc:
            raise Rejected(f"unable to validate HMAC signature: {exc}") from None
        return ""
    if kind in ("github", "bitbucket"):
        what = "GitHub" if kind == "github" else "Bitbucket server"
        signature = headers.get("X-Hub-Signature-256") or headers.get("X-Hub-Signature", "")
        try:
            signed = _github_body(headers, body)
            _check_signature(signature, signed, token)
        except ValueError as exc:
            raise Rejected(f"the {what} signature header is invalid, err: {exc}") from None
        event = headers.get("X-GitHub-Event" if kind == "github" else "X-Event-Key", "")
        if kind == "github" and event == "ping":
            return event  # GitHub's hello on webhook creation: accepted, nothing to do
        _allowed(event, events, what)
        return event
    if kind == "gitlab":
        if not hmac.compare_digest(headers.get("X-Gitlab-Token", "").encode(), token.encode()):
            raise Rejected("the X-Gitlab-Token header value does not match the receiver token")
        event = headers.get("X-Gitlab-Event", "")
        _allowed(event, events, "GitLab")
        return event
    if kind == "harbor":
        if not hmac.compare_digest(headers.get("Authorization", "").encode(), token.encode()):
            raise Rejected("the Harbor Authorization header value does not match the "
                           "receiver token")
        return ""
    if kind == "quay":
        _json(body, "Quay")
        return ""
    if kind == "dockerhub":
        _json(body, "DockerHub")
        return ""
    if kind == "nexus":
        signature = headers.get("X-Nexus-Webhook-Signature", "")
        if not signature:
            raise Rejected("the Nexus signature is missing from header")
        expected = hmac.new(token.encode(), body, hashlib.sha1).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise Rejected("invalid Nexus signature")
        _json(body, "Nexus")
        return ""
    if kind == "acr":
        doc = _json(body, "ACR")
        if not isinstance(doc.get("action", ""), str) or not isinstance(
                doc.get("target", {}), dict):
            raise Rejected("cannot decode ACR webhook payload")
        return ""
    if kind == "cdevents":
        event = headers.get("Ce-Type", "")
        _cdevent(body)
        if events and not any(event.lower() == e.lower() for e in events):
            raise Rejected(f'the CDEvent "{event}" is not authorised')
        return event
    raise Rejected(unsupported_message(kind))


_CDEVENT_CONTEXT = ("version", "id", "source", "type", "timestamp")


def _cdevent(body: bytes) -> None:
    """The required fields of a CDEvents v0.4 event (see the module docs)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("unable to validate CDEvent event: invalid JSON") from None
    context = doc.get("context") if isinstance(doc, dict) else None
    subject = doc.get("subject") if isinstance(doc, dict) else None
    if not isinstance(context, dict) or not isinstance(subject, dict):
        raise Rejected("unable to validate CDEvent event: 'context' and 'subject' are required")
    missing = [k for k in _CDEVENT_CONTEXT if not isinstance(context.get(k), str)
               or not context.get(k)]
    if missing:
        raise Rejected(f"unable to validate CDEvent event: context.{missing[0]} is required")
    if not str(context["type"]).startswith("dev.cdevents.") or not subject.get("id"):
        raise Rejected("unable to validate CDEvent event: unknown CDEvent type "
                       f"{context['type']!r} or subject without id".replace("'", '"'))
