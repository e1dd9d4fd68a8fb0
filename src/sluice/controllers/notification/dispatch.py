"""Sending one event through one matched Alert's Provider, in the background.

Follows Flux's ``dispatchNotification``, in order:

1. with ``--no-cross-namespace-refs``, an event from another namespace than
   the Alert's is refused;
2. the Provider (``providerRef``, the Alert's namespace) is read; a
   suspended one is skipped silently;
3. commit-status rules: a ``<group>/commit_status: update`` event goes only
   to commit-status and generic providers; a commit-status provider takes
   only events with an ``event.toolkit.fluxcd.io/commit`` key, commit-status
   updates, or errors (others are dropped, logged once per event); the
   status context is the Provider's CEL ``commitStatusExpr`` (over
   ``event``, ``alert``, ``provider``) when set, see `commit_status_context`;
4. the metadata is combined (conflicts: a Warning ``MetadataAppendFailed``),
   the optional message template (Sluice annotation
   ``notification.sluice.dev/message-template`` on the Alert) rendered;
5. the Provider's Secrets are read and the notification is queued on the
   `Lane` of the provider's address (see `lanes`): a few sends in flight
   per address, each bounded by ``spec.timeout`` (15 s) from the moment it
   is sent, a bounded queue whose oldest entries are dropped when full.

A dropped notification is a Warning ``NotificationDropped`` on its Alert
(``dropped <n> notification(s) for provider '<name>': <m> waiting for the
provider's address``), at most one per Alert per `DROP_REPORT_INTERVAL`,
the rest counted into the next one, and logged.

Failures before sending are a Warning ``NotificationDispatchFailed``
``failed to dispatch notification for <Kind>/<ns>/<name>: <err>`` on the
Alert; failures while sending ``failed to send notification for ...``,
with the address, token and other secret values masked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sluice.controllers.notification.errors import (
    DeliveryFailed,
    NotificationError,
    ProviderError,
    mask,
)
from sluice.controllers.notification.ingest import EVENT_GROUP, Event
from sluice.controllers.notification.lanes import Job, Lane, LaneLimits, Lanes, LaneStats
from sluice.controllers.notification.matching import CONFLICT_MESSAGE, combine_metadata
from sluice.controllers.notification.provider_config import SecretReader, provider_config
from sluice.controllers.notification.providers.base import Sender
from sluice.controllers.notification.providers.factory import (
    COMMIT_STATUS_TYPES,
    GENERIC_TYPES,
    notifier_for,
)
from sluice.core.cel import CELError, compile_expression
from sluice.core.durations import SECOND, DurationError, parse_duration
from sluice.core.gotemplate import TemplateError, render_async

__all__ = ["MESSAGE_TEMPLATE_ANNOTATION", "Delivery", "DispatchOptions", "Dispatcher",
           "commit_status_context"]

log = logging.getLogger("sluice.controllers.notification")

MESSAGE_TEMPLATE_ANNOTATION = "notification.sluice.dev/message-template"
DEFAULT_TIMEOUT = 15.0
# Lane keys of the providers that build their address themselves.
_NO_ADDRESS_KEY = {"telegram": "https://api.telegram.org"}
# At most one NotificationDropped Warning per Alert per interval (seconds).
DROP_REPORT_INTERVAL = 30.0

Warn = Callable[[Mapping[str, Any], str, str, Mapping[str, str] | None], Awaitable[None]]


@dataclass
class DispatchOptions:
    no_cross_namespace_refs: bool = False
    # retryablehttp's RetryWaitMin (2 s in Flux); tests shorten it.
    retry_wait_min: float = 2.0
    retries: int = 4
    lanes: LaneLimits = field(default_factory=LaneLimits)


@dataclass(frozen=True)
class Delivery:
    """One notification handed to a provider (for ``sluice events`` and the bench)."""

    alert: str
    provider: str
    provider_type: str
    object: str
    message: str
    ok: bool
    error: str = ""


def _timeout(provider: Mapping[str, Any]) -> float:
    value = (provider.get("spec") or {}).get("timeout")
    if not value:
        return DEFAULT_TIMEOUT
    try:
        return max(parse_duration(str(value)) / SECOND, 0.001)
    except DurationError:
        return DEFAULT_TIMEOUT


def commit_status_context(provider: Mapping[str, Any], alert: Mapping[str, Any],
                           event: Event) -> str:
    """Flux's ``createCommitStatus``: ``spec.commitStatusExpr`` or kind/name/uid-prefix."""
    expr = str((provider.get("spec") or {}).get("commitStatusExpr") or "")
    if expr:
        try:
            compiled = compile_expression(expr, ("event", "alert", "provider"), "string")
            return compiled.evaluate_string({"event": event.to_json(),
                                             "alert": alert, "provider": provider})
        except CELError as exc:
            raise ProviderError("failed to create commit status: failed to evaluate the "
                                f"spec.commitStatusExpr CEL expression for the event: {exc}"
                                ) from None
    uid = str((provider.get("metadata") or {}).get("uid") or "")
    return f"{event.kind}/{event.name}/{uid.split('-')[0]}".lower()


class Dispatcher:
    """Sends matched events through Providers, one `Lane` per provider address."""

    def __init__(self, providers: Callable[[str, str], Mapping[str, Any] | None],
                 secrets: SecretReader, warn: Warn, options: DispatchOptions | None = None,
                 on_delivery: Callable[[Delivery], Awaitable[None]] | None = None) -> None:
        self.providers = providers
        self.secrets = secrets
        self.warn = warn
        self.options = options or DispatchOptions()
        self.on_delivery = on_delivery
        self.lanes = Lanes(self.options.lanes, self._dropped, self._idle)
        # Drops not yet reported, and when each Alert was last warned about drops.
        self._drops: dict[tuple[str, str], tuple[Job, int]] = {}
        self._drops_warned: dict[tuple[str, str], float] = {}
        self._reports: set[asyncio.Task[None]] = set()
        # Called with "sent", "failed" or "dropped" per notification (the controller's metrics).
        self.count: Callable[[str], None] = lambda result: None

    def stats(self) -> LaneStats:
        """Notifications queued, sent and dropped since start."""
        return self.lanes.stats()

    async def aclose(self) -> None:
        await self.lanes.aclose()
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every queued notification was sent or failed (tests and the bench)."""
        await self.lanes.drain()
        while self._reports:
            await asyncio.gather(*list(self._reports), return_exceptions=True)

    def _dropped(self, job: Job) -> None:
        self.count("dropped")
        _, count = self._drops.get(job.alert_key, (job, 0))
        self._drops[job.alert_key] = (job, count + 1)
        last = self._drops_warned.get(job.alert_key)
        if last is None or time.monotonic() - last >= DROP_REPORT_INTERVAL:
            self._report_drops(job.alert_key)

    def _idle(self, lane: Lane) -> None:
        # A burst is over: report what it dropped now rather than at the next drop.
        for key in list(self._drops):
            self._report_drops(key)

    def _report_drops(self, key: tuple[str, str]) -> None:
        job, count = self._drops.pop(key)
        self._drops_warned[key] = time.monotonic()
        message = (f"dropped {count} notification(s) for provider '{job.provider}': "
                   f"the queue for the provider's address was full "
                   f"({self.options.lanes.queued} waiting)")
        log.warning("alert %s/%s: %s", key[0], key[1], message)
        if job.alert is not None:
            async def report(alert: Mapping[str, Any]) -> None:
                await self.warn(alert, "NotificationDropped", message, None)

            task = asyncio.get_running_loop().create_task(report(job.alert),
                                                          name="notify-dropped")
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)

    async def dispatch(self, event: Event, alert: Mapping[str, Any]) -> str | None:
        """Start sending; returns a reason when the event was dropped for this alert."""
        try:
            return await self._dispatch(event, alert)
        except NotificationError as exc:
            await self.warn(alert, "NotificationDispatchFailed",
                            f"failed to dispatch notification for {event.object_string()}: "
                            f"{exc}", None)
            return "failed"

    async def _dispatch(self, event: Event, alert: Mapping[str, Any]) -> str | None:
        meta = alert.get("metadata") or {}
        alert_ns = str(meta.get("namespace") or "")
        alert_name = str(meta.get("name") or "")
        if self.options.no_cross_namespace_refs and event.namespace != alert_ns:
            raise NotificationError(
                "discarding event, access denied to cross-namespace sources: alert "
                f"'{alert_ns}/{alert_name}' can't process event from '{event.object_string()}',"
                " cross-namespace references have been blocked")
        provider_name = str(((alert.get("spec") or {}).get("providerRef") or {}).get("name", ""))
        provider = self.providers(alert_ns, provider_name)
        if provider is None:
            raise ProviderError(f"failed to read provider: providers.notification.toolkit."
                                f"fluxcd.io \"{provider_name}\" not found")
        pspec = provider.get("spec") or {}
        if pspec.get("suspend"):
            return "provider suspended"
        ptype = str(pspec.get("type") or "")
        group = event.group
        commit_update = event.metadata.get(f"{group}/commit_status") == "update"
        if ptype not in COMMIT_STATUS_TYPES and ptype not in GENERIC_TYPES and commit_update:
            return "commit status update"
        if (ptype in COMMIT_STATUS_TYPES and f"{EVENT_GROUP}/commit" not in event.metadata
                and not commit_update and event.severity != "error"):
            log.info("event dropped for commit status providers due to missing commit "
                     "metadata key", extra={"object": event.object_string(),
                                            "result": f"{alert_ns}/{alert_name}"})
            return "missing commit metadata"
        notification = event.copy()
        conflict = combine_metadata(notification, alert)
        if conflict is not None:
            await self.warn(alert, "MetadataAppendFailed", CONFLICT_MESSAGE,
                            conflict.annotations)
        template = (meta.get("annotations") or {}).get(MESSAGE_TEMPLATE_ANNOTATION)
        if template:
            try:
                notification.message = await render_async(
                    template, notification.to_json(), name="message template")
            except TemplateError as exc:
                await self.warn(alert, "InvalidConfig",
                                f"failed to render the message template: {exc}", None)
        context = (commit_status_context(provider, alert, notification)
                   if ptype in COMMIT_STATUS_TYPES else "")
        cfg = await provider_config(provider, self.secrets, context)
        notifier = notifier_for(cfg)
        timeout = _timeout(provider)
        label = (f"{alert_ns}/{alert_name}", f"{cfg.namespace}/{cfg.name}", ptype)

        async def send(client: aiohttp.ClientSession) -> None:
            # Runs once the lane gives it a slot: the timeout starts here, not when queued.
            sender = Sender(cfg, wait_min=self.options.retry_wait_min,
                            retries=self.options.retries, shared=client)
            error = ""
            try:
                async with asyncio.timeout(timeout):
                    await notifier(cfg, notification, sender)
            except TimeoutError:
                error = f"context deadline exceeded (timeout {timeout:g}s)"
            except (DeliveryFailed, ProviderError) as exc:
                error = str(exc)
            except Exception as exc:  # a provider bug must not go unnoticed
                log.exception("provider %s failed", ptype)
                error = f"{type(exc).__name__}: {exc}"
            finally:
                await sender.aclose()
            self.count("failed" if error else "sent")
            if error:
                error = mask(error, cfg.secrets)
                log.warning("failed to send notification for %s: %s",
                            event.object_string(), error)
                await self.warn(alert, "NotificationDispatchFailed",
                                f"failed to send notification for {event.object_string()}: "
                                f"{error}", None)
            if self.on_delivery is not None:
                await self.on_delivery(Delivery(label[0], label[1], label[2], event.object_string(),
                                          notification.message, not error, error))

        lane = await self.lanes.get(cfg.address or _NO_ADDRESS_KEY.get(ptype, ptype))
        lane.submit(Job(send, (alert_ns, alert_name), alert, cfg.name))
        return None
