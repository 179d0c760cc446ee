"""Whether a verification text may go now: the layered limits and the conversion guard
(`verify_limits`, pure) applied to their `rateBuckets` rows, narrowest first; and what analytics
and the guard learn from verifications: starts, approvals, and every refusal with its reason
(with the country and sender; never the number, never the code)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import StoreUnavailableError, ThrottledError
from shared.phone import mask
from shared.storage import Storage
from shared.usage import UsageEvent, UsageKind, country_of
from shared.verification import Verification
from shared.verify_config import VerifySettings
from shared.verify_limits import (
    LOW_CONVERSION,
    LimitRow,
    Verdict,
    admit,
    count_approval,
    guard_rows,
    limit_rows,
)

log = logging.getLogger("sms.verify")

TAG = "verification"
FLAGGED = LOW_CONVERSION + "Monitored"  # the guard's verdict in monitor mode: counted, not refused
_WHAT = {
    "perIp": "verifications from this IP address",
    "perNumber": "verifications for this number",
    "perPrefix": "verifications for numbers of this prefix",
    "perCountry": "verifications for numbers of this country",
    "total": "verifications in all",
    LOW_CONVERSION: "codes sent to this prefix or country that were never entered",
}


class Admission:
    def __init__(self, settings: VerifySettings, storage: Storage) -> None:
        self._settings = settings
        self._storage = storage

    async def admit(
        self, *, to: str, country: str, ip: str | None, now: datetime, current: str | None
    ) -> str | None:
        """Spend one text of every layer, or raise `ThrottledError` naming the first that is
        spent. `current` (a new verification) becomes the number's latest; answers the one it
        replaces, if any."""
        rows = limit_rows(
            self._settings.limits, to=to, country=country, ip=ip, guard=self._settings.guard
        )
        previous: str | None = None
        for row in rows:

            def change(
                props: Mapping[str, Any] | None, row: LimitRow = row
            ) -> tuple[Verdict, dict[str, Any] | None]:
                return admit(row, props, now, self._settings.guard, current=current)

            verdict = await self._storage.buckets.change(row.key, change)
            if verdict.refused is not None:
                await self.count_block(verdict.refused, country=country, at=now)
                raise ThrottledError(
                    f"too many {_WHAT[verdict.refused]}; retry later",
                    retry_after=max(1.0, verdict.retry_after),
                    target="to",
                    reason=verdict.refused,
                )
            if verdict.flagged:
                log.warning("verification to %s: low conversion (monitor mode)", mask(to))
                await self.count_block(FLAGGED, country=country, at=now)
            previous = previous or verdict.previous
        return previous

    async def count_approval(self, *, to: str, country: str, now: datetime) -> None:
        """An approved code, in the guard's cells: their conversion goes up."""
        guard = self._settings.guard
        for key in guard_rows(to, country):
            await self._storage.buckets.change(key, lambda props: count_approval(props, guard, now))

    async def count_started(self, verification: Verification) -> None:
        await self._count("verifyStarted", verification, verification.created_at)

    async def count_approved(self, verification: Verification) -> None:
        """In analytics, and in the guard's cells: their conversion goes up."""
        at = verification.ended_at or verification.created_at
        await self._count("verifyApproved", verification, at)
        try:
            await self.count_approval(
                to=verification.to, country=country_of(verification.to) or "", now=at
            )
        except StoreUnavailableError:
            log.warning(
                "verification %s: approval not counted by the guard (storage)", verification.id
            )

    async def _count(self, kind: UsageKind, verification: Verification, at: datetime) -> None:
        """Keyed by the verification: a repeat rewrites its own row."""
        event = UsageEvent(
            kind=kind,
            at=at,
            key=verification.id,
            sender=verification.senders[-1] if verification.senders else None,
            country=country_of(verification.to),
            tag=TAG,
        )
        try:
            await self._storage.usage.record([event])
        except StoreUnavailableError:
            log.warning("verification %s: %s not counted (storage)", verification.id, kind)

    async def count_block(self, reason: str, *, country: str | None, at: datetime) -> None:
        """One refused text. Each refusal is its own event (a uuid key): a client repeating a
        refused request was refused twice."""
        event = UsageEvent(
            kind="verifyBlocked",
            at=at,
            key=str(uuid.uuid4()),
            country=country,
            tag=TAG,
            reason=reason,
        )
        try:
            await self._storage.usage.record([event])
        except StoreUnavailableError:
            log.warning("verification block not counted (storage)")
