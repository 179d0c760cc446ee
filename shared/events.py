"""ACS SMS events, read once into small typed records (Event Grid system-event schemas for ACS).

Both Event Grid and CloudEvents envelopes arrive; data keys come in camelCase or PascalCase
(`messageId`, `MessageId`), so they are looked up case-insensitively; timestamps carry seven
fractional digits, which `datetime.fromisoformat` takes from Python 3.11 on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

# The ACS SMS event types (learn.microsoft.com: "Azure Communication Services as an Event Grid
# source"); tests check them against azure-eventgrid's SystemEventNames.
SMS_RECEIVED = "Microsoft.Communication.SMSReceived"
DELIVERY_REPORT = "Microsoft.Communication.SMSDeliveryReportReceived"


class MalformedEventError(ValueError):
    """The event cannot be read: recorded for inspection and acknowledged, never retried."""


class TriggerEvent(Protocol):
    """What both `func.EventGridEvent` and `func.CloudEvent` offer."""

    @property
    def id(self) -> str: ...

    def get_json(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    event_type: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    at: datetime
    segments_succeeded: int
    segments_failed: int


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    event_id: str
    acs_message_id: str
    sender: str
    to: str
    delivery_status: str  # as ACS sent it: Delivered, Failed, or a value we do not know yet
    details: str | None
    attempts: tuple[DeliveryAttempt, ...]
    received_at: datetime
    tag: str | None


@dataclass(frozen=True, slots=True)
class InboundSms:
    event_id: str
    acs_message_id: str
    sender: str  # the handset
    to: str  # our number
    text: str
    received_at: datetime
    segment_count: int | None


class _Keys:
    """Case-insensitive view of an event's data."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self._data = {str(k).casefold(): v for k, v in data.items()}
        self._where = where

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self._data.get(name.casefold())
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise MalformedEventError(f"{self._where}: '{name}' must be a non-empty string")
        return value

    def required_text(self, name: str) -> str:
        value = self.text(name)
        assert value is not None
        return value

    def time(self, name: str) -> datetime:
        raw = self.required_text(name)
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise MalformedEventError(f"{self._where}: '{name}' is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def integer(self, name: str) -> int | None:
        value = self._data.get(name.casefold())
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedEventError(f"{self._where}: '{name}' must be a whole number")
        return value

    def items(self, name: str) -> list[Mapping[str, Any]]:
        value = self._data.get(name.casefold())
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise MalformedEventError(f"{self._where}: '{name}' must be a list of objects")
        return value


def read_envelope(event: TriggerEvent) -> Envelope:
    event_type = getattr(event, "event_type", None) or getattr(event, "type", None)
    if not isinstance(event_type, str):
        raise MalformedEventError("the event has no type")
    if not isinstance(event.id, str) or not event.id:
        raise MalformedEventError("the event has no id")
    try:
        data = event.get_json()
    except ValueError:
        raise MalformedEventError("the event's data is not JSON") from None
    if not isinstance(data, Mapping):
        raise MalformedEventError("the event's data is not an object")
    return Envelope(event.id, event_type, data)


def read_delivery_report(envelope: Envelope) -> DeliveryReport:
    if envelope.event_type != DELIVERY_REPORT:
        raise MalformedEventError(f"expected {DELIVERY_REPORT}, got {envelope.event_type}")
    data = _Keys(envelope.data, "delivery report")
    attempts = []
    for item in data.items("deliveryAttempts"):
        attempt = _Keys(item, "delivery attempt")
        attempts.append(
            DeliveryAttempt(
                attempt.time("timestamp"),
                attempt.integer("segmentsSucceeded") or 0,
                attempt.integer("segmentsFailed") or 0,
            )
        )
    return DeliveryReport(
        event_id=envelope.id,
        acs_message_id=data.required_text("messageId"),
        sender=data.required_text("from"),
        to=data.required_text("to"),
        delivery_status=data.required_text("deliveryStatus"),
        details=data.text("deliveryStatusDetails", required=False),
        attempts=tuple(attempts),
        received_at=data.time("receivedTimestamp"),
        tag=data.text("tag", required=False),
    )


def read_inbound_sms(envelope: Envelope) -> InboundSms:
    if envelope.event_type != SMS_RECEIVED:
        raise MalformedEventError(f"expected {SMS_RECEIVED}, got {envelope.event_type}")
    data = _Keys(envelope.data, "received SMS")
    message = data.text("message", required=False)
    return InboundSms(
        event_id=envelope.id,
        acs_message_id=data.required_text("messageId"),
        sender=data.required_text("from"),
        to=data.required_text("to"),
        text=message or "",
        received_at=data.time("receivedTimestamp"),
        segment_count=data.integer("segmentCount"),
    )
