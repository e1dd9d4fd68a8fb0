"""The event path from a decoded body to the providers: clean, limit, match, dispatch.

`EventPipeline.handle` is shared by the HTTP event server and the
in-process path of ``sluice up`` (the manager's event forwarder calls it
directly), so both answer exactly alike: `ACCEPTED` (202) once processed,
whatever happens to the notifications later, `BAD_REQUEST` (400) for a body
that is not an event, `TOO_MANY_REQUESTS` (429) for a duplicate within the
rate-limit interval.
"""

from __future__ import annotations

import logging
from typing import Any

from sluice.controllers.notification.dispatch import Dispatcher
from sluice.controllers.notification.errors import InvalidEvent
from sluice.controllers.notification.ingest import Event, RateLimiter, parse_event
from sluice.controllers.notification.matching import AlertMatcher

__all__ = ["ACCEPTED", "BAD_REQUEST", "TOO_MANY_REQUESTS", "EventPipeline"]

log = logging.getLogger("sluice.controllers.notification")

ACCEPTED = 202
BAD_REQUEST = 400
TOO_MANY_REQUESTS = 429


class EventPipeline:
    def __init__(self, matcher: AlertMatcher, dispatcher: Dispatcher,
                 limiter: RateLimiter) -> None:
        self.matcher = matcher
        self.dispatcher = dispatcher
        self.limiter = limiter
        self.received = 0
        self.limited = 0
        self.matched = 0

    async def handle(self, payload: Any) -> int:
        try:
            event = parse_event(payload)
        except InvalidEvent as exc:
            log.info("decoding the request body failed: %s", exc)
            return BAD_REQUEST
        self.received += 1
        if not self.limiter.allow(event):
            self.limited += 1
            log.debug("discarding event, rate limiting duplicate events",
                      extra={"object": event.object_string()})
            return TOO_MANY_REQUESTS
        await self.process(event)
        return ACCEPTED

    async def process(self, event: Event) -> None:
        event.metadata.pop(f"{event.group}/token", None)
        alerts = await self.matcher.alerts_for(event)
        if not alerts:
            log.debug("discarding event, no alerts found for the involved object",
                      extra={"object": event.object_string()})
            return
        self.matched += 1
        log.debug("dispatching event %r", event.message, extra={"object": event.object_string()})
        for alert in alerts:
            await self.dispatcher.dispatch(event, alert)

    async def handle_local(self, payload: dict[str, Any]) -> None:
        """The in-process path (`EventForwarder.local`)."""
        await self.handle(payload)
