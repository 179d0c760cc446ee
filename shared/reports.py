"""Delivery reports into message records: find the message, move it forward, note a carrier
block as an opt-out, and keep the outbound side of the conversation thread."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

from shared.delivery import apply_delivery_report, is_carrier_block
from shared.events import DeliveryReport
from shared.ids import message_id
from shared.ledger import ConsentEntry, ThreadEntry
from shared.phone import event_number, mask
from shared.records import MessageRecord, parse_acs_tag
from shared.status import Status
from shared.store import ConcurrentUpdateError, SmsStore
from shared.usage import UsageEvent, country_of, failure_reason

log = logging.getLogger("sms.reports")

MAX_CONFLICT_RETRIES = 5


def outbound_thread_entry(message: MessageRecord, text: str | None = None) -> ThreadEntry:
    return ThreadEntry(
        their=message.to,
        our=message.sender or "",
        direction="out",
        at=message.sent_at or message.created_at,
        ref=message.id,
        text=text,
        message_id=message.id,
        status=message.status.value,
    )


class DeliveryReports:
    def __init__(self, store: SmsStore, default_region: str) -> None:
        self._store = store
        self._region = default_region

    async def apply(self, report: DeliveryReport) -> str:
        """Returns what happened: applied, unchanged, or orphan (kept for a later sweep)."""
        to = event_number(report.to, self._region)
        tag = parse_acs_tag(report.tag)
        for _ in range(MAX_CONFLICT_RETRIES):
            message = await self._store.find_sent_message(*tag, to) if tag else None
            if message is None:
                await self._store.keep_orphan_report(
                    acs_message_id=report.acs_message_id,
                    event_id=report.event_id,
                    body=json.dumps(asdict(report), default=str),
                    at=report.received_at,
                )
                log.warning("delivery report for an unknown message to %s kept", mask(to))
                return "orphan"
            updated = apply_delivery_report(message, report)
            if updated is message:
                await self._count(message)  # a repeat: rewrites the same usage row, if any
                return "unchanged"
            try:
                [saved] = await self._store.update_messages([updated])
            except ConcurrentUpdateError:
                continue  # the send's own update landed first: read again and re-apply
            await self._after(saved, report)
            await self._count(saved)
            return "applied"
        raise ConcurrentUpdateError("delivery report kept conflicting; Event Grid will retry")

    async def _count(self, message: MessageRecord) -> None:
        if message.status not in (Status.DELIVERED, Status.FAILED):
            return
        await self._store.record_usage(
            [
                UsageEvent(
                    kind="delivered" if message.status is Status.DELIVERED else "failed",
                    at=message.last_report_at or message.created_at,
                    key=message.id,
                    sender=message.sender,
                    country=country_of(message.to),
                    tag=message.tag,
                    segments=(message.segments_succeeded or 0) + (message.segments_failed or 0),
                    reason=failure_reason(message.delivery_status_details)
                    if message.status is Status.FAILED
                    else None,
                    latency_ms=message.delivery_ms,
                )
            ]
        )

    async def _after(self, message: MessageRecord, report: DeliveryReport) -> None:
        await self._store.upsert_thread_entry(outbound_thread_entry(message))
        if is_carrier_block(report):
            sender = event_number(report.sender, self._region)
            await self._store.add_opt_out(
                message.to, sender=sender, at=report.received_at, source="carrier"
            )
            await self._store.add_consent(
                ConsentEntry(
                    recipient=message.to,
                    at=report.received_at,
                    action="optOut",
                    scope=sender,
                    source="carrier",
                    ref=report.event_id,
                    our_number=sender,
                    text=report.details,
                    last_message_id=message_id(message.batch_id, message.index),
                )
            )
            await self._store.record_usage(
                [
                    UsageEvent(
                        "optOut",
                        report.received_at,
                        report.event_id,
                        sender=sender,
                        country=country_of(message.to),
                        reason="carrier",
                    )
                ]
            )
            log.info("carrier block: %s opted out of %s", mask(message.to), mask(sender))
