"""Verifications: one row each, partition = the UTC hour its id was made in, row = the id.

The id is a ULID, so its partition is read off the id itself: a read by id is one point query,
and the rows that may still be pending (a verification lives at most an hour) sit in the last
two hours' partitions, which the expiry sweep reads without scanning the table. Every change is
a replace conditional on the ETag it was decided from.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import EdmType, EntityProperty

from shared.clock import aware
from shared.ids import is_batch_id, ulid_millis
from shared.status_events import verification_events
from shared.tables.gateway import Operation, TableGateway, conditional_update, etag_of
from shared.tables.pending_events import PendingEvents
from shared.verification import Verification, VerifyStatus

VERIFICATIONS = "verifications"
HOUR = "%Y%m%d%H"

_OPTIONAL_TEXT = {
    "Locale": "locale",
    "AppHash": "app_hash",
    "Domain": "domain",
    "UserId": "user_id",
    "Session": "session",
    "EndReason": "end_reason",
}
_OPTIONAL_TIME = {"LastSentAt": "last_sent_at", "EndedAt": "ended_at"}


LATEST_MILLIS = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)


def partition_of(verification_id: str) -> str | None:
    """The hour its id was made in; None for a text that is not one of our ids (any ULID-shaped
    text is taken, but one whose time is past what a date can hold is not an id at all)."""
    if not is_batch_id(verification_id):
        return None
    millis = ulid_millis(verification_id)
    if millis > LATEST_MILLIS:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).strftime(HOUR)


def hour_partition(at: datetime) -> str:
    return at.astimezone(UTC).strftime(HOUR)


def to_entity(verification: Verification) -> dict[str, Any]:
    partition = partition_of(verification.id)
    assert partition is not None, "a verification's id is a ULID of ours"
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": verification.id,
        "To": verification.to,
        "Status": verification.status.value,
        "CreatedAt": verification.created_at,
        "ExpiresAt": verification.expires_at,
        "CodeLength": verification.code_length,
        "MaxChecks": verification.max_checks,
        "Checks": verification.checks,
        "Sends": verification.sends,
        "Batches": ",".join(verification.batches),
        "Senders": ",".join(verification.senders),
        "EventSeq": 1 if verification.status is VerifyStatus.PENDING else 2,
    }
    for name, attr in (*_OPTIONAL_TEXT.items(), *_OPTIONAL_TIME.items()):
        value = getattr(verification, attr)
        if value is not None:
            entity[name] = value
    # Only while pending; a replace without them removes them from the row.
    if verification.seed is not None and verification.check_value is not None:
        entity["Seed"] = EntityProperty(verification.seed, EdmType.BINARY)
        entity["CheckValue"] = EntityProperty(verification.check_value, EdmType.BINARY)
    return entity


def from_entity(entity: Any) -> Verification:
    fields: dict[str, Any] = {attr: entity.get(name) for name, attr in _OPTIONAL_TEXT.items()}
    fields.update(
        {attr: aware(entity[name]) for name, attr in _OPTIONAL_TIME.items() if entity.get(name)}
    )
    return Verification(
        id=entity["RowKey"],
        to=entity["To"],
        status=VerifyStatus(entity["Status"]),
        created_at=aware(entity["CreatedAt"]),
        expires_at=aware(entity["ExpiresAt"]),
        code_length=int(entity["CodeLength"]),
        max_checks=int(entity["MaxChecks"]),
        checks=int(entity["Checks"]),
        sends=int(entity["Sends"]),
        batches=tuple(b for b in str(entity.get("Batches") or "").split(",") if b),
        senders=tuple(s for s in str(entity.get("Senders") or "").split(",") if s),
        seed=_bytes(entity.get("Seed")),
        check_value=_bytes(entity.get("CheckValue")),
        etag=etag_of(entity),
        events_written=int(entity.get("EventSeq", 1 if entity["Status"] == "pending" else 2)),
        **fields,
    )


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    raw = value.value if isinstance(value, EntityProperty) else value
    return bytes(raw)


class VerificationRepository:
    def __init__(self, gateway: TableGateway, pending: PendingEvents) -> None:
        self._tables = gateway
        self._pending = pending

    async def _write(self, operation: Operation, verification: Verification) -> str:
        """The row and, in the same transaction, the events of the change it makes."""
        events = verification_events(verification)
        row = events[-1].id if events else None
        return await self._pending.transact(VERIFICATIONS, operation, events, row=row)

    async def get(self, verification_id: str) -> Verification | None:
        """The verification, or None for an id that is not one of ours (any text)."""
        partition = partition_of(verification_id)
        if partition is None:
            return None
        entity = await self._tables.get(VERIFICATIONS, partition, verification_id)
        return None if entity is None else from_entity(entity)

    async def create(self, verification: Verification) -> Verification:
        etag = await self._write(("create", to_entity(verification), {}), verification)
        return _with_etag(verification, etag)

    async def replace(self, verification: Verification) -> Verification:
        """Save a change decided on the record with `verification.etag`; raises
        `ConcurrentUpdateError` when someone changed it since."""
        etag = await self._write(
            conditional_update(to_entity(verification), verification.etag), verification
        )
        return _with_etag(verification, etag)

    async def pending_expired(
        self, first_hour: datetime, now: datetime, *, limit: int
    ) -> list[Verification]:
        """Pending verifications made since `first_hour` whose time has run out."""
        entities = await self._tables.query_all(
            VERIFICATIONS,
            "PartitionKey ge @first and PartitionKey le @last and Status eq @pending "
            "and ExpiresAt le @now",
            {
                "first": hour_partition(first_hour),
                "last": hour_partition(now),
                "pending": VerifyStatus.PENDING.value,
                "now": now,
            },
            limit=limit,
        )
        return [from_entity(e) for e in entities]


def _with_etag(verification: Verification, etag: str) -> Verification:
    ended = verification.status is not VerifyStatus.PENDING
    return replace(verification, etag=etag or None, events_written=2 if ended else 1)
