"""The one path of every opt-out and opt-in, whatever its source (the API, a keyword, free
text, a carrier block, and the flows to come): the same rows for each (the opt-out itself, a
consent-ledger entry as evidence, a usage row), written concurrently, and the same policy for
waiting messages (an opt-out cancels them at once). Confirmation texts are the caller's: only
keywords get one, and the inbound flow decides when (47 CFR 64.1200(a)(12))."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from shared.acs_client import AcsSmsClient
from shared.acs_errors import AcsError
from shared.cancel import canceled, why_not_cancelable
from shared.clock import utcnow
from shared.conflicts import leave_alone, save_reapplying
from shared.errors import DependencyUnavailableError
from shared.ledger import ConsentAction, ConsentEntry
from shared.phone import mask
from shared.records import MessageRecord
from shared.storage import Storage
from shared.tables.opt_outs import POOL_WIDE
from shared.usage import UsageEvent, country_of

log = logging.getLogger("sms.consent")

OPTED_OUT_REASON = "the recipient opted out"


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """One opt-out, opt-in or help request, and the evidence the ledger keeps of it.
    `scopes`: `*` (every sender of the pool) and/or single sender numbers."""

    recipient: str
    action: ConsentAction
    scopes: tuple[str, ...]
    source: str  # api, keyword, freeText, carrier
    at: datetime
    ref: str  # the event, request or report that caused it: the key of its rows
    our_number: str | None = None  # the number they wrote to (or that the carrier blocked)
    usage_sender: str | None = None  # the sender the usage row is counted under
    usage_reason: str | None = None
    keyword: str | None = None
    match: str | None = None
    needs_review: bool = False
    text: str | None = None
    last_message_id: str | None = None

    def ledger_entry(self) -> ConsentEntry:
        return ConsentEntry(
            recipient=self.recipient,
            at=self.at,
            action=self.action,
            scope=self.scopes[0],
            source=self.source,
            ref=self.ref,
            keyword=self.keyword,
            match=self.match,
            needs_review=self.needs_review,
            our_number=self.our_number,
            text=self.text,
            last_message_id=self.last_message_id,
        )

    def usage(self) -> list[UsageEvent]:
        if self.action == "help":
            return []
        return [
            UsageEvent(
                self.action,
                self.at,
                self.ref,
                sender=self.usage_sender,
                country=country_of(self.recipient),
                reason=self.usage_reason or self.source,
            )
        ]


class ConsentService:
    def __init__(self, storage: Storage, acs: AcsSmsClient, *, pool: tuple[str, ...]) -> None:
        self._storage = storage
        self._acs = acs
        self._pool = pool

    async def record(self, change: ConsentChange, *, mirror: bool = True) -> list[MessageRecord]:
        """Write the change and its evidence, mirror it to ACS's opt-out list (unless the
        caller does that itself, after the one confirmation text an opt-out may get); an
        opt-out then cancels what waits for them. Every write is keyed by the change, so a
        repeat rewrites the same rows."""
        writes: list[Awaitable[None]] = [self._storage.consent.add(change.ledger_entry())]
        writes.append(self._storage.usage.record(change.usage()))
        for scope in change.scopes:
            if change.action == "optOut":
                writes.append(
                    self._storage.opt_outs.add(
                        change.recipient, scope=scope, at=change.at, source=change.source
                    )
                )
            elif change.action == "optIn":
                writes.append(self._storage.opt_outs.remove(change.recipient, scope=scope))
        await asyncio.gather(*writes)
        if mirror:
            await self.mirror(change)
        if change.action != "optOut":
            return []
        dropped = await self.cancel_waiting(change.recipient, OPTED_OUT_REASON, change.scopes)
        if dropped:
            log.info(
                "opt-out canceled %d waiting message(s) to %s", len(dropped), mask(change.recipient)
            )
        return dropped

    async def mirror(self, change: ConsentChange) -> None:
        """ACS's own opt-out list follows ours, so ACS itself refuses what our checks refuse.
        It is kept per sender: a pool-wide change is made for every number of the pool. A
        failure raises after our rows are written, so repeating the change is safe."""
        if change.action not in ("optOut", "optIn"):
            return
        senders = [s for s in change.scopes if s != POOL_WIDE]
        if POOL_WIDE in change.scopes:
            senders = [*self._pool, *senders]
        call = self._acs.add_opt_outs if change.action == "optOut" else self._acs.remove_opt_outs
        try:
            answers = await asyncio.gather(
                *(call(sender=s, recipients=[change.recipient]) for s in dict.fromkeys(senders))
            )
        except AcsError as exc:
            raise DependencyUnavailableError(
                f"the {change.action} is recorded; ACS's opt-out list could not follow it yet "
                f"({exc.code}): repeat the request",
                retry_after=5,
            ) from exc
        for result in (r for answer in answers for r in answer if not r.successful):
            if result.worth_retrying:
                raise DependencyUnavailableError(
                    f"the {change.action} is recorded; ACS could not follow it yet: repeat it",
                    retry_after=5,
                )
            log.warning(  # ACS cannot act on this number (e.g. 400): nothing to retry
                "ACS opt-out list refused %s: %s", mask(change.recipient), result.error_message
            )

    async def cancel_waiting(
        self, recipient: str, reason: str, scopes: tuple[str, ...]
    ) -> list[MessageRecord]:
        """Cancel every scheduled or queued message to `recipient` from a sender of `scopes`
        that nobody is sending now; one being sent is stopped by the opt-out check before its
        next attempt."""
        now = utcnow()
        by_batch: dict[str, list[int]] = defaultdict(list)
        for entry in await self._storage.outbox.find_for(recipient):
            by_batch[entry.batch_id].append(entry.index)
        found = await asyncio.gather(
            *(self._storage.messages.get_many(b, indexes) for b, indexes in by_batch.items())
        )
        waiting = [
            canceled(m, now, reason)
            for group in found
            for m in group
            if m.to == recipient
            and (POOL_WIDE in scopes or m.sender in scopes)
            and why_not_cancelable(m, now) is None
        ]
        return await save_reapplying(self._storage.messages, waiting, leave_alone)

    async def is_opted_out(self, recipient: str, sender: str) -> bool:
        return bool(await self._storage.opt_outs.find_opted_out([sender], [recipient]))
