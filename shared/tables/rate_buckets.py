"""Token buckets shared by every instance of the app: one row per sender number (its pace),
and one row per thing a limit counts (verifications per number, prefix, country...).

The arithmetic is pure (`pacing.Bucket`, `verify_limits`); this keeps the rows and the
compare-and-swap loop. The state and ETag this process saw last are tried first: one round trip
while nobody else touched the row, a re-read when someone did.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from shared.clock import aware
from shared.errors import AlreadyExistsError, ConcurrentUpdateError, ConflictError
from shared.pacing import Bucket, full_bucket
from shared.tables.gateway import TableGateway

RATE_BUCKETS = "rateBuckets"
MAX_SWAPS = 10
# Limit rows are many (one per number); this process remembers the ETags of the latest few.
SEEN_LIMIT_ROWS = 4096
R = TypeVar("R")
# A pure change of one row: from its properties (None: no row yet) to an answer and the
# properties to write (None: write nothing).
RowChange = Callable[[Mapping[str, Any] | None], tuple[R, dict[str, Any] | None]]


class RateBucketRepository:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway
        self._seen: dict[str, tuple[Bucket, str]] = {}  # last state and ETag per sender
        self._rows: OrderedDict[str, tuple[dict[str, Any], str]] = OrderedDict()

    async def take(
        self,
        sender: str,
        want: int,
        *,
        now: datetime,
        rate_per_minute: int,
        priority: bool = False,
    ) -> int:
        """Take up to `want` tokens from the sender's bucket; answers how many were granted.
        `priority` sends may spend part of the reserve bulk sends leave (`pacing.Bucket.take`)."""
        if want <= 0:
            return 0
        for _ in range(MAX_SWAPS):
            seen = self._seen.get(sender) or await self._read(sender)
            bucket = seen[0] if seen else full_bucket(now, rate_per_minute)
            granted, after = bucket.take(want, now, rate_per_minute, priority=priority)
            row = {"PartitionKey": sender, "RowKey": "", "Tokens": after.tokens, "At": after.at}
            try:
                if seen is None:
                    etag = await self._tables.create(RATE_BUCKETS, row)
                else:
                    etag = await self._tables.replace_if(RATE_BUCKETS, row, seen[1])
            except (AlreadyExistsError, ConcurrentUpdateError):
                self._seen.pop(sender, None)  # someone else took tokens: read again
                continue
            self._seen[sender] = (after, etag)
            return granted
        return 0

    async def peek(self, sender: str, *, now: datetime, rate_per_minute: int) -> float:
        """Tokens the sender's bucket holds now, from what this process last saw if it can."""
        seen = self._seen.get(sender) or await self._read(sender)
        if seen is None:
            return float(rate_per_minute)
        return seen[0].available(now, rate_per_minute)

    async def change(self, key: str, change: RowChange[R]) -> R:
        """Apply a pure change to one row, ETag-conditionally: on a conflict the row is read
        again and the change decided again, so concurrent instances never lose a token."""
        for _ in range(MAX_SWAPS):
            seen = self._rows.get(key) or await self._read_row(key)
            answer, properties = change(seen[0] if seen else None)
            if properties is None:
                return answer
            row = {**properties, "PartitionKey": key, "RowKey": ""}
            try:
                if seen is None:
                    etag = await self._tables.create(RATE_BUCKETS, row)
                else:
                    etag = await self._tables.replace_if(RATE_BUCKETS, row, seen[1])
            except (AlreadyExistsError, ConcurrentUpdateError):
                self._rows.pop(key, None)
                continue
            self._remember(key, row, etag)
            return answer
        raise ConflictError("too many requests changed the same limit at once; retry")

    async def _read_row(self, key: str) -> tuple[dict[str, Any], str] | None:
        entity = await self._tables.get(RATE_BUCKETS, key, "")
        if entity is None:
            return None
        seen = (dict(entity), str(entity.metadata["etag"]))
        self._remember(key, *seen)
        return seen

    def _remember(self, key: str, row: dict[str, Any], etag: str) -> None:
        self._rows[key] = (row, etag)
        self._rows.move_to_end(key)
        while len(self._rows) > SEEN_LIMIT_ROWS:
            self._rows.popitem(last=False)

    async def _read(self, sender: str) -> tuple[Bucket, str] | None:
        entity = await self._tables.get(RATE_BUCKETS, sender, "")
        if entity is None:
            return None
        seen = (Bucket(float(entity["Tokens"]), aware(entity["At"])), str(entity.metadata["etag"]))
        self._seen[sender] = seen
        return seen
