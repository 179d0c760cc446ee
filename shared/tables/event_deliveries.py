"""Where each destination stands: its cursor in the event log and its counts (`eventState`),
the events it is retrying (`eventRetries`) and those it gave up on (`eventDeadLetters`).

Retries and dead letters: partition = the destination, row = the event's log cursor, so a
destination's retries read in log order with one query, and an event retried again (or seen
again after a crash) rewrites its own row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import UpdateMode

from shared.status_events import StatusEvent
from shared.tables.event_log import LogEntry
from shared.tables.gateway import TableGateway, translated
from shared.tables.pending_events import STATE_ROWS_END, PendingEvents

STATE, RETRIES, DEAD_LETTERS = "eventState", "eventRetries", "eventDeadLetters"
DESTINATION = "destination"
MAX_RETRY_ROWS = 2000


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(slots=True)
class DestinationState:
    name: str
    cursor: str
    fingerprint: str
    disabled: bool = False
    reason: str | None = None
    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    etag: str | None = field(default=None, compare=False)

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": DESTINATION,
            "RowKey": self.name,
            "Cursor": self.cursor,
            "Fingerprint": self.fingerprint,
            "Disabled": self.disabled,
            "Delivered": self.delivered,
            "Failed": self.failed,
            "DeadLettered": self.dead_lettered,
        }
        if self.reason:
            entity["Reason"] = self.reason
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> DestinationState:
        return cls(
            name=entity["RowKey"],
            cursor=entity["Cursor"],
            fingerprint=entity.get("Fingerprint", ""),
            disabled=bool(entity.get("Disabled", False)),
            reason=entity.get("Reason"),
            delivered=int(entity.get("Delivered", 0)),
            failed=int(entity.get("Failed", 0)),
            dead_lettered=int(entity.get("DeadLettered", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cursor": self.cursor,
            "disabled": self.disabled,
            "reason": self.reason,
            "delivered": self.delivered,
            "failed": self.failed,
            "deadLettered": self.dead_lettered,
        }


@dataclass(frozen=True, slots=True)
class RetryRow:
    """An event a destination has still to take, and how its tries went."""

    destination: str
    entry: LogEntry
    due_at: datetime
    attempts: int
    first_failed_at: datetime | None
    last_error: str | None = None

    @property
    def key(self) -> str:
        return self.entry.event.key

    def to_entity(self, *, dead_at: datetime | None = None) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.destination,
            "RowKey": self.entry.cursor,
            "Key": self.key,
            "Type": self.entry.event.type,
            "EventId": self.entry.event.id,
            "Event": json.dumps(
                self.entry.event.to_json(), separators=(",", ":"), ensure_ascii=False
            ),
            "DueAt": self.due_at,
            "Attempts": self.attempts,
        }
        optional = {
            "FirstFailedAt": self.first_failed_at,
            "LastError": self.last_error,
            "CallbackUrl": self.entry.callback_url,
            "DeadAt": dead_at,
        }
        entity.update({k: v for k, v in optional.items() if v is not None})
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> RetryRow:
        first = entity.get("FirstFailedAt")
        return cls(
            destination=entity["PartitionKey"],
            entry=LogEntry(
                entity["RowKey"],
                StatusEvent.from_json(json.loads(entity["Event"])),
                entity.get("CallbackUrl"),
            ),
            due_at=_aware(entity["DueAt"]),
            attempts=int(entity.get("Attempts", 0)),
            first_failed_at=_aware(first) if first is not None else None,
            last_error=entity.get("LastError"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "cursor": self.entry.cursor,
            "id": self.entry.event.id,
            "type": self.entry.event.type,
            "subject": self.entry.event.subject,
            "attempts": self.attempts,
            "firstFailedAt": self.first_failed_at.isoformat() if self.first_failed_at else None,
            "lastError": self.last_error,
        }


class EventDeliveries:
    def __init__(self, gateway: TableGateway, pending: PendingEvents) -> None:
        self._tables = gateway
        self._pending = pending

    @translated
    async def states(self) -> dict[str, DestinationState]:
        rows = await self._tables.query_all(
            STATE,
            "PartitionKey eq @pk and RowKey lt @end",
            {"pk": DESTINATION, "end": STATE_ROWS_END},
        )
        return {r["RowKey"]: DestinationState.from_entity(r) for r in rows}

    async def save_state(self, state: DestinationState, event: StatusEvent | None = None) -> None:
        """The state, and with it (one transaction) the event that tells of its change."""
        if event is None:
            await self._tables.upsert(STATE, state.to_entity())
            return
        await self._pending.transact(
            STATE,
            ("upsert", state.to_entity(), {"mode": UpdateMode.REPLACE}),
            [event],
            row=event.id,
        )

    @translated
    async def retries(self, destination: str) -> list[RetryRow]:
        rows = await self._tables.query_all(
            RETRIES, "PartitionKey eq @pk", {"pk": destination}, limit=MAX_RETRY_ROWS
        )
        return [RetryRow.from_entity(r) for r in rows]

    async def keep(self, rows: Sequence[RetryRow]) -> None:
        if rows:
            await self._tables.upsert_rows(RETRIES, [r.to_entity() for r in rows])

    async def done(self, destination: str, cursors: Sequence[str]) -> None:
        if cursors:
            await self._tables.delete_rows(RETRIES, [(destination, c) for c in cursors])

    async def bury(self, rows: Sequence[RetryRow], at: datetime) -> None:
        """Dead letters: written first, then gone from the retries (a crash between the two
        leaves an event in both, and a redrive or the next try is only a repeat)."""
        if not rows:
            return
        await self._tables.upsert_rows(DEAD_LETTERS, [r.to_entity(dead_at=at) for r in rows])
        await self._tables.delete_rows(RETRIES, [(r.destination, r.entry.cursor) for r in rows])

    @translated
    async def dead_letters(self, destination: str | None, limit: int) -> list[RetryRow]:
        if destination is None:
            rows = await self._tables.first_rows(DEAD_LETTERS, limit)
        else:
            rows = await self._tables.query_all(
                DEAD_LETTERS, "PartitionKey eq @pk", {"pk": destination}, limit=limit
            )
        return [RetryRow.from_entity(r) for r in rows]

    async def redrive(self, rows: Sequence[RetryRow], now: datetime) -> None:
        """Back to the retries, due now, as if never tried; then out of the dead letters."""
        if not rows:
            return
        fresh = [RetryRow(r.destination, r.entry, now, 0, None, r.last_error) for r in rows]
        await self.keep(fresh)
        await self._tables.delete_rows(
            DEAD_LETTERS, [(r.destination, r.entry.cursor) for r in rows]
        )
