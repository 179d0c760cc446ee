"""What the event sink remembers: events published to each Event Grid topic, deliveries to each
webhook receiver, and the faults queued for them. In memory; `POST /sandbox/reset` forgets it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .timefmt import format_timestamp

Answered = int | Literal["dropped"]
_FAULT_FIELDS = frozenset({"status", "count", "drop", "delayMs"})
MAX_DELAY_MS = 600_000


@dataclass
class SinkFault:
    """The next `count` requests (every one until cleared when `count` is None) answer `status`,
    answer late by `delay_ms`, or (`drop`) lose their connection without an answer."""

    count: int | None
    status: int | None = None
    delay_ms: float = 0.0
    drop: bool = False

    @classmethod
    def from_json(cls, data: object) -> SinkFault:
        """`{"status": 503, "count": 2}`, `{"status": 410}`, `{"drop": 1}`, `{"delayMs": 3000,
        "count": 1}` (with `status` too: late and failing); ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        unknown = set(data) - _FAULT_FIELDS
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        if "drop" in data:
            if set(data) != {"drop"}:
                raise ValueError("'drop' stands alone: {\"drop\": <how many connections>}")
            return cls(count=_whole(data, "drop"), drop=True)
        if "status" not in data and "delayMs" not in data:
            raise ValueError("expected 'status', 'delayMs' or 'drop'")
        status = None
        if "status" in data:
            status = _whole(data, "status")
            if not 400 <= status <= 599:
                raise ValueError("status must be an HTTP error status (400..599)")
        delay = data.get("delayMs", 0)
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise ValueError("delayMs must be a number of milliseconds")
        if not 0 <= delay <= MAX_DELAY_MS:
            raise ValueError(f"delayMs must be between 0 and {MAX_DELAY_MS}")
        count = _whole(data, "count") if "count" in data else None
        return cls(count=count, status=status, delay_ms=float(delay))

    def to_json(self) -> dict[str, Any]:
        if self.drop:
            return {"drop": self.count}
        data: dict[str, Any] = {"count": self.count}
        if self.status is not None:
            data["status"] = self.status
        if self.delay_ms:
            data["delayMs"] = self.delay_ms
        return data


def _whole(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a whole number >= 1")
    return value


class SinkFaults:
    """Faults of one topic or receiver, taken oldest first; one without a count stays."""

    def __init__(self) -> None:
        self._faults: list[SinkFault] = []

    def add(self, fault: SinkFault) -> None:
        self._faults.append(fault)

    def take(self) -> SinkFault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        if fault.count is not None:
            fault.count -= 1
            if fault.count == 0:
                del self._faults[0]
        return fault

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]

    def clear(self) -> None:
        self._faults.clear()


@dataclass
class ReceivedEvent:
    received_at: datetime
    auth: str
    event: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "receivedAt": format_timestamp(self.received_at),
            "auth": self.auth,
            "event": self.event,
        }


@dataclass
class PublishAttempt:
    """One `POST …/api/events`, whatever its answer, so tests can count a publisher's retries."""

    received_at: datetime
    auth: str | None
    answered: Answered
    events: int

    def to_json(self) -> dict[str, Any]:
        return {
            "receivedAt": format_timestamp(self.received_at),
            "auth": self.auth,
            "answered": self.answered,
            "events": self.events,
        }


@dataclass
class Topic:
    events: list[ReceivedEvent] = field(default_factory=list)
    attempts: list[PublishAttempt] = field(default_factory=list)
    faults: SinkFaults = field(default_factory=SinkFaults)


@dataclass
class WebhookAttempt:
    """One delivery to a receiver; `verified` is None while the receiver has no secret."""

    received_at: datetime
    headers: dict[str, str]
    body: str
    answered: Answered
    verified: bool | None
    verify_error: str | None
    delay_ms: float

    @property
    def accepted(self) -> bool:
        return isinstance(self.answered, int) and 200 <= self.answered <= 299

    def to_json(self, *, full: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "receivedAt": format_timestamp(self.received_at),
            "headers": self.headers,
            "body": self.body,
            "verified": self.verified,
        }
        if full:
            data |= {
                "answered": self.answered,
                "verifyError": self.verify_error,
                "delayMs": self.delay_ms,
            }
        return data


@dataclass
class WebhookInbox:
    attempts: list[WebhookAttempt] = field(default_factory=list)
    faults: SinkFaults = field(default_factory=SinkFaults)
    secret: bytes | None = None


class EventSink:
    """Topics and receivers by name, made on first use; the topic key is read from the
    current settings at each publish, so `POST /sandbox/reset` restores it with the rest."""

    def __init__(self, topic_key: Callable[[], str]) -> None:
        self.topic_key = topic_key
        self.topics: dict[str, Topic] = {}
        self.webhooks: dict[str, WebhookInbox] = {}

    def topic(self, name: str) -> Topic:
        return self.topics.setdefault(name, Topic())

    def webhook(self, name: str) -> WebhookInbox:
        return self.webhooks.setdefault(name, WebhookInbox())

    def clear(self) -> None:
        self.topics.clear()
        self.webhooks.clear()
