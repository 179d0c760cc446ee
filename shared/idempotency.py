"""What a repeated `Idempotency-Key` means (pure): the first request with a key runs; a repeat
replays its answer, waits for it, takes over a dead one, or is refused for another body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

KEY_TTL = timedelta(hours=24)

Verdict = Literal["expired", "mismatch", "replay", "in_progress", "resume"]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    fingerprint: str
    batch_id: str
    state: Literal["started", "completed"]
    created_at: datetime
    lease_until: datetime


def judge_repeat(existing: KeyRecord, *, fingerprint: str, now: datetime) -> Verdict:
    """A request met a key that is already there: what becomes of it."""
    if existing.created_at < now - KEY_TTL:
        return "expired"  # starts over as a new request
    if existing.fingerprint != fingerprint:
        return "mismatch"
    if existing.state == "completed":
        return "replay"
    if existing.lease_until > now:
        return "in_progress"
    return "resume"  # the first attempt died mid-way: take it over and finish its work
