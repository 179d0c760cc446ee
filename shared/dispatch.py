"""The one dispatch pipeline, used by `POST /api/sms` and the outbox alike:
claimed messages → ACS → write-ahead outbox rows → their outcomes saved → usage counted.

Order, so that a crash or a storage failure at any point leaves work the outbox finishes:
- the caller has claimed the messages (an ETag-conditional write with their repeatability ids)
  and made sure a sweep row of their batch exists: if this process dies, the claim lapses and
  the outbox sends them again with the same ids, which ACS recognises as a repeat;
- before any retry the recipients' opt-outs are read again: a STOP wins over a send in flight;
- the outbox rows of messages that go back to waiting are written *before* their new state,
  so no message is ever queued without a row that brings it back.

A text that must not be stored (a one-time code) is kept masked in its batch row; the request
that made it holds the text, and the outbox gets it again from `PrivateTexts` by the batch's
`text_ref`. When that answers None (the verification ended), the message is canceled unsent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from shared.acs_client import AcsSmsClient
from shared.acs_messages import OutgoingSms, opted_out
from shared.clock import utcnow
from shared.conflicts import save_reapplying
from shared.errors import StoreUnavailableError
from shared.outbox_entry import OutboxEntry, sweep_entry
from shared.records import BatchRecord, MessageRecord, acs_tag
from shared.send_plan import apply_outcomes, outgoing, send_usage
from shared.status import Status
from shared.storage import Storage

log = logging.getLogger("sms.dispatch")

CLAIM_LEASE = timedelta(minutes=2)
TEXT_GONE = "its text is no longer available (the verification ended)"


class PrivateTexts(Protocol):
    """Where the outbox gets a text that is not stored, by its batch's `text_ref`."""

    async def text_for(self, ref: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Dispatched:
    """The messages after ACS answered; `recorded` is False when storage failed to save them
    (ACS took what it took: the claims lapse and the outbox brings the records up to date)."""

    messages: list[MessageRecord]
    recorded: bool = True


def outbox_entry(message: MessageRecord) -> OutboxEntry:
    assert message.due_at is not None
    return OutboxEntry(message.batch_id, message.index, message.to, message.due_at)


def reapply_outcome(current: MessageRecord, wanted: MessageRecord) -> MessageRecord:
    """A send's outcome on a row that changed meanwhile (a delivery report that beat us)."""
    last = wanted.history[-1]
    return current.advance(
        wanted.status,
        last.at,
        last.detail,
        acs_message_id=current.acs_message_id or wanted.acs_message_id,
        sent_at=current.sent_at or wanted.sent_at,
        error_code=wanted.error_code,
        error_message=wanted.error_message,
        maybe_sent=current.maybe_sent or wanted.maybe_sent,
        claim_until=None,
    )


class Dispatcher:
    def __init__(
        self,
        storage: Storage,
        acs: AcsSmsClient,
        *,
        report_timeout: timedelta,
        acs_report_timeout: int | None = None,
        private_texts: PrivateTexts | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._private_texts = private_texts
        self._storage = storage
        self._acs = acs
        self._report_timeout = report_timeout
        self._acs_report_timeout = acs_report_timeout  # ACS's deliveryReportTimeoutInSeconds
        self._clock = clock

    async def dispatch(
        self,
        batch: BatchRecord,
        claimed: Sequence[MessageRecord],
        *,
        watch_reports: bool,
        also_count: Sequence[MessageRecord] = (),
    ) -> Dispatched:
        """Send claimed messages of one batch (one ACS call per sender) and record the outcome.
        `watch_reports` files the batch's sweep row for the delivery-report deadline (the send
        path has one already); `also_count` are messages settled without sending (invalid,
        opted out) whose usage goes in the same write."""
        updated = await self._send(batch, claimed)
        now = self._clock()
        ahead = [outbox_entry(m) for m in updated if m.status is Status.QUEUED and m.due_at]
        accepted = any(m.status is Status.ACCEPTED for m in updated)
        if watch_reports and batch.delivery_report and accepted:
            ahead.append(sweep_entry(batch.batch_id, now + self._report_timeout))
        try:
            await self._storage.outbox.add(ahead)
            saved = await save_reapplying(self._storage.messages, updated, reapply_outcome)
        except StoreUnavailableError:
            log.warning(
                "batch %s: outcomes not saved yet (storage); claims will lapse", batch.batch_id
            )
            return Dispatched(updated, recorded=False)
        try:
            await self._storage.usage.record(send_usage(batch, [*saved, *also_count]))
        except StoreUnavailableError:
            log.warning("batch %s: usage rows not written (storage)", batch.batch_id)
        return Dispatched(saved)

    async def _send(
        self, batch: BatchRecord, claimed: Sequence[MessageRecord]
    ) -> list[MessageRecord]:
        text = await self._text_of(batch)
        if text is None:
            now = self._clock()
            return [
                m.advance(
                    Status.CANCELED,
                    now,
                    TEXT_GONE,
                    error_code="Canceled",
                    error_message=TEXT_GONE,
                    claim_until=None,
                    due_at=None,
                )
                for m in claimed
            ]
        by_sender: dict[str, list[MessageRecord]] = defaultdict(list)
        for message in claimed:
            by_sender[message.sender or ""].append(message)
        updated: list[MessageRecord] = []
        for sender, group in by_sender.items():
            index_of = {m.to: m.index for m in group}

            async def opted_out_now(
                recipients: Sequence[OutgoingSms], sender: str = sender
            ) -> set[str]:
                numbers = [r.to for r in recipients]
                try:
                    return await self._storage.opt_outs.find_opted_out([sender], numbers)
                except StoreUnavailableError:  # ACS's own list, mirrored from ours, answers
                    results = await self._acs.check_opt_outs(sender=sender, recipients=numbers)
                    if not all(r.successful for r in results):
                        raise
                    return {number for number, out in opted_out(results).items() if out}

            outcomes = await self._acs.send(
                sender=sender,
                recipients=[outgoing(m) for m in group],
                message=text,
                enable_delivery_report=batch.delivery_report,
                tag=lambda chunk, index_of=index_of: acs_tag(  # type: ignore[misc]
                    batch.batch_id, [index_of[r.to] for r in chunk]
                ),
                before_retry=opted_out_now,
                delivery_report_timeout=self._acs_report_timeout,
            )
            updated += apply_outcomes(group, outcomes, self._clock())
        return updated

    async def _text_of(self, batch: BatchRecord) -> str | None:
        if batch.text is not None:
            return batch.text
        if batch.text_ref is None or self._private_texts is None:
            return None
        return await self._private_texts.text_for(batch.text_ref)


def released(message: MessageRecord, now: datetime, wait: timedelta) -> MessageRecord:
    """Back to waiting, unsent: no claim, and no ids unless an attempt may have reached ACS."""
    if message.maybe_sent:
        return replace(message, claim_until=None, due_at=now + wait)
    return replace(
        message,
        claim_until=None,
        repeatability_request_id=None,
        repeatability_first_sent=None,
        due_at=now + wait,
    )
