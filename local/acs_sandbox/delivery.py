"""Event Grid push delivery to the Functions host's webhook, with Event Grid's retry rules.

Research §4.4: at-least-once, unordered; success is 200..204; retries after 10 s, 30 s, 1 min,
5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h; at most 30 attempts and 24 h; 400, 401,
403 and 413 are never retried. All delays run `timeScale` times faster.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx

from .background import Background
from .config import SandboxConfig
from .events import SystemEvent, encode, envelope

log = logging.getLogger("acs_sandbox")

RETRY_SCHEDULE_SECONDS = (10, 30, 60, 300, 600, 1800, 3600, 10800, 21600)
LATER_RETRY_SECONDS = 12 * 3600
MAX_DELIVERY_ATTEMPTS = 30
EVENT_TTL_SECONDS = 24 * 3600
NON_RETRIABLE = frozenset({400, 401, 403, 413})
# Event Grid waits longer after these answers: 408 → at least 2 min, 503 → at least 30 s.
_MIN_DELAY_AFTER = {408: 120, 503: 30}
_ATTEMPT_TIMEOUT_SECONDS = 30.0  # Event Grid's response timeout (not time-scaled)


def retry_delay(attempts: int, status: int | None) -> float:
    """Simulated seconds to wait before attempt number `attempts + 1`."""
    index = attempts - 1
    base = (
        RETRY_SCHEDULE_SECONDS[index]
        if index < len(RETRY_SCHEDULE_SECONDS)
        else LATER_RETRY_SECONDS
    )
    return float(max(base, _MIN_DELAY_AFTER.get(status or 0, 0)))


@dataclass
class Delivery:
    """One event on its way to one webhook; a duplicated event is a second Delivery."""

    event_id: str
    event_type: str
    function_name: str
    url: str
    schema: str
    payload: Any
    duplicate: bool = False
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    state: str = "pending"  # pending | delivered | deadLettered
    dead_letter_reason: str | None = None
    simulated_age: float = 0.0
    first_attempt_done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "eventType": self.event_type,
            "functionName": self.function_name,
            "duplicate": self.duplicate,
            "attempts": self.attempts,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
            "state": self.state,
            "delivered": self.state == "delivered",
            "deadLettered": self.state == "deadLettered",
            "deadLetterReason": self.dead_letter_reason,
            "event": self.payload,
        }


class EventDispatcher:
    def __init__(
        self,
        settings: Callable[[], SandboxConfig],
        background: Background,
        rng: random.Random,
    ) -> None:
        self._settings = settings
        self._background = background
        self._rng = rng
        # trust_env=False: a proxy from the environment must never see loopback webhook calls.
        self._client = httpx.AsyncClient(trust_env=False, timeout=_ATTEMPT_TIMEOUT_SECONDS)
        self._log: list[Delivery] = []
        self._held: list[Delivery] = []

    async def aclose(self) -> None:
        await self._client.aclose()

    def publish(self, event: SystemEvent, function_name: str) -> None:
        """Queues `event` for the configured webhook; without `eventsUrl` it goes nowhere."""
        config = self._settings()
        if not config.events_url:
            return
        payload = envelope(event, schema=config.event_schema, casing=config.event_casing)
        url = f"{config.events_url}/runtime/webhooks/EventGrid?functionName={quote(function_name)}"
        delivery = partial(
            Delivery, event.id, event.event_type, function_name, url, config.event_schema, payload
        )
        deliveries = [delivery()]
        # At-least-once: Event Grid may deliver an event again even after a success.
        if self._rng.random() < config.duplicate_events:
            deliveries.append(delivery(duplicate=True))
        self._log.extend(deliveries)
        if config.reorder_events:
            if not self._held:
                self._background.spawn(
                    self._flush_held(config.real_seconds(config.reorder_window_seconds))
                )
            self._held.extend(deliveries)
        else:
            self._background.spawn(self._start_in_order(deliveries))

    async def _flush_held(self, delay: float) -> None:
        """No ordering guarantee: events published within the window go out shuffled."""
        await asyncio.sleep(delay)
        held, self._held = self._held, []
        self._rng.shuffle(held)
        await self._start_in_order(held)

    async def _start_in_order(self, deliveries: Sequence[Delivery]) -> None:
        # Each first attempt finishes before the next starts, so the receiver sees this order
        # (a duplicate after its original); retries then run independently.
        for delivery in deliveries:
            self._background.spawn(self._deliver(delivery))
            await delivery.first_attempt_done.wait()

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            while True:
                await self._attempt(delivery)
                delivery.first_attempt_done.set()
                status = delivery.last_status
                if status is not None and 200 <= status <= 204:
                    delivery.state = "delivered"
                    return
                if status in NON_RETRIABLE:
                    self._dead_letter(delivery, "NonRetriableStatus")
                    return
                if delivery.attempts >= MAX_DELIVERY_ATTEMPTS:
                    self._dead_letter(delivery, "MaxDeliveryAttemptsExceeded")
                    return
                delay = retry_delay(delivery.attempts, status)
                delivery.simulated_age += delay
                await asyncio.sleep(self._settings().real_seconds(delay))
                # Event Grid checks the time-to-live only when the next attempt is due.
                if delivery.simulated_age > EVENT_TTL_SECONDS:
                    self._dead_letter(delivery, "TimeToLiveExceeded")
                    return
        finally:
            delivery.first_attempt_done.set()

    async def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        body, content_type = encode(delivery.payload, schema=delivery.schema)
        headers = {
            "Content-Type": content_type,
            "aeg-event-type": "Notification",
            "aeg-subscription-name": "SANDBOX",
            "aeg-delivery-count": str(delivery.attempts - 1),
            "aeg-data-version": "1.0",
            "aeg-metadata-version": "1",
            "aeg-output-event-id": delivery.event_id,
        }
        try:
            response = await self._client.post(delivery.url, content=body, headers=headers)
        except httpx.TimeoutException:
            delivery.last_status, delivery.last_error = None, "TimedOut"
        except httpx.HTTPError as exc:
            delivery.last_status, delivery.last_error = None, type(exc).__name__
        else:
            delivery.last_status, delivery.last_error = response.status_code, None
        log.info(
            "event %s %s -> %s attempt %d: %s",
            delivery.event_type.rsplit(".", 1)[-1],
            delivery.event_id,
            delivery.function_name,
            delivery.attempts,
            delivery.last_status or delivery.last_error,
        )

    def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        delivery.state, delivery.dead_letter_reason = "deadLettered", reason
        last = delivery.last_status or delivery.last_error
        log.warning("event %s dead-lettered: %s (last: %s)", delivery.event_id, reason, last)

    def deliveries(self) -> list[dict[str, Any]]:
        return [d.to_json() for d in self._log]

    def clear(self) -> None:
        """Forgets the log and held events; the caller cancels the running tasks first."""
        self._log.clear()
        self._held.clear()
