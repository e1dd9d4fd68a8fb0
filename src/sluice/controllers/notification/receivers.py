"""The Receiver reconciler: a webhook path from the token, and Ready.

For each Receiver (``notification.toolkit.fluxcd.io/v1``), as Flux:

1. deleted -> drop the finalizer; otherwise add ``finalizers.fluxcd.io``;
2. suspended -> only acknowledge ``requestedAt`` (the receiver server
   answers 503 while suspended);
3. a type Sluice does not serve (``gcr``) is terminal:
   ``Ready=False`` and ``Stalled=True`` ``ValidationFailed`` with Flux's
   ``recevier type "<t>" not supported`` (Flux's spelling), never a 500;
   so are Flux's ``oidcProviders`` rules (generic-oidc only, no
   ``secretRef`` then, one validation at least, CEL that compiles:
   ``ValidationFailed`` / ``InvalidCELExpression``); compile the CEL
   ``resourceFilter`` and ``resources[].filter``
   (`resource_filters.validate_filters`): an invalid one is terminal,
   ``Ready=False`` and ``Stalled=True`` ``InvalidCELExpression`` with a
   Warning event, no requeue (the next spec change retries), the webhook
   path kept (calls get 503 while not Ready);
4. read the ``token`` of ``spec.secretRef``; missing Secret or key ->
   ``Ready=False TokenNotFound`` and the webhook path cleared;
5. ``status.webhookPath`` = ``/hook/`` + hex(sha256(token + name +
   namespace)), ``Ready=True Succeeded`` ``Receiver initialized for path:
   <path>``, observedGeneration, ``lastHandledReconcileAt``; requeue after
   ``spec.interval`` (10m) so a rotated token is picked up.

The token never appears in status, events or logs; only its digest does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from sluice.api.meta import INVALID_CEL_EXPRESSION, READY, RECONCILING, STALLED, SUCCEEDED
from sluice.api.notification import (
    TOKEN_NOT_FOUND,
    VALIDATION_FAILED,
    WEBHOOK_PATH_PREFIX,
    Receiver,
)
from sluice.controllers.notification.oidc import validate_oidc_providers
from sluice.controllers.notification.resource_filters import validate_filters
from sluice.controllers.notification.signatures import SUPPORTED_TYPES, unsupported_message
from sluice.core.durations import SECOND, DurationError, parse_duration
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.events import EventRecorder
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects
from sluice.runtime import conditions
from sluice.runtime.informer import Informer
from sluice.runtime.reconciler import Request, Result
from sluice.runtime.status import (
    StatusPatcher,
    has_finalizer,
    is_deleting,
    is_suspended,
    record_reconcile_request,
)

__all__ = ["ReceiverReconciler", "TokenError", "webhook_path"]

log = logging.getLogger("sluice.controllers.notification")


class TokenError(Exception):
    pass


def webhook_path(token: str, name: str, namespace: str) -> str:
    digest = hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()
    return f"{WEBHOOK_PATH_PREFIX}{digest}"


def token_from(secret: Mapping[str, Any] | None, namespace: str, name: str) -> str:
    if secret is None:
        raise TokenError(f"unable to read token from secret '{namespace}/{name}' error: "
                         f"secrets \"{name}\" not found")
    raw = (secret.get("data") or {}).get("token")
    if raw is None:
        raise TokenError(f"invalid '{name}' secret data: required field 'token'")
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TokenError(f"invalid '{name}' secret data: field 'token' is not valid "
                         "base64 text") from None


def _oidc_spec_error(spec: Mapping[str, Any]) -> tuple[str, str] | None:
    """Flux's validateOIDCSpec and the oidcProviders checks: (reason, message) or None."""
    oidc = spec.get("type") == "generic-oidc"
    providers = spec.get("oidcProviders") or []
    if oidc and not providers:
        return VALIDATION_FAILED, "generic-oidc receiver requires at least one oidcProvider"
    if not oidc and providers:
        return VALIDATION_FAILED, "oidcProviders can only be set when type is generic-oidc"
    if oidc and spec.get("secretRef"):
        return VALIDATION_FAILED, "secretRef cannot be set when type is generic-oidc"
    if not oidc and not spec.get("secretRef"):
        return VALIDATION_FAILED, "secretRef is required when type is not generic-oidc"
    return validate_oidc_providers(providers) if providers else None


def _interval(obj: Receiver) -> float:
    try:
        return parse_duration(str(obj.spec.interval or "10m")) / SECOND
    except DurationError:
        return 600.0


class ReceiverReconciler:
    def __init__(self, informer: Informer, objects: Objects, secrets: ResourceMapping,
                 patcher: StatusPatcher, recorder: EventRecorder | None = None) -> None:
        self.recorder = recorder
        self.informer = informer
        self.objects = objects
        self.secrets = secrets
        self.patcher = patcher

    async def reconcile(self, request: Request) -> Result:
        raw = self.informer.get(request.namespace, request.name)
        if raw is None:
            return Result()
        obj = Receiver.from_dict(raw)
        before = obj.status.to_dict()
        if is_deleting(obj):
            if has_finalizer(obj):
                try:
                    await self.patcher.remove_finalizer(obj)
                except KubeError as exc:
                    if not is_not_found(exc):
                        raise
            return Result()
        if not has_finalizer(obj):
            await self.patcher.add_finalizer(obj)
        if is_suspended(obj):
            record_reconcile_request(obj)
            await self.patcher.patch_status(obj, before)
            return Result(outcome="suspended")
        status = obj.status
        generation = obj.metadata.generation or 0
        spec = raw.get("spec") or {}
        kind = str(spec.get("type") or "")
        if kind not in SUPPORTED_TYPES:
            return await self._stall(obj, raw, before, VALIDATION_FAILED,
                                     unsupported_message(kind))
        invalid = validate_filters(spec)
        if invalid is not None:
            return await self._stall(obj, raw, before, INVALID_CEL_EXPRESSION, invalid)
        oidc = _oidc_spec_error(spec)
        if oidc is not None:
            return await self._stall(obj, raw, before, *oidc)
        try:
            ref = obj.spec.secret_ref.name if obj.spec.secret_ref else ""
            if not ref:
                # generic-oidc: no Secret, the path comes from the name and namespace alone.
                token = ""
            else:
                secret = await self.objects.get_or_none(self.secrets, ref, request.namespace)
                token = token_from(secret, request.namespace, ref)
        except TokenError as exc:
            status.webhook_path = None
            conditions.mark_false(status, READY, TOKEN_NOT_FOUND, str(exc), generation)
            conditions.delete(status, RECONCILING)
            conditions.delete(status, STALLED)
            record_reconcile_request(obj)
            status.observed_generation = generation
            await self.patcher.patch_status(obj, before)
            log.info("Receiver %s: %s", request, exc)
            return Result(requeue_after=_interval(obj))
        path = webhook_path(token, request.name, request.namespace)
        status.webhook_path = path
        conditions.mark_true(status, READY, SUCCEEDED,
                             f"Receiver initialized for path: {path}", generation)
        conditions.delete(status, RECONCILING)
        conditions.delete(status, STALLED)
        status.observed_generation = generation
        record_reconcile_request(obj)
        await self.patcher.patch_status(obj, before)
        return Result(requeue_after=_interval(obj))

    async def _stall(self, obj: Receiver, raw: Mapping[str, Any], before: dict[str, Any],
                     reason: str, message: str) -> Result:
        """Terminal: Ready=False and Stalled=True, a Warning, no requeue (a spec change retries);
        the webhook path is kept and calls get 503 while not Ready."""
        status = obj.status
        generation = obj.metadata.generation or 0
        conditions.mark_false(status, READY, reason, message, generation)
        conditions.mark_stalled(status, reason, message, generation)
        conditions.delete(status, RECONCILING)
        record_reconcile_request(obj)
        status.observed_generation = generation
        await self.patcher.patch_status(obj, before)
        log.error("Receiver %s/%s: %s", obj.metadata.namespace, obj.metadata.name, message)
        if self.recorder is not None:
            await self.recorder.warning(raw, reason, message)
        return Result(outcome="stalled")
