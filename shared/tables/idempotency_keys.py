"""Idempotency keys: partition = SHA-256 of the key. The decision is `idempotency.judge_repeat`;
this keeps the row and makes each change conditional on the ETag it was judged on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.clock import aware
from shared.errors import AlreadyExistsError, ConcurrentUpdateError
from shared.idempotency import KeyRecord, judge_repeat
from shared.tables.gateway import TableGateway

IDEMPOTENCY = "idempotency"


@dataclass(frozen=True, slots=True)
class KeyClaim:
    outcome: Literal["new", "replay", "resume", "in_progress", "mismatch"]
    batch_id: str
    retry_after: float = 0.0


def _partition(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class IdempotencyKeys:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    async def claim(
        self, key: str, *, fingerprint: str, batch_id: str, now: datetime, lease: timedelta
    ) -> KeyClaim:
        pk = _partition(key)
        row = {
            "PartitionKey": pk,
            "RowKey": "",
            "Fingerprint": fingerprint,
            "BatchId": batch_id,
            "State": "started",
            "CreatedAt": now,
            "LeaseUntil": now + lease,
        }
        try:
            await self._tables.create(IDEMPOTENCY, row)
            return KeyClaim("new", batch_id)
        except AlreadyExistsError:
            pass
        entity = await self._tables.get(IDEMPOTENCY, pk, "")
        if entity is None:  # released meanwhile: a retry runs afresh
            return KeyClaim("in_progress", batch_id, retry_after=1.0)
        etag = str(entity.metadata["etag"])
        existing = KeyRecord(
            fingerprint=entity["Fingerprint"],
            batch_id=entity["BatchId"],
            state=entity["State"],
            created_at=aware(entity["CreatedAt"]),
            lease_until=aware(entity["LeaseUntil"]),
        )
        verdict = judge_repeat(existing, fingerprint=fingerprint, now=now)
        if verdict in ("mismatch", "replay"):
            return KeyClaim(verdict, existing.batch_id)
        if verdict == "in_progress":
            wait = (existing.lease_until - now).total_seconds()
            return KeyClaim("in_progress", existing.batch_id, wait)
        if verdict == "resume":
            row = {**row, "BatchId": existing.batch_id, "CreatedAt": existing.created_at}
        try:
            await self._tables.replace_if(IDEMPOTENCY, row, etag)
        except ConcurrentUpdateError:
            return KeyClaim("in_progress", existing.batch_id, retry_after=1.0)
        return KeyClaim("new" if verdict == "expired" else "resume", str(row["BatchId"]))

    async def complete(self, key: str) -> None:
        row = {"PartitionKey": _partition(key), "RowKey": "", "State": "completed"}
        await self._tables.upsert(IDEMPOTENCY, row, merge=True)

    async def release(self, key: str) -> None:
        """Forget a key whose request failed before doing anything, so a retry runs afresh."""
        await self._tables.delete(IDEMPOTENCY, _partition(key), "")
