"""Send now what the senders' budgets allow; file everything else in the outbox.

Order of writes, so that nothing is lost and nobody is texted twice:
1. outbox rows for every message that will go (those going now too, due after their claim
   lapses: if this process dies, the outbox drainer finishes the job);
2. the message rows, those going now claimed and carrying their repeatability ids;
3. the ACS requests; then the outcome of each message, ETag-conditional.
A retry with the same Idempotency-Key answers the batch's state instead of sending again.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shared.acs_client import AcsSmsClient, OutgoingSms
from shared.config import Settings
from shared.http_api import ApiError
from shared.ids import new_batch_id
from shared.outbox_entry import OutboxEntry, sweep_entry
from shared.phone import normalize_recipients
from shared.records import BatchRecord, MessageRecord, acs_tag, utcnow
from shared.send_plan import apply_outcomes, claim, outgoing, plan_batch, send_usage
from shared.send_request import SendRequest
from shared.sms_views import send_response
from shared.status import Status
from shared.store import BatchExistsError, ConcurrentUpdateError, SmsStore, StoreUnavailableError

log = logging.getLogger("sms.send")

IDEMPOTENCY_LEASE = timedelta(minutes=2)
CLAIM_LEASE = timedelta(minutes=2)
RELEASED_WAIT = timedelta(
    seconds=10
)  # longer than one send's retries; then the drainer may step in


@dataclass(frozen=True, slots=True)
class SendAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def outbox_entry(message: MessageRecord) -> OutboxEntry:
    assert message.due_at is not None
    return OutboxEntry(message.batch_id, message.index, message.to, message.due_at)


def outbox_rows(messages: Sequence[MessageRecord], now: datetime) -> list[OutboxEntry]:
    """A row per message that waits; one sweep row for those going now: if this process dies
    before they are sent or settled, the outbox finishes them when their claim lapses."""
    rows = [outbox_entry(m) for m in messages if m.due_at and m.claim_until is None]
    going = [m for m in messages if m.claim_until is not None]
    if going:
        rows.append(sweep_entry(going[0].batch_id, now + CLAIM_LEASE))
    return rows


class SmsSender:
    def __init__(
        self,
        settings: Settings,
        store: SmsStore,
        acs: AcsSmsClient,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._store = store
        self._acs = acs
        self._clock = clock

    async def send(
        self,
        request: SendRequest,
        *,
        idempotency_key: str | None,
        confirming_opt_out: bool = False,
    ) -> SendAnswer:
        """Send now, queue or schedule. `confirming_opt_out` is the one exception to the opt-out
        filter: the single confirmation the FCC allows right after an opt-out
        (47 CFR 64.1200(a)(12))."""
        recipients = normalize_recipients(request.to, self._settings.default_region)
        valid = [r.e164 for r in recipients if r.e164]
        pool = self._settings.from_numbers
        now = self._clock()
        senders = [request.sender] if request.sender else list(pool)
        if request.dry_run:
            opt_outs = await self._store.find_opt_outs(senders, valid)
            batch, messages = plan_batch(
                request, recipients, opt_outs, batch_id="", pool=pool, now=now
            )
            return SendAnswer(202, send_response(batch, messages, dry_run=True))
        if confirming_opt_out and len(valid) != 1:
            raise ValueError("an opt-out confirmation goes to exactly one recipient")

        batch_id = new_batch_id()
        if idempotency_key is not None:
            claimed = await self._store.claim_idempotency_key(
                idempotency_key,
                fingerprint=request.fingerprint,
                batch_id=batch_id,
                now=now,
                lease=IDEMPOTENCY_LEASE,
            )
            if claimed.outcome == "mismatch":
                raise ApiError(
                    422,
                    "IdempotencyKeyReused",
                    "this Idempotency-Key was used with a different request body",
                    target="Idempotency-Key",
                )
            if claimed.outcome == "in_progress":
                raise ApiError(
                    409,
                    "IdempotencyKeyInUse",
                    "a request with this Idempotency-Key is still being processed",
                    target="Idempotency-Key",
                    headers={"Retry-After": str(max(1, round(claimed.retry_after)))},
                )
            batch_id = claimed.batch_id
            if claimed.outcome in ("replay", "resume"):
                # Whatever the first attempt left unsent is in the outbox; answer its state.
                existing = await self._store.get_batch(batch_id)
                if existing is not None:
                    await self._store.complete_idempotency_key(idempotency_key)
                    return SendAnswer(
                        202, send_response(*existing), {"Idempotent-Replayed": "true"}
                    )

        opt_outs = set() if confirming_opt_out else await self._store.find_opt_outs(senders, valid)
        batch, messages = plan_batch(
            request, recipients, opt_outs, batch_id=batch_id, pool=pool, now=now
        )
        messages = await self._split_by_budget(messages, now)
        try:
            await self._store.add_outbox_entries(outbox_rows(messages, now))
            messages = await self._store.create_messages(messages, batch)
        except BatchExistsError:
            raise ApiError(409, "Conflict", "this batch was written already; retry") from None
        except StoreUnavailableError:
            if idempotency_key is not None:
                await self._forget_key(idempotency_key)
            raise
        messages = await self._send_claimed(batch, messages)
        await self._store.record_usage(send_usage(batch, messages))
        if idempotency_key is not None:
            await self._store.complete_idempotency_key(idempotency_key)
        counts = Counter(m.status.value for m in messages)
        log.info(
            "batch %s: %d recipients, %s", batch_id, len(messages), dict(sorted(counts.items()))
        )
        return SendAnswer(202, send_response(batch, messages))

    async def _split_by_budget(
        self, messages: list[MessageRecord], now: datetime
    ) -> list[MessageRecord]:
        """Per sender, hold as many messages as its budget looks able to take now (claimed,
        with repeatability ids, written so before ACS is called); spread the rest over the
        coming minutes in the outbox. The budget itself is taken just before sending."""
        rate = self._settings.rate_per_number_per_minute
        by_sender: dict[str, list[int]] = defaultdict(list)
        for position, message in enumerate(messages):
            if message.status is Status.QUEUED:
                by_sender[message.sender or ""].append(position)
        out = list(messages)
        for sender, positions in by_sender.items():
            room = int(await self._store.peek_send_budget(sender, now=now, rate_per_minute=rate))
            for rank, position in enumerate(positions):
                message = out[position]
                if rank < room:
                    out[position] = replace(
                        claim(message, now, CLAIM_LEASE), due_at=now + CLAIM_LEASE
                    )
                else:
                    wait = timedelta(seconds=(rank - room + 1) * 60.0 / rate)
                    out[position] = replace(message, due_at=now + wait)
        return out

    async def _send_claimed(
        self, batch: BatchRecord, messages: list[MessageRecord]
    ) -> list[MessageRecord]:
        now = self._clock()
        held = [
            m
            for m in messages
            if m.status is Status.QUEUED and m.claim_until is not None and m.claim_until > now
        ]
        if not held:
            return messages
        going, surplus = await self._take_budget(held, now)
        saved: list[MessageRecord] = []
        if surplus:  # another instance spent the budget meanwhile: these wait in the outbox
            saved += await save_outcomes(self._store, [_release(m, now) for m in surplus])
        if going:
            updated = await send_to_acs(self._acs, batch, going, now=now, clock=self._clock)
            saved += await save_outcomes(self._store, updated)
        requeued = [m for m in saved if m.status is Status.QUEUED and m.due_at is not None]
        if requeued:
            await self._store.add_outbox_entries([outbox_entry(m) for m in requeued])
        by_index = {m.index: m for m in saved}
        return [by_index.get(m.index, m) for m in messages]

    async def _take_budget(
        self, held: list[MessageRecord], now: datetime
    ) -> tuple[list[MessageRecord], list[MessageRecord]]:
        by_sender: dict[str, list[MessageRecord]] = defaultdict(list)
        for message in held:
            by_sender[message.sender or ""].append(message)
        going: list[MessageRecord] = []
        surplus: list[MessageRecord] = []
        for sender, group in by_sender.items():
            granted = await self._store.take_send_budget(
                sender,
                len(group),
                now=now,
                rate_per_minute=self._settings.rate_per_number_per_minute,
            )
            going += group[:granted]
            surplus += group[granted:]
        return going, surplus

    async def _forget_key(self, key: str) -> None:
        try:
            await self._store.release_idempotency_key(key)
        except Exception:  # best effort: the lease expires anyway
            log.warning("could not release an idempotency key after a storage failure")


def _release(message: MessageRecord, now: datetime) -> MessageRecord:
    """Back to waiting, unsent: no claim, and no ids (a later send gets fresh ones)."""
    return replace(
        message,
        claim_until=None,
        repeatability_request_id=None,
        repeatability_first_sent=None,
        due_at=now + RELEASED_WAIT,
    )


async def send_to_acs(
    acs: AcsSmsClient,
    batch: BatchRecord,
    claimed: Sequence[MessageRecord],
    *,
    now: datetime,
    clock: Callable[[], datetime],
) -> list[MessageRecord]:
    """Send claimed messages of one batch, one ACS call per sender; their records after it."""
    by_sender: dict[str, list[MessageRecord]] = defaultdict(list)
    for message in claimed:
        by_sender[message.sender or ""].append(message)
    updated: list[MessageRecord] = []
    for sender, group in by_sender.items():
        index_of = {m.to: m.index for m in group}
        outcomes = await acs.send(
            sender=sender,
            recipients=[outgoing(m) for m in group],
            message=batch.message,
            enable_delivery_report=batch.delivery_report,
            tag=_chunk_tag(batch.batch_id, index_of),
        )
        updated += apply_outcomes(group, outcomes, clock())
    return updated


def _chunk_tag(batch_id: str, index_of: dict[str, int]) -> Callable[[Sequence[OutgoingSms]], str]:
    """Each ACS request's tag names its batch and row range, for the delivery reports."""
    return lambda chunk: acs_tag(batch_id, [index_of[r.to] for r in chunk])


async def save_outcomes(store: SmsStore, updated: list[MessageRecord]) -> list[MessageRecord]:
    """ETag-conditional save; where a row changed meanwhile (a delivery report that beat us),
    re-apply on its current state, which only ever moves forward."""
    try:
        return await store.update_messages(updated)
    except ConcurrentUpdateError:
        pass
    saved: list[MessageRecord] = []
    for message in updated:
        try:
            saved += await store.update_messages([message])
            continue
        except ConcurrentUpdateError:
            pass
        [base] = await store.get_messages(message.batch_id, [message.index])
        merged = base.advance(
            message.status,
            message.history[-1].at,
            message.history[-1].detail,
            acs_message_id=base.acs_message_id or message.acs_message_id,
            sent_at=base.sent_at or message.sent_at,
            error_code=message.error_code,
            error_message=message.error_message,
            claim_until=None,
        )
        saved += await store.update_messages([merged]) if merged is not base else [base]
    return saved
