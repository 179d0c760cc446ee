"""Conversation threads and the consent ledger: records and their table entities (pure).

Both are kept newest first: the row key starts with the reversed time, so a partition read
returns the latest rows first and pages naturally.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.clock import iso
from shared.records import bounded_key

_REVERSE_BASE = 10**13  # milliseconds until the year 2286


def reverse_time_key(at: datetime) -> str:
    return f"{_REVERSE_BASE - 1 - int(at.timestamp() * 1000):013d}"


Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class ThreadEntry:
    """One message in the thread between one of our numbers and one person."""

    their: str
    our: str
    direction: Direction
    at: datetime
    ref: str  # ACS id of an inbound message, our message id of an outbound one
    text: str | None = None
    message_id: str | None = None
    status: str | None = None
    intent: str | None = None

    @property
    def row_key(self) -> str:
        return f"{reverse_time_key(self.at)}_{self.direction}_{bounded_key(self.ref)}"

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.their,
            "RowKey": self.row_key,
            "Our": self.our,
            "Direction": self.direction,
            "At": self.at,
            "Ref": self.ref,
        }
        for name, value in (
            ("Text", self.text),
            ("MessageId", self.message_id),
            ("Status", self.status),
            ("Intent", self.intent),
        ):
            if value is not None:
                entity[name] = value
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> ThreadEntry:
        at: datetime = entity["At"]
        return cls(
            their=entity["PartitionKey"],
            our=entity["Our"],
            direction=entity["Direction"],
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            ref=entity["Ref"],
            text=entity.get("Text"),
            message_id=entity.get("MessageId"),
            status=entity.get("Status"),
            intent=entity.get("Intent"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "direction": "inbound" if self.direction == "in" else "outbound",
            "our": self.our,
            "their": self.their,
            "at": iso(self.at),
            "text": self.text,
        }
        if self.direction == "in":
            out["acsMessageId"] = self.ref
            out["keyword"] = self.intent
        else:
            out["id"] = self.message_id
            out["status"] = self.status
        return out


ConsentAction = Literal["optOut", "optIn", "help"]


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    """One line of evidence: who asked for what, when, how, and what we had last sent them."""

    recipient: str
    at: datetime
    action: ConsentAction
    scope: str  # "*" for the whole sender pool, or one sender number
    source: str  # keyword | freeText | carrier | api
    ref: str  # the event id or request id that caused it: makes a repeat write the same row
    keyword: str | None = None
    match: str | None = None  # exact | firstWord | contains | freeText
    needs_review: bool = False
    our_number: str | None = None
    text: str | None = None
    last_message_id: str | None = None

    @property
    def row_key(self) -> str:
        return f"{reverse_time_key(self.at)}_{bounded_key(self.ref)}"

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.recipient,
            "RowKey": self.row_key,
            "At": self.at,
            "Action": self.action,
            "Scope": self.scope,
            "Source": self.source,
            "Ref": self.ref,
            "NeedsReview": self.needs_review,
        }
        for name, value in (
            ("Keyword", self.keyword),
            ("Match", self.match),
            ("OurNumber", self.our_number),
            ("Text", self.text),
            ("LastMessageId", self.last_message_id),
        ):
            if value is not None:
                entity[name] = value
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> ConsentEntry:
        at: datetime = entity["At"]
        return cls(
            recipient=entity["PartitionKey"],
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            action=entity["Action"],
            scope=entity["Scope"],
            source=entity["Source"],
            ref=entity["Ref"],
            keyword=entity.get("Keyword"),
            match=entity.get("Match"),
            needs_review=bool(entity.get("NeedsReview", False)),
            our_number=entity.get("OurNumber"),
            text=entity.get("Text"),
            last_message_id=entity.get("LastMessageId"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "action": self.action,
            "scope": self.scope,
            "source": self.source,
            "keyword": self.keyword,
            "match": self.match,
            "needsReview": self.needs_review,
            "ourNumber": self.our_number,
            "text": self.text,
            "lastMessageId": self.last_message_id,
            "ref": self.ref,
        }
