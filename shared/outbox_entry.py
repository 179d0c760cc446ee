"""The outbox index, filed under the minute each row is due.

Two kinds of row: one per message waiting to go (deferred or scheduled), and one *sweep* row
per batch that says "look over this batch then": messages a request claimed but never finished
(the process died) and sent messages whose delivery report is overdue. The sweep row is what
lets a send of thousands skip a safety row per message.

The message rows stay the truth (status, claim, ETag); an outbox row only says "look here at
this minute", so a stale or duplicate row is harmless: whoever reads it checks the messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.ids import message_id

SWEEP = -1  # the index of a batch's sweep row


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
    def is_sweep(self) -> bool:
        return self.index == SWEEP

    @property
    def row_key(self) -> str:
        return f"{self.batch_id}.sweep" if self.is_sweep else message_id(self.batch_id, self.index)

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


def sweep_entry(batch_id: str, due_at: datetime) -> OutboxEntry:
    return OutboxEntry(batch_id, SWEEP, "", due_at)
