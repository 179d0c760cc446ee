"""Message statuses and the rule that a status only moves forward."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    ACCEPTED = "accepted"  # ACS took it
    UNKNOWN = "unknown"  # no final answer; a late delivery report may still settle it
    DELIVERED = "delivered"
    FAILED = "failed"
    OPTED_OUT = "optedOut"
    INVALID = "invalid"
    REJECTED = "rejected"  # ACS refused it
    CANCELED = "canceled"
    EXPIRED = "expired"


_RANK = {
    Status.SCHEDULED: 0,
    Status.QUEUED: 1,
    Status.ACCEPTED: 2,
    Status.UNKNOWN: 3,
}
FINAL = frozenset(s for s in Status if s not in _RANK)
NEVER_SENT = frozenset(
    {Status.OPTED_OUT, Status.INVALID, Status.REJECTED, Status.CANCELED, Status.EXPIRED}
)


def can_advance(current: Status, new: Status) -> bool:
    """True when `new` is a later state: finals never change, and nothing moves backwards."""
    if current in FINAL:
        return False
    return new in FINAL or _RANK[new] > _RANK[current]
