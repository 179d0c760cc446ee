"""What happens to an accepted message on the (simulated) carrier side, and its delivery report.

Simulator numbers — fictional US numbers in the 555-01xx range, valid for phone-number
libraries, with a fixed fate:

=================  =========================================================================
recipient          outcome
=================  =========================================================================
+14255550190       `Failed`, "4004: Destination number doesn't exist"; the handset gets nothing
+14255550191       delivered to the handset, but no delivery report is ever produced
+14255550192       `Failed`, "5001: Temporary unavailability"; the handset gets nothing
blocked pair       `Failed`, "Sender blocked for given recipient." (carrier STOP or opt-out list)
`neverDeliver`     `Failed`, "4005: Blocked by destination carrier"; the handset gets nothing
any other number   `Delivered`, "No error."
=================  =========================================================================

A send with `smsSendOptions.deliveryReportTimeoutInSeconds` (api-version 2024-12-10-preview and
later) gets a report after that long (time-scaled) even when the carrier never sends one: "After
this time a delivery report with timeout error code is generated" (spec). Which code is not
documented; the sandbox writes `Failed`, "5002: Message Delivery Timeout", the code and text a
Microsoft Q&A answer (2026-01) shows for a carrier that sends no delivery reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .timefmt import format_timestamp

NONEXISTENT_NUMBER = "+14255550190"
NO_REPORT_NUMBER = "+14255550191"
UNAVAILABLE_NUMBER = "+14255550192"
SIMULATOR_NUMBERS = {
    NONEXISTENT_NUMBER: "always Failed: 4004, destination number doesn't exist",
    NO_REPORT_NUMBER: "delivered, never reported",
    UNAVAILABLE_NUMBER: "always Failed: 5001, temporary unavailability",
}

DELIVERED_DETAILS = "No error."
# ACS SMS FAQ: what a report says after the recipient texted STOP to a toll-free number.
BLOCKED_DETAILS = "Sender blocked for given recipient."
TIMEOUT_DETAILS = "5002: Message Delivery Timeout"
# ACS SMS error codes (troubleshooting-info): 4005 "Blocked by destination carrier".
CARRIER_BLOCKED_DETAILS = "4005: Blocked by destination carrier"
# ACS SMS error codes (troubleshooting-info): the code is prefixed to the details text.
_FAILURES = {
    NONEXISTENT_NUMBER: "4004: Destination number doesn't exist",
    UNAVAILABLE_NUMBER: "5001: Temporary unavailability",
}


@dataclass(frozen=True)
class Fate:
    """The carrier outcome of one message; `details` None means no report is ever produced."""

    delivered: bool
    details: str | None


TIMED_OUT = Fate(False, TIMEOUT_DETAILS)


def fate_of(to: str, *, blocked: bool, never_delivered: bool = False) -> Fate:
    if blocked:
        return Fate(False, BLOCKED_DETAILS)
    if never_delivered:
        return Fate(False, CARRIER_BLOCKED_DETAILS)
    if to == NO_REPORT_NUMBER:
        return Fate(True, None)
    if to in _FAILURES:
        return Fate(False, _FAILURES[to])
    return Fate(True, DELIVERED_DETAILS)


@dataclass(frozen=True)
class DeliveryReport:
    """`AcsSmsDeliveryReportReceivedEventData`, also served by `GET /deliveryReports/{id}`."""

    message_id: str
    sender: str
    to: str
    delivered: bool
    details: str
    segments: int
    attempted_at: datetime
    received_at: datetime
    tag: str | None

    def to_json(self) -> dict[str, Any]:
        """camelCase keys, as the current SDK models and TypeSpec write them."""
        data: dict[str, Any] = {
            "messageId": self.message_id,
            "from": self.sender,
            "to": self.to,
            "deliveryStatus": "Delivered" if self.delivered else "Failed",
            "deliveryStatusDetails": self.details,
            "deliveryAttempts": [
                {
                    "timestamp": format_timestamp(self.attempted_at),
                    "segmentsSucceeded": self.segments if self.delivered else 0,
                    "segmentsFailed": 0 if self.delivered else self.segments,
                }
            ],
            "receivedTimestamp": format_timestamp(self.received_at),
        }
        if self.tag is not None:
            data["tag"] = self.tag
        return data
