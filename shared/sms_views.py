"""The JSON the send API answers with, built from stored records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.clock import iso
from shared.records import BatchRecord, MessageRecord


def send_result(message: MessageRecord, *, dry_run: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"to": message.to, "status": message.status.value}
    if not dry_run:
        out["id"] = message.id
    if message.acs_message_id:
        out["acsMessageId"] = message.acs_message_id
    if message.status.value in ("scheduled", "queued") and message.due_at is not None:
        out["dueAt"] = iso(message.due_at)
    if message.error_code:
        out["error"] = {"code": message.error_code, "message": message.error_message or ""}
    return out


def send_response(
    batch: BatchRecord,
    messages: Sequence[MessageRecord],
    *,
    dry_run: bool = False,
    recorded: bool = True,
) -> dict[str, Any]:
    """`recordsPending`: ACS took these messages, but storage failed while recording the
    outcome; the records catch up on their own (the outbox), and nothing must be resent."""
    body: dict[str, Any] = {
        "batchId": None if dry_run else batch.batch_id,
        "encoding": batch.encoding,
        "segments": batch.segments,
        "results": [send_result(m, dry_run=dry_run) for m in messages],
    }
    if batch.send_at is not None:
        body["sendAt"] = iso(batch.send_at)
    if dry_run:
        body["dryRun"] = True
    if not recorded:
        body["recordsPending"] = True
    return body


def message_view(batch: BatchRecord, message: MessageRecord) -> dict[str, Any]:
    return {
        "id": message.id,
        "batchId": batch.batch_id,
        "to": message.to,
        "from": message.sender,
        "status": message.status.value,
        "acsMessageId": message.acs_message_id,
        "tag": batch.tag,
        "encoding": batch.encoding,
        "segments": batch.segments,
        "createdAt": iso(message.created_at),
        "sentAt": iso(message.sent_at),
        "deliveredAt": iso(message.delivered_at),
        "dueAt": iso(message.due_at) if message.status.value in ("scheduled", "queued") else None,
        "validUntil": iso(message.valid_until),
        "deliveryStatusDetails": message.delivery_status_details,
        "deliveryStatus": message.delivery_status_raw,
        "deliveryAttempts": message.delivery_attempts,
        "segmentsSucceeded": message.segments_succeeded,
        "segmentsFailed": message.segments_failed,
        "deliveryMs": message.delivery_ms,
        "error": (
            {"code": message.error_code, "message": message.error_message or ""}
            if message.error_code
            else None
        ),
        "history": [h.to_json() for h in message.history],
    }
