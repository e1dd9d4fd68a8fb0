"""Registering the notification controller on a manager.

`setup_notification_controller` creates the Alert, Provider and Receiver
informers, the event pipeline and its HTTP server (``event_server_addr``),
the receiver server (``receiver_addr``) and the Receiver reconciler. Both
servers are runnables: they serve on every replica, leader or not, as
Flux's do. When ``in_process`` (``sluice up``, or ``sluice controllers run``
with several groups), the manager's event forwarder hands events straight
to the pipeline: no loopback HTTP hop, same answers.

The controller's own Events (on Alerts) are recorded as Kubernetes Events
only, never forwarded, so a failing provider cannot feed itself. Each
delivery is also recorded on its Alert as a Normal ``NotificationDispatched``
event (a Sluice addition: ``sluice events --for Alert/<name>`` shows what was
sent, never where to), and counted in ``sluice_notifications_total{result}``
(``sent``, ``failed``, ``dropped``) next to ``sluice_notification_queue_depth``
on the manager's ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice.api.notification import ALERTS_VERSION, COMPONENT, GROUP, RECEIVER_VERSION
from sluice.controllers.notification.dispatch import Delivery, Dispatcher, DispatchOptions
from sluice.controllers.notification.event_server import EventServer, HTTPServer
from sluice.controllers.notification.ingest import RateLimiter
from sluice.controllers.notification.lanes import LaneLimits
from sluice.controllers.notification.matching import AlertMatcher
from sluice.controllers.notification.pipeline import EventPipeline
from sluice.controllers.notification.receiver_server import (
    WEBHOOK_INDEX,
    ReceiverServer,
    webhook_keys,
)
from sluice.controllers.notification.receivers import ReceiverReconciler
from sluice.kube.events import EventRecorder
from sluice.runtime.controller import Controller
from sluice.runtime.manager import Manager
from sluice.runtime.metrics import Counter, Gauge
from sluice.runtime.status import StatusPatcher

__all__ = ["NotificationController", "NotificationOptions", "setup_notification_controller"]

log = logging.getLogger("sluice.controllers.notification")

API_ALERTS = f"{GROUP}/{ALERTS_VERSION}"
API_RECEIVERS = f"{GROUP}/{RECEIVER_VERSION}"


@dataclass
class NotificationOptions:
    # Where the event server listens (Flux's notification-controller --events-addr).
    event_server_addr: str | None = ":9091"
    # Flux's --receiverAddr.
    receiver_addr: str | None = ":9292"
    # Flux's --rate-limit-interval (5m); 0 disables.
    rate_limit_interval: float = 300.0
    no_cross_namespace_refs: bool = False
    # Events from this process's controllers go straight to the pipeline.
    in_process: bool = True
    retry_wait_min: float = 2.0
    record_deliveries: bool = True
    # Sends in flight and queued per provider address (see lanes.py).
    lanes: LaneLimits = field(default_factory=LaneLimits)


@dataclass
class NotificationController:
    pipeline: EventPipeline
    dispatcher: Dispatcher
    event_server: EventServer | None
    receiver_server: ReceiverServer | None
    receivers: Controller


async def setup_notification_controller(manager: Manager,
                                        options: NotificationOptions | None = None
                                        ) -> NotificationController:
    options = options or NotificationOptions()
    alerts = await manager.informer(API_ALERTS, "Alert")
    providers = await manager.informer(API_ALERTS, "Provider")
    receivers = await manager.informer(API_RECEIVERS, "Receiver")
    receivers.add_index(WEBHOOK_INDEX, webhook_keys)
    secrets = await manager.objects.mapping("v1", "Secret")
    objects = manager.objects
    # Not manager.event_recorder: the controller's own events are not forwarded.
    recorder = EventRecorder(objects, COMPONENT)

    async def warn(alert: Mapping[str, Any], reason: str, message: str,
                   annotations: Mapping[str, str] | None) -> None:
        await recorder.warning(alert, reason, message, annotations)

    async def labels_of(ref: Mapping[str, str]) -> Mapping[str, str]:
        m = await objects.mapping(ref.get("apiVersion", ""), ref.get("kind", ""))
        obj = await objects.get(m, ref.get("name", ""), ref.get("namespace") or None)
        return dict((obj.get("metadata") or {}).get("labels") or {})

    async def read_secret(namespace: str, name: str) -> Mapping[str, Any] | None:
        return await objects.get_or_none(secrets, name, namespace)

    async def delivered(delivery: Delivery) -> None:
        if not delivery.ok or not options.record_deliveries:
            return
        namespace, _, name = delivery.alert.partition("/")
        alert = alerts.get(namespace, name)
        if alert is not None:
            await recorder.normal(alert, "NotificationDispatched",
                                  f"sent notification for {delivery.object} through "
                                  f"{delivery.provider_type} provider "
                                  f"'{delivery.provider.partition('/')[2]}'")

    matcher = AlertMatcher(lambda: alerts.list(), labels_of, warn)
    dispatcher = Dispatcher(lambda ns, name: providers.get(ns, name), read_secret, warn,
                            DispatchOptions(no_cross_namespace_refs=options.no_cross_namespace_refs,
                                            retry_wait_min=options.retry_wait_min,
                                            lanes=options.lanes),
                            delivered)
    _register_metrics(manager, dispatcher)
    pipeline = EventPipeline(matcher, dispatcher, RateLimiter(options.rate_limit_interval))
    if options.in_process:
        manager.event_forwarder.local = pipeline.handle_local

    event_server = EventServer(options.event_server_addr, pipeline) \
        if options.event_server_addr else None
    receiver_server = ReceiverServer(options.receiver_addr, receivers, objects, secrets,
                                     no_cross_namespace_refs=options.no_cross_namespace_refs) \
        if options.receiver_addr else None
    # Bind now, so a busy port fails `sluice up` at start with a clear message.
    started: list[HTTPServer] = []
    wanted: list[HTTPServer] = [s for s in (event_server, receiver_server) if s is not None]
    try:
        for http_server in wanted:
            await http_server.start()
            started.append(http_server)
    except BaseException:
        for http_server in started:
            await http_server.close()
        raise
    if event_server is not None:
        log.info("event server on %s", event_server.url)
    if receiver_server is not None:
        log.info("webhook receiver on %s", receiver_server.url)

    patcher = StatusPatcher(objects, receivers.mapping, COMPONENT)
    reconciler = ReceiverReconciler(receivers, objects, secrets, patcher, recorder)
    controller = Controller("Receiver", receivers, reconciler,
                            concurrent=manager.options.concurrent, metrics=manager.metrics,
                            grace_period=manager.options.graceful_shutdown_timeout)
    manager.add_controller(controller)
    manager.add_runnable("notification-servers", _holder(started, dispatcher))
    return NotificationController(pipeline, dispatcher, event_server, receiver_server,
                                  controller)


def _register_metrics(manager: Manager, dispatcher: Dispatcher) -> None:
    """``sluice_notifications_total{result}`` (sent, failed, dropped) and the queue depth."""
    registry = manager.metrics.registry
    total = registry.register(Counter(
        "sluice_notifications_total", "Notifications per result: sent, failed (after retries) "
        "or dropped (the provider address's queue was full).", ("result",)))
    dispatcher.count = lambda result: total.inc(result)
    depth = registry.register(Gauge(
        "sluice_notification_queue_depth", "Notifications waiting for a send slot, over "
        "every provider address."))
    depth.collect_with(lambda: [((), float(dispatcher.lanes.waiting()))])


def _holder(servers: list[HTTPServer], dispatcher: Dispatcher) -> Callable[[], Awaitable[None]]:
    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            for server in servers:
                await server.close()
            await dispatcher.aclose()

    return hold
