"""Delivery reports into message records: find the message, move it forward, note a carrier
block as an opt-out, and keep the outbound side of the conversation thread."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from shared.acs_client import AcsSmsClient
from shared.acs_messages import DeliveryReportInfo
from shared.clock import aware, utcnow
from shared.consent import ConsentChange, ConsentService
from shared.delivery import apply_delivery_report, is_carrier_block
from shared.errors import ConcurrentUpdateError
from shared.events import DeliveryAttempt, DeliveryReport
from shared.ids import message_id
from shared.ledger import ThreadEntry
from shared.phone import event_number, mask
from shared.records import MessageRecord, acs_tag, parse_acs_tag
from shared.status import Status
from shared.storage import Storage
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


ORPHAN_RETRY_WINDOW = timedelta(days=1)


def report_to_json(report: DeliveryReport) -> str:
    data = asdict(report)
    data["received_at"] = report.received_at.isoformat()
    data["attempts"] = [
        {"at": a.at.isoformat(), "ok": a.segments_succeeded, "failed": a.segments_failed}
        for a in report.attempts
    ]
    return json.dumps(data, separators=(",", ":"))


def report_from_json(text: str) -> DeliveryReport:
    data = json.loads(text)
    return DeliveryReport(
        event_id=data["event_id"],
        acs_message_id=data["acs_message_id"],
        sender=data["sender"],
        to=data["to"],
        delivery_status=data["delivery_status"],
        details=data["details"],
        attempts=tuple(
            DeliveryAttempt(datetime.fromisoformat(a["at"]), int(a["ok"]), int(a["failed"]))
            for a in data["attempts"]
        ),
        received_at=datetime.fromisoformat(data["received_at"]),
        tag=data["tag"],
    )


def pulled_report(info: DeliveryReportInfo, message: MessageRecord) -> DeliveryReport:
    """What `GET /deliveryReports/{id}` said, as the event ACS would have pushed. The tag names
    the message's own row, so the report finds it whatever tag ACS echoed."""
    return DeliveryReport(
        event_id=f"pulled-{info.message_id}",
        acs_message_id=info.message_id,
        sender=info.sender or message.sender or "",
        to=info.to or message.to,
        delivery_status=info.status,
        details=info.details,
        attempts=tuple(
            DeliveryAttempt(a.timestamp, a.segments_succeeded, a.segments_failed)
            for a in info.attempts
        ),
        received_at=info.received_at or utcnow(),
        tag=acs_tag(message.batch_id, [message.index]),
    )


class DeliveryReports:
    def __init__(
        self, storage: Storage, consent: ConsentService, acs: AcsSmsClient, default_region: str
    ) -> None:
        self._storage = storage
        self._consent = consent
        self._acs = acs
        self._region = default_region

    async def pull(self, message: MessageRecord) -> bool:
        """A sent message whose report never came: ask ACS (`GET /deliveryReports/{id}`) and
        apply what it knows. True when that settled the message; False when ACS has no final
        report for it. An `AcsError` means ACS could not say now."""
        if not message.acs_message_id:
            return False
        info = await self._acs.get_delivery_report(message.acs_message_id)
        if info is None:
            return False
        report = pulled_report(info, message)
        if apply_delivery_report(message, report).status not in (Status.DELIVERED, Status.FAILED):
            return False
        await self.apply(report, keep_if_unknown=False)
        return True

    async def apply(self, report: DeliveryReport, *, keep_if_unknown: bool = True) -> str:
        """Returns what happened: applied, unchanged, or orphan (kept for a later try)."""
        to = event_number(report.to, self._region)
        tag = parse_acs_tag(report.tag)
        for _ in range(MAX_CONFLICT_RETRIES):
            message = await self._storage.messages.find_sent(*tag, to) if tag else None
            if message is None:
                if keep_if_unknown:
                    await self._storage.parked.keep_orphan_report(
                        acs_message_id=report.acs_message_id,
                        event_id=report.event_id,
                        body=report_to_json(report),
                        at=report.received_at,
                    )
                    log.warning("delivery report for an unknown message to %s kept", mask(to))
                return "orphan"
            updated = apply_delivery_report(message, report)
            if updated is message:
                await self._count(message)  # a repeat: rewrites the same usage row, if any
                return "unchanged"
            try:
                saved = await self._storage.messages.update_one(updated)
            except ConcurrentUpdateError:
                continue  # the send's own update landed first: read again and re-apply
            await self._after(saved, report)
            await self._count(saved)
            return "applied"
        raise ConcurrentUpdateError("delivery report kept conflicting; Event Grid will retry")

    async def retry_kept(self, now: datetime, limit: int = 50) -> int:
        """Try kept reports again: one whose message has appeared since is applied and let go.
        Reports kept for over a day stay for inspection but are no longer tried."""
        applied = 0
        for row in await self._storage.parked.list_orphan_reports(limit):
            if now - aware(row["At"]) > ORPHAN_RETRY_WINDOW:
                continue
            try:
                report = report_from_json(row["Body"])
            except (ValueError, KeyError, TypeError):
                continue  # not one of ours to read; left for a person
            if await self.apply(report, keep_if_unknown=False) != "orphan":
                await self._storage.parked.forget_orphan_report(row["PartitionKey"], row["RowKey"])
                applied += 1
        return applied

    async def _count(self, message: MessageRecord) -> None:
        if message.status not in (Status.DELIVERED, Status.FAILED):
            return
        await self._storage.usage.record(
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
        await self._storage.threads.upsert(outbound_thread_entry(message))
        if is_carrier_block(report):
            sender = event_number(report.sender, self._region)
            await self._consent.record(
                ConsentChange(
                    recipient=message.to,
                    action="optOut",
                    scopes=(sender,),
                    source="carrier",
                    at=report.received_at,
                    ref=report.event_id,
                    our_number=sender,
                    usage_sender=sender,
                    text=report.details,
                    last_message_id=message_id(message.batch_id, message.index),
                )
            )
            log.info("carrier block: %s opted out of %s", mask(message.to), mask(sender))
