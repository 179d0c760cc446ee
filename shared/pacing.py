"""Sender numbers and their pace: which number texts whom, and how fast.

Sticky senders by rendezvous hashing: each recipient gets the pool number with the highest hash
of (number, recipient). A recipient therefore always hears from the same number (the one it may
reply to), a batch spreads evenly over the pool, and adding or removing a number moves only the
recipients of that number — all without a lookup per recipient.

Pace by token bucket, like the ACS limit it stays under: a bucket holds one minute of messages
(`rate`) and refills at `rate` per minute. The bucket's state lives in a table row so that every
instance of the app draws from the same budget. Sends marked `priority` (one-time codes) go ahead
of bulk traffic: they may spend half of the reserve that bulk sends always leave.

The same bucket, with any `Allowance` (so many per so many seconds), keeps the limits of other
things that must not happen too often (verifications per number, per prefix...).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


def sticky_sender(pool: Sequence[str], recipient: str) -> str:
    def weight(sender: str) -> bytes:
        return hashlib.blake2b(f"{sender}|{recipient}".encode(), digest_size=8).digest()

    return max(pool, key=weight)


@dataclass(frozen=True, slots=True)
class Allowance:
    """`count` per `seconds`: a bucket of `count` tokens refilled evenly over `seconds`."""

    count: int
    seconds: int

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: datetime

    def level(self, now: datetime, allowance: Allowance) -> float:
        elapsed = max(0.0, (now - self.at).total_seconds())
        return min(float(allowance.count), self.tokens + elapsed * allowance.per_second)

    def wait_for(self, tokens: float, now: datetime, allowance: Allowance) -> float:
        """Seconds until the bucket holds `tokens` (0 if it does now)."""
        missing = tokens - self.level(now, allowance)
        return max(0.0, missing / allowance.per_second)

    def spend(self, tokens: float, now: datetime, allowance: Allowance) -> Bucket:
        return Bucket(self.level(now, allowance) - tokens, now)

    def available(self, now: datetime, rate_per_minute: int) -> float:
        return self.level(now, Allowance(rate_per_minute, 60))

    def take(
        self, want: int, now: datetime, rate_per_minute: int, *, priority: bool = False
    ) -> tuple[int, Bucket]:
        """How many of `want` may go now, and the bucket after taking them.

        A few tokens stay in reserve: our bucket starts counting when we take, ACS's when the
        request arrives, a moment later. The reserve shifts our sends by that moment instead of
        lowering the rate, so the two buckets never disagree into a 429. A priority send may
        spend half of it: one-time codes never wait behind bulk traffic that left the bucket at
        its reserve."""
        have = self.available(now, rate_per_minute)
        floor = priority_reserve(rate_per_minute) if priority else reserve(rate_per_minute)
        granted = max(0, min(want, int(have - floor)))
        return granted, Bucket(have - granted, now)


def reserve(rate_per_minute: int) -> int:
    return max(2, rate_per_minute // 50)


def priority_reserve(rate_per_minute: int) -> int:
    return reserve(rate_per_minute) // 2


def full_bucket(now: datetime, rate_per_minute: int) -> Bucket:
    return Bucket(float(rate_per_minute), now)


@dataclass(frozen=True, slots=True)
class Decayed:
    """A count that halves every `half_life` seconds: what happened "over the last hours"
    without keeping a row per event. `value(now)` is the decayed count."""

    count: float
    at: datetime

    def value(self, now: datetime, half_life: float) -> float:
        elapsed = max(0.0, (now - self.at).total_seconds())
        return self.count * math.exp(-math.log(2) * elapsed / half_life)

    def add(self, amount: float, now: datetime, half_life: float) -> Decayed:
        return Decayed(self.value(now, half_life) + amount, now)
