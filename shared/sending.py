"""Send now: record every recipient, send the rest through ACS, record what ACS said.

Crash-safety: messages are written as `queued` with their repeatability ids before ACS is
called, so a retry with the same Idempotency-Key resumes the same batch and resends with the
same ids (ACS recognises the repeat: nobody is texted twice).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.acs_client import AcsSmsClient
from shared.config import Settings
from shared.http_api import ApiError
from shared.ids import new_batch_id
from shared.phone import normalize_recipients
from shared.records import BatchRecord, MessageRecord, acs_tag, utcnow
from shared.send_plan import (
    apply_outcomes,
    outgoing,
    plan_batch,
    recheck_before_send,
    send_usage,
)
from shared.send_request import SendRequest
from shared.sms_views import send_response
from shared.status import Status
from shared.store import BatchExistsError, ConcurrentUpdateError, SmsStore, StoreUnavailableError

log = logging.getLogger("sms.send")

IDEMPOTENCY_LEASE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class SendAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


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
        """Send now. `confirming_opt_out` is the one exception to the opt-out filter: the single
        confirmation the FCC allows right after an opt-out (47 CFR 64.1200(a)(12))."""
        sender = request.sender or self._settings.default_sender
        recipients = normalize_recipients(request.to, self._settings.default_region)
        valid = [r.e164 for r in recipients if r.e164]
        now = self._clock()
        if request.dry_run:
            opted_out = await self._store.find_opted_out([sender], valid)
            batch, messages = plan_batch(
                request, recipients, opted_out, batch_id="", sender=sender, now=now
            )
            return SendAnswer(202, send_response(batch, messages, dry_run=True))
        if confirming_opt_out and len(valid) != 1:
            raise ValueError("an opt-out confirmation goes to exactly one recipient")

        batch_id = new_batch_id()
        existing: tuple[BatchRecord, list[MessageRecord]] | None = None
        if idempotency_key is not None:
            claim = await self._store.claim_idempotency_key(
                idempotency_key,
                fingerprint=request.fingerprint,
                batch_id=batch_id,
                now=now,
                lease=IDEMPOTENCY_LEASE,
            )
            if claim.outcome == "mismatch":
                raise ApiError(
                    422,
                    "IdempotencyKeyReused",
                    "this Idempotency-Key was used with a different request body",
                    target="Idempotency-Key",
                )
            if claim.outcome == "in_progress":
                raise ApiError(
                    409,
                    "IdempotencyKeyInUse",
                    "a request with this Idempotency-Key is still being processed",
                    target="Idempotency-Key",
                    headers={"Retry-After": str(max(1, round(claim.retry_after)))},
                )
            batch_id = claim.batch_id
            if claim.outcome in ("replay", "resume"):
                existing = await self._store.get_batch(batch_id)
            if claim.outcome == "replay" and existing is not None:
                batch, messages = existing
                return SendAnswer(
                    202, send_response(batch, messages), {"Idempotent-Replayed": "true"}
                )

        try:
            batch, messages = await self._record(
                request, recipients, valid, sender, batch_id, existing, now, confirming_opt_out
            )
        except StoreUnavailableError:
            if idempotency_key is not None and existing is None:
                await self._forget_key(idempotency_key)
            raise
        messages = await self._send_queued(batch, messages, sender)
        await self._store.record_usage(send_usage(batch, messages))
        if idempotency_key is not None:
            await self._store.complete_idempotency_key(idempotency_key)
        counts = Counter(m.status.value for m in messages)
        log.info(
            "batch %s: %d recipients, %s", batch_id, len(messages), dict(sorted(counts.items()))
        )
        return SendAnswer(202, send_response(batch, messages))

    async def _record(
        self,
        request: SendRequest,
        recipients: Sequence[Any],
        valid: list[str],
        sender: str,
        batch_id: str,
        existing: tuple[BatchRecord, list[MessageRecord]] | None,
        now: datetime,
        confirming_opt_out: bool,
    ) -> tuple[BatchRecord, list[MessageRecord]]:
        """Write the batch before anything is sent; on a resumed request, keep what exists."""
        opted_out = (
            set() if confirming_opt_out else await self._store.find_opted_out([sender], valid)
        )
        batch, planned = plan_batch(
            request, recipients, opted_out, batch_id=batch_id, sender=sender, now=now
        )
        if existing is None:
            try:
                return batch, await self._store.create_messages(planned, batch)
            except BatchExistsError:
                existing = await self._store.get_batch(batch_id)
                if existing is None:
                    raise
        stored_batch, stored = existing
        have = {m.index for m in stored}
        missing = [m for m in planned if m.index not in have]
        if missing:
            stored += await self._store.create_messages(missing)
        stored.sort(key=lambda m: m.index)
        rechecked = recheck_before_send(stored, opted_out, now)
        changed = [m for m, old in zip(rechecked, stored, strict=True) if m is not old]
        if changed:
            saved = {m.index: m for m in await self._store.update_messages(changed)}
            rechecked = [saved.get(m.index, m) for m in rechecked]
        return stored_batch, rechecked

    async def _send_queued(
        self, batch: BatchRecord, messages: list[MessageRecord], sender: str
    ) -> list[MessageRecord]:
        queued = [m for m in messages if m.status is Status.QUEUED]
        if not queued:
            return messages
        index_of = {m.to: m.index for m in queued}
        outcomes = await self._acs.send(
            sender=queued[0].sender or sender,
            recipients=[outgoing(m) for m in queued],
            message=batch.message,
            enable_delivery_report=batch.delivery_report,
            tag=lambda chunk: acs_tag(batch.batch_id, [index_of[r.to] for r in chunk]),
        )
        updated = apply_outcomes(queued, outcomes, self._clock())
        saved = await self._save(updated)
        by_index = {m.index: m for m in saved}
        return [by_index.get(m.index, m) for m in messages]

    async def _save(self, updated: list[MessageRecord]) -> list[MessageRecord]:
        """ETag-conditional save; if a row changed meanwhile, re-apply on its current state."""
        try:
            return await self._store.update_messages(updated)
        except ConcurrentUpdateError:
            pass
        current = await self._store.get_batch(updated[0].batch_id)
        assert current is not None
        fresh = {m.index: m for m in current[1]}
        merged = []
        for message in updated:
            base = fresh[message.index]
            merged.append(
                base.advance(
                    message.status,
                    message.history[-1].at,
                    message.history[-1].detail,
                    acs_message_id=message.acs_message_id,
                    sent_at=message.sent_at,
                    error_code=message.error_code,
                    error_message=message.error_message,
                )
            )
        return await self._store.update_messages(merged)

    async def _forget_key(self, key: str) -> None:
        try:
            await self._store.release_idempotency_key(key)
        except Exception:  # best effort: the lease expires anyway
            log.warning("could not release an idempotency key after a storage failure")
