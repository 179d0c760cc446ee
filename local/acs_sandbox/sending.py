"""What ACS does with a valid send request: per-recipient results, throttling, handsets, reports.

Research §1.4/§1.6/§6: results come back in request order; a bad `to` fails only its own item;
a repeatability replay returns the original item and does nothing else; everything else gets a
new message id, reaches the handset (unless the carrier refuses it) and later a delivery report.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from .events import delivery_report_event
from .phones import is_e164
from .repeatability import Fingerprint, Verdict
from .reports import TIMED_OUT, DeliveryReport, Fate, fate_of
from .segments import count_segments
from .state import OutgoingMessage, Sandbox
from .timefmt import compact_stamp
from .validation import Recipient, SendRequest

INVALID_TO = "Invalid To phone number format."


class Throttled(Exception):
    """Over the sender's rate: the whole request is answered 429 and nothing is sent."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"retry in {wait_seconds:.1f}s")
        self.wait_seconds = wait_seconds


def new_message_id(prefix: str, now: datetime) -> str:
    """`Outgoing_20200610203725bfd4ba70-…`: prefix, yyyyMMddHHmmss, then a GUID (spec example)."""
    return f"{prefix}_{compact_stamp(now)}{uuid.uuid4()}"


def send(sandbox: Sandbox, request: SendRequest) -> list[dict[str, Any]]:
    """Per-recipient result items; raises Throttled before changing anything."""
    config = sandbox.config
    now, wall_now = time.monotonic(), datetime.now(UTC)
    sandbox.repeatability.forget_expired(now=now, time_scale=config.time_scale)

    def verdict(recipient: Recipient) -> Verdict:
        if not recipient.wants_repeatability:
            return Verdict("new")
        fingerprint: Fingerprint = (request.sender, recipient.to, request.message)
        return sandbox.repeatability.check(
            recipient.repeatability_request_id,
            recipient.repeatability_first_sent,
            fingerprint,
            now=now,
            wall_now=wall_now,
            time_scale=config.time_scale,
        )

    # Message units are recipients that will really be sent: replays and refusals are free.
    units = sum(1 for r in request.recipients if is_e164(r.to) and verdict(r).kind == "new")
    wait = sandbox.rate.try_take(
        request.sender,
        units,
        per_minute=config.rate_per_minute,
        time_scale=config.time_scale,
        now=now,
    )
    if wait is not None:
        raise Throttled(wait)
    # Judged again one by one: an id repeated inside this request is a replay of its first use.
    return [_send_one(sandbox, request, r, verdict(r), now, wall_now) for r in request.recipients]


def _send_one(
    sandbox: Sandbox,
    request: SendRequest,
    recipient: Recipient,
    verdict: Verdict,
    now: float,
    wall_now: datetime,
) -> dict[str, Any]:
    if not is_e164(recipient.to):
        return {
            "to": recipient.to,
            "httpStatusCode": 400,
            "successful": False,
            "errorMessage": INVALID_TO,
        }
    if verdict.kind == "replay" and verdict.item is not None:
        return verdict.item
    if verdict.kind == "rejected":
        return {
            "to": recipient.to,
            "httpStatusCode": verdict.status,
            "repeatabilityResult": "rejected",
            "successful": False,
            "errorMessage": verdict.message,
        }
    message_id = new_message_id("Outgoing", wall_now)
    item: dict[str, Any] = {"to": recipient.to, "messageId": message_id, "httpStatusCode": 202}
    if recipient.wants_repeatability:
        item["repeatabilityResult"] = "accepted"
    item |= {"successful": True, "errorMessage": None}
    _accept(sandbox, request, recipient.to, message_id, wall_now)
    if recipient.wants_repeatability and isinstance(recipient.repeatability_request_id, str):
        fingerprint = (request.sender, recipient.to, request.message)
        sandbox.repeatability.remember(
            recipient.repeatability_request_id, fingerprint, item, now=now
        )
    return item


def _accept(
    sandbox: Sandbox, request: SendRequest, to: str, message_id: str, now: datetime
) -> None:
    fate = fate_of(
        to,
        blocked=sandbox.optouts.is_blocked(request.sender, to),
        never_delivered=sandbox.config.never_delivers(request.sender, to),
    )
    message = OutgoingMessage(
        message_id=message_id,
        sender=request.sender,
        to=to,
        message=request.message,
        segments=count_segments(request.message).segments,
        tag=request.tag,
        received_at=now,
        handset_received=fate.delivered,
    )
    sandbox.sent[message_id] = message
    if fate.delivered:
        sandbox.inbox.append(message)
    config = sandbox.config
    delay = config.report_delay_seconds if fate.details is not None else None
    timeout = request.report_timeout_seconds
    if timeout is not None and (delay is None or timeout < delay):
        fate, delay = TIMED_OUT, float(timeout)  # ACS gives up waiting for the carrier
    if delay is not None:
        sandbox.background.spawn(
            _report_later(sandbox, message, fate, request.enable_delivery_report, delay)
        )


async def _report_later(
    sandbox: Sandbox, message: OutgoingMessage, fate: Fate, publish: bool, delay: float
) -> None:
    """After `delay` simulated seconds the report exists (pull API) and, if asked for, is
    pushed."""
    await asyncio.sleep(sandbox.config.real_seconds(delay))
    now = datetime.now(UTC)
    report = DeliveryReport(
        message_id=message.message_id,
        sender=message.sender,
        to=message.to,
        delivered=fate.delivered,
        details=fate.details or "",
        segments=message.segments,
        attempted_at=message.received_at,
        received_at=now,
        tag=message.tag,
    )
    sandbox.reports[message.message_id] = report
    current = sandbox.config  # settings may have changed during the delay
    # `dropReports` loses the event only; the pull API still knows the outcome.
    if publish and sandbox.rng.random() >= current.drop_reports:
        sandbox.dispatcher.publish(delivery_report_event(report, now), current.delivery_function)
