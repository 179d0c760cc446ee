"""Per-sender throttling: a token bucket of message units (one unit = one recipient).

ACS service limits: toll-free numbers send 200 message units per minute; above that the
service answers 429.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Buckets hold up to `per_minute` units and refill continuously (`time_scale` times faster)."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def try_take(
        self, sender: str, units: int, *, per_minute: int, time_scale: float, now: float
    ) -> float | None:
        """Takes `units` and returns None, or takes nothing and returns the wait in real seconds.

        `now` is a monotonic clock reading. A request is all or nothing: ACS answers the whole
        request 429, it does not send to the first recipients only.
        """
        if per_minute <= 0 or units <= 0:
            return None
        refill = per_minute / 60.0 * time_scale  # units per real second
        bucket = self._buckets.setdefault(sender, _Bucket(float(per_minute), now))
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * refill)
        bucket.updated = now
        if units <= bucket.tokens:
            bucket.tokens -= units
            return None
        # A request larger than the whole bucket can never pass; advise waiting for a full one.
        return (min(units, per_minute) - bucket.tokens) / refill

    def clear(self) -> None:
        self._buckets.clear()
