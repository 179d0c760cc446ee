"""Each sender number's token bucket, one row per sender, shared by every instance of the app.

The arithmetic is `pacing.Bucket` (pure); this keeps the row and the compare-and-swap loop. The
state and ETag this process saw last are tried first: one round trip while nobody else sends
from that number, a re-read when someone did.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import aware
from shared.errors import AlreadyExistsError, ConcurrentUpdateError
from shared.pacing import Bucket, full_bucket
from shared.tables.gateway import TableGateway

RATE_BUCKETS = "rateBuckets"
MAX_SWAPS = 10


class RateBucketRepository:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway
        self._seen: dict[str, tuple[Bucket, str]] = {}  # last state and ETag per sender

    async def take(self, sender: str, want: int, *, now: datetime, rate_per_minute: int) -> int:
        """Take up to `want` tokens from the sender's bucket; answers how many were granted."""
        if want <= 0:
            return 0
        for _ in range(MAX_SWAPS):
            seen = self._seen.get(sender) or await self._read(sender)
            bucket = seen[0] if seen else full_bucket(now, rate_per_minute)
            granted, after = bucket.take(want, now, rate_per_minute)
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

    async def _read(self, sender: str) -> tuple[Bucket, str] | None:
        entity = await self._tables.get(RATE_BUCKETS, sender, "")
        if entity is None:
            return None
        seen = (Bucket(float(entity["Tokens"]), aware(entity["At"])), str(entity.metadata["etag"]))
        self._seen[sender] = seen
        return seen
