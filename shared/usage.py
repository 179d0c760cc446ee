"""Usage events: one row per thing worth counting, written as it happens.

Why rows and not counters: a row's key is derived from what it counts (the message id, the
event id), so an Event Grid duplicate or a retried send writes the same row again instead of
counting twice, and concurrent writers never lose an increment because nobody increments.
Reports read hourly rollups of these rows, not the rows themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import phonenumbers
from azure.data.tables import EdmType, EntityProperty

from shared.records import bounded_key

# One row per message for its send outcome; "sent" is accepted + rejected + unknown.
UsageKind = Literal[
    "accepted",  # ACS took it
    "rejected",  # ACS refused it
    "unknown",  # the request left but no answer came back
    "invalid",  # not a phone number: never sent
    "optedOut",  # suppressed by an opt-out: never sent
    "delivered",  # delivery report: delivered, with latency
    "failed",  # delivery report: failed, with reason and latency
    "inbound",  # a message received
    "reply",  # an inbound message within 24 h of an outbound one to that number
    "optOut",  # someone opted out (keyword, free text, carrier, API)
    "optIn",  # someone opted back in
    "verifyStarted",  # a verification texted its first code (key: the verification id)
    "verifyApproved",  # a verification was approved (key: the verification id)
    "verifyBlocked",  # a verification text refused, with the rule's reason (never the code)
    "eventDelivered",  # status events a destination took (reason: the destination's name)
    "eventFailed",  # attempts a destination refused (each is retried)
    "eventDeadLettered",  # events a destination was given up on
]
EVENT_KINDS = {
    "eventDelivered": "delivered",
    "eventFailed": "failed",
    "eventDeadLettered": "deadLettered",
}


@dataclass(frozen=True, slots=True)
class UsageEvent:
    kind: UsageKind
    at: datetime
    key: str  # what makes it unique: a message id, or an event id
    sender: str | None = None  # our number
    country: str | None = None  # ISO region of the other party's number
    tag: str | None = None
    segments: int = 0
    reason: str | None = None  # failure reason (the delivery details' code or text)
    latency_ms: int | None = None  # from sending to the delivery report
    count: int = 1  # a row may stand for several like things (a send's outcomes, grouped)

    @property
    def hour(self) -> str:
        """The partition: one UTC hour, `YYYY-MM-DDTHH`."""
        return self.at.astimezone(UTC).strftime("%Y-%m-%dT%H")

    @property
    def row_key(self) -> str:
        return f"{self.kind}_{bounded_key(self.key)}"

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.hour,
            "RowKey": self.row_key,
            "Kind": self.kind,
            "At": self.at,
            "Segments": self.segments,
            "Count": self.count,
        }
        for name, value in (
            ("Sender", self.sender),
            ("Country", self.country),
            ("Tag", self.tag),
            ("Reason", self.reason),
        ):
            if value is not None:
                entity[name] = value
        if self.latency_ms is not None:  # Int64: plain ints are sent as Int32
            entity["LatencyMs"] = EntityProperty(self.latency_ms, EdmType.INT64)
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> UsageEvent:
        at: datetime = entity["At"]
        latency = entity.get("LatencyMs")
        return cls(
            kind=entity["Kind"],
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            key=entity["RowKey"].split("_", 1)[1],
            sender=entity.get("Sender"),
            country=entity.get("Country"),
            tag=entity.get("Tag"),
            segments=int(entity.get("Segments", 0)),
            reason=entity.get("Reason"),
            latency_ms=None if latency is None else int(getattr(latency, "value", latency)),
            count=int(entity.get("Count", 1)),
        )


def country_of(number: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or None
    except phonenumbers.NumberParseException:
        return None


def failure_reason(details: str | None) -> str:
    """`4006: Destination unreachable` → `4006`; free text is kept, shortened."""
    if not details:
        return "unknown"
    head = details.split(":", 1)[0].strip()
    return head if head.isdigit() else details.strip()[:80]
