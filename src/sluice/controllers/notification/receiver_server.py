"""The webhook endpoint (Flux's ``--receiverAddr=:9292``): a valid call reconciles resources.

A POST to ``/hook/<digest>``:

* no Receiver with that ``status.webhookPath`` -> 404; suspended or not
  Ready -> 503; a body over 3 MiB -> 413;
* the call is checked for the Receiver's type (`signatures.validate`) with
  the token read from its Secret now (so a rotated token takes effect
  immediately), or for ``generic-oidc`` its bearer token verified against
  the issuer (`oidc.OIDCVerifier`, whose claims the CEL filters then see)
  -> 400 on failure, and nothing is changed;
* every resource (namespace defaulting to the Receiver's; Flux source kinds
  default their apiVersion; ``name: "*"`` needs ``matchLabels`` and lists
  the objects; none found is logged and still 200, as Flux) that the CEL
  filters accept (`resource_filters`) gets ``reconcile.fluxcd.io/requestedAt``
  set to Go's ``time.Now().String()`` by a merge patch -> 500 if any fails
  (a filter that errors on the data included), else 200.

Logs name the Receiver, never the path's digest (it is a bearer secret: who
knows the path can trigger reconciles) nor the token.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sluice.api.meta import READY, RECONCILE_REQUEST_ANNOTATION
from sluice.controllers.notification.errors import Rejected
from sluice.controllers.notification.event_server import MAX_BODY, HTTPServer
from sluice.controllers.notification.oidc import OIDCVerifier
from sluice.controllers.notification.receivers import TokenError, token_from
from sluice.controllers.notification.resource_filters import (
    CELError,
    ResourceFilter,
    build_filters,
)
from sluice.controllers.notification.signatures import validate
from sluice.kube.errors import KubeError
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects
from sluice.runtime.informer import Informer

__all__ = ["DEFAULT_API_VERSIONS", "ReceiverServer", "go_now"]

log = logging.getLogger("sluice.controllers.notification")

DEFAULT_API_VERSIONS = {
    "Bucket": "source.toolkit.fluxcd.io/v1",
    "GitRepository": "source.toolkit.fluxcd.io/v1",
    "HelmChart": "source.toolkit.fluxcd.io/v1",
    "HelmRepository": "source.toolkit.fluxcd.io/v1",
    "OCIRepository": "source.toolkit.fluxcd.io/v1",
    "ImageRepository": "image.toolkit.fluxcd.io/v1",
    "ArtifactGenerator": "source.extensions.fluxcd.io/v1beta1",
}
WEBHOOK_INDEX = "webhookPath"
_START = time.monotonic()


def go_now() -> str:
    """Go's ``time.Now().String()``: ``2026-08-07 12:00:00.123456789 +0000 UTC m=+123.400000001``."""
    now = datetime.now(UTC)
    nanos = f"{now.microsecond * 1000:09d}".rstrip("0")
    frac = f".{nanos}" if nanos else ""
    return (f"{now:%Y-%m-%d %H:%M:%S}{frac} +0000 UTC "
            f"m=+{time.monotonic() - _START:.9f}")


def webhook_keys(obj: Mapping[str, Any]) -> list[str]:
    path = (obj.get("status") or {}).get("webhookPath")
    return [str(path)] if path else []


def _ready(obj: Mapping[str, Any]) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == READY:
            return bool(cond.get("status") == "True")
    return False


class ReceiverServer(HTTPServer):
    def __init__(self, addr: str, receivers: Informer, objects: Objects,
                 secrets: ResourceMapping, *, no_cross_namespace_refs: bool = False) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        super().__init__(addr, app)
        self.receivers = receivers
        self.objects = objects
        self.secrets = secrets
        self.no_cross_namespace_refs = no_cross_namespace_refs
        self.oidc = OIDCVerifier()
        self.handled = 0

    async def close(self) -> None:
        await super().close()
        await self.oidc.aclose()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        matches = self.receivers.by_index(WEBHOOK_INDEX, request.path)
        if not matches:
            return web.Response(status=404)
        receiver = matches[0]
        meta = receiver.get("metadata") or {}
        name, namespace = str(meta.get("name")), str(meta.get("namespace"))
        spec = receiver.get("spec") or {}
        if spec.get("suspend") or not _ready(receiver):
            log.info("Receiver %s/%s is suspended or not ready", namespace, name)
            return web.Response(status=503)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413)
        claims: dict[str, Any] | None = None
        try:
            if spec.get("type") == "generic-oidc":
                claims = await self.oidc.verify(spec, request.headers.get("Authorization", ""))
                event = ""
            else:
                ref = str((spec.get("secretRef") or {}).get("name") or "")
                secret = (await self.objects.get_or_none(self.secrets, ref, namespace)
                          if ref else None)
                token = token_from(secret, namespace, ref)
                event = validate(str(spec.get("type") or ""), request.headers, body, token,
                                 spec.get("events"))
        except TokenError as exc:
            log.error("Receiver %s/%s: %s", namespace, name, exc)
            return web.Response(status=500)
        except Rejected as exc:
            log.info("Receiver %s/%s: unable to validate payload: %s", namespace, name, exc)
            return web.Response(status=exc.status)
        if event == "ping" and spec.get("type") == "github":
            log.info("Receiver %s/%s: GitHub ping accepted", namespace, name)
            return web.Response(status=200)
        try:
            filters = build_filters(spec, body, request.headers.get("Content-Type", ""),
                                    claims)
        except CELError as exc:
            log.error("Receiver %s/%s: unable to create resource filters: %s", namespace, name,
                      exc)
            return web.Response(status=500)
        failed = False
        for resource, accept in zip(spec.get("resources") or [], filters, strict=True):
            try:
                await self._request_reconciliation(resource, namespace, accept)
            except (KubeError, ValueError) as exc:
                log.error("Receiver %s/%s: unable to request reconciliation: %s", namespace,
                          name, exc)
                failed = True
        self.handled += 1
        return web.Response(status=500 if failed else 200)

    async def _request_reconciliation(self, resource: Mapping[str, Any], default_ns: str,
                                      accept: ResourceFilter | None = None) -> None:
        kind = str(resource.get("kind") or "")
        namespace = str(resource.get("namespace") or default_ns)
        if self.no_cross_namespace_refs and namespace != default_ns:
            raise ValueError("cross-namespace references are not allowed")
        api_version = str(resource.get("apiVersion") or DEFAULT_API_VERSIONS.get(kind, ""))
        if not api_version:
            raise ValueError(f'apiVersion must be specified for kind "{kind}"')
        mapping = await self.objects.mapping(api_version, kind)
        name = str(resource.get("name") or "")
        if name == "*":
            labels = resource.get("matchLabels")
            if not labels:
                raise ValueError("matchLabels field not set when using wildcard '*' as name")
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            items, _ = await self.objects.list(mapping, namespace, label_selector=selector)
            if not items:
                # Flux logs this and still answers 200.
                log.error("error annotating resources: no %s resources found with matching "
                          "labels %s in %s namespace", json.dumps(kind), json.dumps(labels),
                          json.dumps(namespace))
                return
        elif accept is not None:
            # Flux reads the object first (the filter needs its metadata).
            found = await self.objects.get_or_none(mapping, name, namespace)
            if found is None:
                raise ValueError(f'unable to read {kind} "{namespace}/{name}" error: '
                                 f'{mapping.plural}.{mapping.group} "{name}" not found')
            items = [found]
        else:
            items = [{"metadata": {"name": name}}]
        for obj in items:
            item = str(obj["metadata"]["name"])
            if accept is not None:
                res = {"apiVersion": api_version, "kind": kind,
                       "metadata": obj.get("metadata") or {}}
                try:
                    accepted = accept(res)
                except CELError as exc:
                    raise ValueError(str(exc)) from None
                if not accepted:
                    log.debug("resource '%s/%s.%s' NOT annotated because CEL expression "
                              "returned false", kind, item, namespace)
                    continue
            patch = {"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: go_now()}}}
            try:
                await self.objects.merge_patch(mapping, item, patch, namespace)
            except KubeError as exc:
                raise ValueError(f"failed to annotate resource: '{kind}/{item}.{namespace}': "
                                 f"{exc}") from None
            log.info("resource '%s/%s.%s' annotated", kind, item, namespace)
