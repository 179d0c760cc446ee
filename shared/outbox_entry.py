"""The outbox index: one row per message waiting to go, filed under the minute it is due.

The message row stays the truth (status, claim, ETag); an outbox row only says "look at this
message at this minute". So a stale or duplicate outbox row is harmless: whoever reads it checks
the message first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.ids import message_id


def due_bucket(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M")


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    batch_id: str
    index: int
    to: str
    due_at: datetime

    @property
    def bucket(self) -> str:
        return due_bucket(self.due_at)

    @property
    def row_key(self) -> str:
        return message_id(self.batch_id, self.index)

    def to_entity(self) -> dict[str, Any]:
        return {
            "PartitionKey": self.bucket,
            "RowKey": self.row_key,
            "BatchId": self.batch_id,
            "Index": self.index,
            "To": self.to,
            "DueAt": self.due_at,
        }

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> OutboxEntry:
        due: datetime = entity["DueAt"]
        return cls(
            entity["BatchId"],
            int(entity["Index"]),
            entity["To"],
            due if due.tzinfo else due.replace(tzinfo=UTC),
        )
