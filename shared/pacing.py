"""Sender numbers and their pace: which number texts whom, and how fast.

Sticky senders by rendezvous hashing: each recipient gets the pool number with the highest hash
of (number, recipient). A recipient therefore always hears from the same number (the one it may
reply to), a batch spreads evenly over the pool, and adding or removing a number moves only the
recipients of that number — all without a lookup per recipient.

Pace by token bucket, like the ACS limit it stays under: a bucket holds one minute of messages
(`rate`) and refills at `rate` per minute. The bucket's state lives in a table row so that every
instance of the app draws from the same budget.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


def sticky_sender(pool: Sequence[str], recipient: str) -> str:
    def weight(sender: str) -> bytes:
        return hashlib.blake2b(f"{sender}|{recipient}".encode(), digest_size=8).digest()

    return max(pool, key=weight)


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: datetime

    def available(self, now: datetime, rate_per_minute: int) -> float:
        elapsed = max(0.0, (now - self.at).total_seconds())
        return min(float(rate_per_minute), self.tokens + elapsed * rate_per_minute / 60.0)

    def take(self, want: int, now: datetime, rate_per_minute: int) -> tuple[int, Bucket]:
        """How many of `want` may go now, and the bucket after taking them.

        A few tokens stay in reserve: our bucket starts counting when we take, ACS's when the
        request arrives, a moment later. The reserve shifts our sends by that moment instead of
        lowering the rate, so the two buckets never disagree into a 429."""
        have = self.available(now, rate_per_minute)
        granted = max(0, min(want, int(have - reserve(rate_per_minute))))
        return granted, Bucket(have - granted, now)


def reserve(rate_per_minute: int) -> int:
    return max(2, rate_per_minute // 50)


def full_bucket(now: datetime, rate_per_minute: int) -> Bucket:
    return Bucket(float(rate_per_minute), now)
