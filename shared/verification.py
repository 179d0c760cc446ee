"""A verification (one-time code) and the moves it can make (pure, no I/O).

`pending` → `approved` (the right code), `exhausted` (maxChecks wrong codes), `expired` (its
time ran out), `canceled` (a newer verification for the same number, or an opt-out). Every move
leaves `pending` for good, and every final state drops the seed and the check value: what is
left is a record of what happened, with nothing that could give a code back.

Attempts count per verification, never per number: nobody can lock a stranger out by guessing
wrong against their number; a new verification starts with its own `maxChecks`. Each move is
saved ETag-conditionally on the record it was decided from (`tables/verifications.py`), so two
checks at once are decided one after the other.

Resends: the same code, after `resendAfter` — 30 s after the first text, doubling each time
(30 s, 1, 2, 4 min) — at most `MAX_SENDS` texts in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.verify_texts import TextOptions

MAX_SENDS = 5
FIRST_RESEND_WAIT = timedelta(seconds=30)


class VerifyStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class Verification:
    id: str
    to: str  # E.164
    status: VerifyStatus
    created_at: datetime
    expires_at: datetime
    code_length: int
    max_checks: int
    checks: int = 0
    sends: int = 0
    batches: tuple[str, ...] = ()  # the batch of each text, in order
    senders: tuple[str, ...] = ()  # the pool number of each text
    last_sent_at: datetime | None = None
    locale: str | None = None
    app_hash: str | None = None
    domain: str | None = None
    user_id: str | None = None
    session: str | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    seed: bytes | None = field(default=None, repr=False)
    check_value: bytes | None = field(default=None, repr=False)
    etag: str | None = field(default=None, compare=False)
    # How many of its events are written: 1 once started, 2 once ended (None: a new record).
    events_written: int | None = field(default=None, compare=False)

    @property
    def checks_remaining(self) -> int:
        return max(0, self.max_checks - self.checks) if self.is_pending else 0

    @property
    def sends_remaining(self) -> int:
        return max(0, MAX_SENDS - self.sends) if self.is_pending else 0

    @property
    def is_pending(self) -> bool:
        return self.status is VerifyStatus.PENDING

    @property
    def resend_after(self) -> datetime | None:
        """When a resend may go; None once no resend can."""
        if not self.is_pending or self.sends >= MAX_SENDS or self.last_sent_at is None:
            return None
        return self.last_sent_at + FIRST_RESEND_WAIT * (1 << max(0, self.sends - 1))

    @property
    def ttl_seconds(self) -> int:
        return round((self.expires_at - self.created_at).total_seconds())

    @property
    def text_options(self) -> TextOptions:
        return TextOptions(self.ttl_seconds, self.locale, self.app_hash, self.domain)

    def is_due_to_expire(self, now: datetime) -> bool:
        return self.is_pending and now >= self.expires_at


def ended(
    verification: Verification, status: VerifyStatus, now: datetime, reason: str
) -> Verification:
    """A final state: the seed and the check value go with it."""
    if not verification.is_pending:
        return verification
    return replace(
        verification,
        status=status,
        ended_at=now,
        end_reason=reason,
        seed=None,
        check_value=None,
    )


def after_check(verification: Verification, matched: bool, now: datetime) -> Verification:
    """The record after one check of a pending verification: one attempt used, whatever the
    answer; the right code approves, the last wrong one exhausts it."""
    if not verification.is_pending:
        return verification
    if verification.is_due_to_expire(now):
        return ended(verification, VerifyStatus.EXPIRED, now, "its time ran out")
    used = replace(verification, checks=verification.checks + 1)
    if matched:
        return ended(used, VerifyStatus.APPROVED, now, "the right code")
    if used.checks >= used.max_checks:
        return ended(used, VerifyStatus.EXHAUSTED, now, f"{used.max_checks} wrong codes")
    return used


def after_send(
    verification: Verification, *, batch_id: str, sender: str, now: datetime
) -> Verification:
    """One more text of the same code, from `sender`, recorded before it goes."""
    return replace(
        verification,
        sends=verification.sends + 1,
        batches=(*verification.batches, batch_id),
        senders=(*verification.senders, sender),
        last_sent_at=now,
    )
