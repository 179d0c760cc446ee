"""The send: plan every recipient's fate, commit it, send what the senders' budgets allow now,
and leave everything else to the outbox.

Order of writes, so that nothing is lost and nobody is texted twice:
1. outbox rows for every message that will go (a sweep row for those going now: if this process
   dies, the outbox sends them when their claim lapses, with the same repeatability ids);
2. the message rows, those going now claimed and carrying their repeatability ids; the batch
   header last, in the same transaction as the first rows: the commit point;
3. the ACS requests, then the outcomes, through the dispatch pipeline.
A storage failure before the commit point means nothing was sent and nothing will be
(`NothingSentError`); after it, the send is not failed: the answer says what is known.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.clock import utcnow
from shared.config import Settings
from shared.dispatch import CLAIM_LEASE, Dispatcher, outbox_entry, released
from shared.errors import (
    AlreadyExistsError,
    ConflictError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    NothingSentError,
    SendStateUnknownError,
    StoreUnavailableError,
)
from shared.ids import new_batch_id
from shared.outbox_entry import OutboxEntry, sweep_entry
from shared.phone import normalize_recipients
from shared.records import BatchRecord, MessageRecord
from shared.send_plan import claim, plan_batch, send_usage
from shared.send_request import SendRequest
from shared.status import Status
from shared.storage import Storage

log = logging.getLogger("sms.send")

IDEMPOTENCY_LEASE = timedelta(minutes=2)
RELEASED_WAIT = timedelta(seconds=10)  # longer than one send's retries; then the drainer steps in
KEY_TARGET = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What a send did: the batch and each recipient's message, in request order.
    `replayed`: an earlier request with the same Idempotency-Key did the work.
    `recorded`: False when ACS took messages whose outcome storage could not save yet."""

    batch: BatchRecord
    messages: list[MessageRecord]
    replayed: bool = False
    dry_run: bool = False
    recorded: bool = True


def outbox_rows(
    messages: Sequence[MessageRecord], now: datetime, lease: timedelta
) -> list[OutboxEntry]:
    """A row per message that waits; one sweep row for those going now."""
    rows = [outbox_entry(m) for m in messages if m.due_at and m.claim_until is None]
    going = [m for m in messages if m.claim_until is not None]
    if going:
        rows.append(sweep_entry(going[0].batch_id, now + lease))
    return rows


class SmsSender:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        dispatcher: Dispatcher,
        *,
        claim_lease: timedelta = CLAIM_LEASE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._dispatcher = dispatcher
        self._lease = claim_lease
        self._clock = clock

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher

    async def send(
        self,
        request: SendRequest,
        *,
        idempotency_key: str | None,
        confirming_opt_out: bool = False,
        batch_id: str | None = None,
    ) -> SendOutcome:
        """Send now, queue or schedule. `confirming_opt_out` is the one exception to the opt-out
        filter: the single confirmation the FCC allows right after an opt-out
        (47 CFR 64.1200(a)(12)). `batch_id`: the id to write a new send under, when the caller
        recorded it first (a verification notes each text's batch before it goes)."""
        recipients = normalize_recipients(
            request.to,
            self._settings.default_region,
            allowed_regions=self._settings.allowed_countries,
        )
        valid = [r.e164 for r in recipients if r.e164]
        pool = self._settings.from_numbers
        senders = [request.sender] if request.sender else list(pool)
        now = self._clock()
        if confirming_opt_out and len(valid) != 1:
            raise ValueError("an opt-out confirmation goes to exactly one recipient")
        owns_key = False  # only a key this request holds may be given up on its failure
        try:
            if request.dry_run:
                opt_outs = await self._storage.opt_outs.find(senders, valid)
                batch, messages = plan_batch(
                    request, recipients, opt_outs, batch_id="", pool=pool, now=now
                )
                return SendOutcome(batch, messages, dry_run=True)
            batch_id, overwrite = batch_id or new_batch_id(), False
            if idempotency_key is not None:
                claimed = await self._claim_key(idempotency_key, request, batch_id, now)
                if isinstance(claimed, SendOutcome):
                    return claimed
                batch_id, overwrite = claimed
                owns_key = True
            opt_outs = (
                set() if confirming_opt_out else await self._storage.opt_outs.find(senders, valid)
            )
            batch, messages = plan_batch(
                request, recipients, opt_outs, batch_id=batch_id, pool=pool, now=now
            )
            messages = await self._split_by_budget(messages, now)
            await self._storage.outbox.add(outbox_rows(messages, now, self._lease))
        except StoreUnavailableError as exc:
            # A repeat that failed while asking for the key must not release the first
            # request's claim: that would let the next repeat send the batch a second time.
            if idempotency_key is not None and owns_key:
                await self._forget_key(idempotency_key)
            raise NothingSentError(str(exc)) from exc
        try:
            messages = await self._storage.messages.create_batch(
                batch, messages, overwrite=overwrite
            )
        except AlreadyExistsError:
            raise ConflictError("this batch was written already; retry", target="body") from None
        except StoreUnavailableError as exc:
            # The commit may have landed although no answer came: the key stays taken, so a
            # repeat with it answers the batch's state instead of sending again.
            raise SendStateUnknownError(batch_id) from exc
        # Committed: from here on a storage failure does not fail the send.
        recorded = True
        try:
            messages, recorded = await self._send_claimed(batch, messages)
        except StoreUnavailableError:
            log.warning("batch %s: storage failed while sending; the outbox finishes it", batch_id)
        if idempotency_key is not None:
            try:
                await self._storage.idempotency.complete(idempotency_key)
            except StoreUnavailableError:
                log.warning("batch %s: idempotency key not marked done (storage)", batch_id)
        counts = Counter(m.status.value for m in messages)
        log.info(
            "batch %s: %d recipients, %s", batch_id, len(messages), dict(sorted(counts.items()))
        )
        return SendOutcome(batch, messages, recorded=recorded)

    async def _claim_key(
        self, key: str, request: SendRequest, batch_id: str, now: datetime
    ) -> SendOutcome | tuple[str, bool]:
        """The batch id to write under (and whether to overwrite rows an attempt left before its
        commit point), or the outcome to replay."""
        claimed = await self._storage.idempotency.claim(
            key,
            fingerprint=request.fingerprint,
            batch_id=batch_id,
            now=now,
            lease=IDEMPOTENCY_LEASE,
        )
        if claimed.outcome == "mismatch":
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was used with a different request body", target=KEY_TARGET
            )
        if claimed.outcome == "in_progress":
            raise IdempotencyKeyInUseError(
                "a request with this Idempotency-Key is still being processed",
                target=KEY_TARGET,
                retry_after=claimed.retry_after,
            )
        if claimed.outcome in ("replay", "resume"):
            # Whatever the first attempt left unsent is in the outbox; answer its state.
            existing = await self._storage.messages.get_batch(claimed.batch_id)
            if existing is not None:
                await self._storage.idempotency.complete(key)
                return SendOutcome(*existing, replayed=True)
            return claimed.batch_id, True  # it died before committing: start over, same id
        return claimed.batch_id, False

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
            room = int(await self._storage.buckets.peek(sender, now=now, rate_per_minute=rate))
            for rank, position in enumerate(positions):
                message = out[position]
                if rank < room:
                    out[position] = replace(
                        claim(message, now, self._lease), due_at=now + self._lease
                    )
                else:
                    wait = timedelta(seconds=(rank - room + 1) * 60.0 / rate)
                    out[position] = replace(message, due_at=now + wait)
        return out

    async def _send_claimed(
        self, batch: BatchRecord, messages: list[MessageRecord]
    ) -> tuple[list[MessageRecord], bool]:
        now = self._clock()
        held = [
            m
            for m in messages
            if m.status is Status.QUEUED and m.claim_until is not None and m.claim_until > now
        ]
        if not held:
            await self._count(batch, messages)
            return messages, True
        never_sent = [m for m in messages if m.status in (Status.INVALID, Status.OPTED_OUT)]
        going, surplus = await self._take_budget(held, now, priority=batch.priority)
        changed: list[MessageRecord] = []
        recorded = True
        if surplus:  # another instance spent the budget meanwhile: these wait in the outbox
            back = [released(m, now, RELEASED_WAIT) for m in surplus]
            await self._storage.outbox.add([outbox_entry(m) for m in back])
            changed += (await self._storage.messages.update(back)).saved
        if going:
            dispatched = await self._dispatcher.dispatch(
                batch, going, watch_reports=False, also_count=never_sent
            )
            changed += dispatched.messages
            recorded = dispatched.recorded
        else:
            await self._count(batch, never_sent)
        by_index = {m.index: m for m in changed}
        return [by_index.get(m.index, m) for m in messages], recorded

    async def _count(self, batch: BatchRecord, messages: Sequence[MessageRecord]) -> None:
        """Usage rows of messages settled without sending (invalid, opted out)."""
        try:
            await self._storage.usage.record(send_usage(batch, messages))
        except StoreUnavailableError:
            log.warning("batch %s: usage rows not written (storage)", batch.batch_id)

    async def _take_budget(
        self, held: list[MessageRecord], now: datetime, *, priority: bool
    ) -> tuple[list[MessageRecord], list[MessageRecord]]:
        by_sender: dict[str, list[MessageRecord]] = defaultdict(list)
        for message in held:
            by_sender[message.sender or ""].append(message)
        going: list[MessageRecord] = []
        surplus: list[MessageRecord] = []
        for sender, group in by_sender.items():
            granted = await self._storage.buckets.take(
                sender,
                len(group),
                now=now,
                rate_per_minute=self._settings.rate_per_number_per_minute,
                priority=priority,
            )
            going += group[:granted]
            surplus += group[granted:]
        return going, surplus

    async def _forget_key(self, key: str) -> None:
        try:
            await self._storage.idempotency.release(key)
        except Exception:  # best effort: the lease expires anyway
            log.warning("could not release an idempotency key after a storage failure")
