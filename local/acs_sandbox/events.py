"""ACS SMS system events and their Event Grid / CloudEvents 1.0 envelopes (pure, no I/O).

Shapes from the Event Grid system-event specs: `messageId` equals the
envelope `id`; `subject` is `/phonenumber/<digits of the ACS number>`; timestamps carry
7 fractional digits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .phones import digits
from .reports import DeliveryReport
from .segments import count_segments
from .timefmt import format_timestamp

SMS_RECEIVED = "Microsoft.Communication.SMSReceived"
DELIVERY_REPORT_RECEIVED = "Microsoft.Communication.SMSDeliveryReportReceived"
TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/acs-sandbox"
    "/providers/microsoft.communication/communicationservices/acs-sandbox"
)
EVENT_GRID_CONTENT_TYPE = "application/json; charset=utf-8"
CLOUD_EVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


@dataclass(frozen=True)
class SystemEvent:
    id: str
    event_type: str
    subject: str
    data: dict[str, Any]
    time: datetime


def delivery_report_event(report: DeliveryReport, now: datetime) -> SystemEvent:
    return SystemEvent(
        id=report.message_id,
        event_type=DELIVERY_REPORT_RECEIVED,
        subject=f"/phonenumber/{digits(report.sender)}",
        data=report.to_json(),
        time=now,
    )


def sms_received_event(
    message_id: str, handset: str, acs_number: str, text: str, now: datetime
) -> SystemEvent:
    return SystemEvent(
        id=message_id,
        event_type=SMS_RECEIVED,
        subject=f"/phonenumber/{digits(acs_number)}",
        data={
            "messageId": message_id,
            "from": handset,
            "to": acs_number,
            "message": text,
            "receivedTimestamp": format_timestamp(now),
            # Added to the schema in Dec 2024 (azure-rest-api-specs PR #31764).
            "segmentCount": count_segments(text).segments,
        },
        time=now,
    )


def pascal_case(value: Any) -> Any:
    """`messageId` → `MessageId` at every depth: the casing of the older docs and spec examples."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: pascal_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pascal_case(v) for v in value]
    return value


def envelope(event: SystemEvent, *, schema: str, casing: str) -> Any:
    """The JSON delivered for one event: an array of one (Event Grid) or a single CloudEvent."""
    data = pascal_case(event.data) if casing == "pascal" else event.data
    if schema == "CloudEvents":
        return {
            "id": event.id,
            "source": TOPIC,
            "specversion": "1.0",
            "type": event.event_type,
            "subject": event.subject,
            "time": format_timestamp(event.time),
            "data": data,
        }
    return [
        {
            "id": event.id,
            "topic": TOPIC,
            "subject": event.subject,
            "data": data,
            "eventType": event.event_type,
            "dataVersion": "1.0",
            "metadataVersion": "1",
            "eventTime": format_timestamp(event.time),
        }
    ]


def encode(payload: Any, *, schema: str) -> tuple[bytes, str]:
    """Body bytes and Content-Type for a webhook delivery."""
    content_type = CLOUD_EVENTS_CONTENT_TYPE if schema == "CloudEvents" else EVENT_GRID_CONTENT_TYPE
    return json.dumps(payload).encode("utf-8"), content_type
