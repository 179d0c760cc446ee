"""What a delivery report does to a message: pure, and safe under duplicates and disorder.

A report older than the last one applied changes nothing; a final status never changes (so a
late `Failed` cannot overwrite `Delivered`); a status value we do not know is recorded on the
message without moving it.
"""

from __future__ import annotations

from dataclasses import replace

from shared.events import DeliveryReport
from shared.records import HistoryEntry, MessageRecord
from shared.status import Status

# ACS documents Delivered and Failed; SDK 1.2.0 mentions an Expired report after the timeout.
KNOWN_STATUSES = {"delivered": Status.DELIVERED, "failed": Status.FAILED, "expired": Status.FAILED}

# ACS SMS FAQ and error codes: what a carrier-level opt-out looks like (4007).
_BLOCKED_MARKERS = ("sender blocked for given recipient", "4007")


def is_carrier_block(report: DeliveryReport) -> bool:
    """A `Failed` report that says the recipient blocked the sender (toll-free STOP)."""
    if report.delivery_status.casefold() != "failed" or not report.details:
        return False
    details = report.details.casefold()
    return any(details.startswith(m) or m in details for m in _BLOCKED_MARKERS)


def apply_delivery_report(message: MessageRecord, report: DeliveryReport) -> MessageRecord:
    """The message after the report, or the same object when the report changes nothing."""
    if message.last_report_at is not None and report.received_at <= message.last_report_at:
        return message  # a duplicate, or older than what we already applied
    facts = {
        "last_report_at": report.received_at,
        "delivery_status_raw": report.delivery_status,
        "delivery_status_details": report.details,
        "delivery_attempts": len(report.attempts),
        "segments_succeeded": sum(a.segments_succeeded for a in report.attempts),
        "segments_failed": sum(a.segments_failed for a in report.attempts),
        "acs_message_id": message.acs_message_id or report.acs_message_id,
    }
    if message.sent_at is not None:
        facts["delivery_ms"] = max(
            0, round((report.received_at - message.sent_at).total_seconds() * 1000)
        )
    status = KNOWN_STATUSES.get(report.delivery_status.casefold())
    if status is None:
        note = f"delivery report with unrecognised status {report.delivery_status!r}"
        entry = HistoryEntry(message.status, report.received_at, note)
        return replace(message, history=(*message.history, entry), **facts)  # type: ignore[arg-type]
    if status is Status.DELIVERED:
        facts["delivered_at"] = report.received_at
    advanced = message.advance(status, report.received_at, report.details, **facts)
    if advanced is message:
        return message  # final already: a late report does not rewrite it
    return advanced
