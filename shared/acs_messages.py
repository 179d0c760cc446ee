"""The ACS SMS wire format (api-version 2026-01-23): value types, the request bodies as the
bytes that are signed and sent, and the answers read back into types."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from shared.acs_errors import AcsError, AcsTimeoutError, AcsUnavailableError, bad_response

MAX_RECIPIENTS_PER_REQUEST = 100  # ACS: smsRecipients 1..100, and opt-out recipients 1..100
# ACS: smsSendOptions.deliveryReportTimeoutInSeconds, minimum 60, maximum 43,200 (12 hours).
MIN_DELIVERY_REPORT_TIMEOUT = 60
MAX_DELIVERY_REPORT_TIMEOUT = 43_200


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """One recipient of a send, with the repeatability pair that makes its retries safe."""

    to: str
    repeatability_request_id: str
    repeatability_first_sent: str  # RFC 1123


@dataclass(frozen=True, slots=True)
class SmsSendResult:
    to: str
    message_id: str | None
    http_status_code: int
    successful: bool
    error_message: str | None = None
    repeatability_result: str | None = None

    @property
    def maybe_processed(self) -> bool:
        """A 5xx for this recipient: ACS had the request and may have acted on it."""
        return self.http_status_code >= 500


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """What became of one request: per-recipient results, or the error that stopped it, and the
    recipients withdrawn before a retry (`before_retry` said they may no longer be texted)."""

    recipients: Sequence[OutgoingSms]
    results: list[SmsSendResult]
    error: AcsError | None = None
    withdrawn: frozenset[str] = frozenset()


# Before each retry: the recipients (of those given) that may no longer be texted.
BeforeRetry = Callable[[Sequence[OutgoingSms]], Awaitable[set[str]]]
# Before each retry of one call: the body to send again, or None when nothing is left to send.


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One carrier attempt of a delivery report (`deliveryAttempts[]`)."""

    timestamp: datetime
    segments_succeeded: int
    segments_failed: int


@dataclass(frozen=True, slots=True)
class DeliveryReportInfo:
    """`GET /deliveryReports/{id}`: what ACS knows of one outgoing message.

    `status` is ACS's `deliveryStatus` as sent ("Delivered" or "Failed" in 2026-01-23; other
    values are passed through, not guessed at); `details` is `deliveryStatusDetails`, e.g.
    "2000: No Error".
    """

    message_id: str
    sender: str
    to: str
    status: str
    details: str | None
    attempts: tuple[DeliveryAttempt, ...]
    received_at: datetime | None
    tag: str | None
    partner_message_id: str | None = None  # messagingConnectPartnerMessageId

    @property
    def delivered(self) -> bool:
        return self.status == "Delivered"


@dataclass(frozen=True, slots=True)
class OptOutResult:
    """One recipient's answer to an opt-out call; `is_opted_out` is set by `check` only."""

    to: str
    http_status_code: int
    is_opted_out: bool | None = None
    error_message: str | None = None

    @property
    def successful(self) -> bool:
        return 200 <= self.http_status_code < 300

    @property
    def worth_retrying(self) -> bool:
        """ACS could not act on this number now (5xx, 429); a 4xx would fail again."""
        return self.http_status_code >= 500 or self.http_status_code == 429


def delivery_report_timeout_seconds(report_timeout_minutes: int) -> int:
    """`SMS_REPORT_TIMEOUT_MINUTES` as ACS's `deliveryReportTimeoutInSeconds`: clamped to
    60..43,200, so a setting beyond 12 hours asks ACS for its longest wait."""
    seconds = report_timeout_minutes * 60
    return max(MIN_DELIVERY_REPORT_TIMEOUT, min(MAX_DELIVERY_REPORT_TIMEOUT, seconds))


def check_delivery_report_timeout(seconds: int | None) -> None:
    """ValueError unless `seconds` is None or a whole number ACS accepts (60..43,200)."""
    if seconds is None:
        return
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ValueError("delivery_report_timeout must be a whole number of seconds")
    if not MIN_DELIVERY_REPORT_TIMEOUT <= seconds <= MAX_DELIVERY_REPORT_TIMEOUT:
        raise ValueError(
            f"delivery_report_timeout must be {MIN_DELIVERY_REPORT_TIMEOUT}.."
            f"{MAX_DELIVERY_REPORT_TIMEOUT} seconds, got {seconds}"
        )


def opted_out(results: Iterable[OptOutResult]) -> dict[str, bool]:
    """Each number a `check` answered for, with its `isOptedOut`; failed items are left out."""
    return {r.to: r.is_opted_out for r in results if r.successful and r.is_opted_out is not None}


def json_bytes(body: object) -> bytes:
    # The bytes built here are the bytes hashed and sent, on every attempt.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_send_body(
    *,
    sender: str,
    recipients: Sequence[OutgoingSms],
    message: str,
    enable_delivery_report: bool,
    tag: str | None,
    delivery_report_timeout: int | None = None,
) -> bytes:
    check_delivery_report_timeout(delivery_report_timeout)
    options: dict[str, Any] = {"enableDeliveryReport": enable_delivery_report}
    if tag is not None:
        options["tag"] = tag
    if delivery_report_timeout is not None:
        options["deliveryReportTimeoutInSeconds"] = delivery_report_timeout
    body = {
        "from": sender,
        "smsRecipients": [
            {
                "to": r.to,
                "repeatabilityRequestId": r.repeatability_request_id,
                "repeatabilityFirstSent": r.repeatability_first_sent,
            }
            for r in recipients
        ],
        "message": message,
        "smsSendOptions": options,
    }
    return json_bytes(body)


def build_opt_out_body(*, sender: str, recipients: Sequence[str]) -> bytes:
    """`{"from", "recipients": [{"to"}, ...]}`, the body of all three opt-out operations."""
    return json_bytes({"from": sender, "recipients": [{"to": to} for to in recipients]})


def parse_send_results(response: httpx.Response) -> list[SmsSendResult]:
    try:
        items = response.json()["value"]
        return [
            SmsSendResult(
                to=str(item["to"]),
                message_id=item.get("messageId"),
                http_status_code=int(item["httpStatusCode"]),
                successful=bool(item["successful"]),
                error_message=item.get("errorMessage"),
                repeatability_result=item.get("repeatabilityResult"),
            )
            for item in items
        ]
    except (ValueError, KeyError, TypeError) as exc:
        # ACS took the request but we cannot tell what it did: as ambiguous as no answer.
        raise bad_response(response, AcsTimeoutError) from exc


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _timestamp(value: object) -> datetime:
    """ACS's date-times: ISO 8601 with `Z` and up to 7 fractional digits (.NET's ticks)."""
    if not isinstance(value, str):
        raise TypeError("timestamp is not a string")
    return datetime.fromisoformat(value)


def parse_delivery_report(data: object) -> DeliveryReportInfo:
    """A 200 body of `GET /deliveryReports/{id}`; ValueError/KeyError/TypeError if malformed."""
    if not isinstance(data, dict):
        raise TypeError("delivery report is not an object")
    status = data["deliveryStatus"]
    if not isinstance(status, str):
        raise TypeError("deliveryStatus is not a string")
    attempts = data.get("deliveryAttempts") or []
    if not isinstance(attempts, list):
        raise TypeError("deliveryAttempts is not a list")
    received = data.get("receivedTimestamp")
    return DeliveryReportInfo(
        message_id=str(data["messageId"]),
        sender=str(data["from"]),
        to=str(data["to"]),
        status=status,
        details=_optional_str(data, "deliveryStatusDetails"),
        attempts=tuple(
            DeliveryAttempt(
                timestamp=_timestamp(a["timestamp"]),
                segments_succeeded=int(a["segmentsSucceeded"]),
                segments_failed=int(a["segmentsFailed"]),
            )
            for a in attempts
        ),
        received_at=None if received is None else _timestamp(received),
        tag=_optional_str(data, "tag"),
        partner_message_id=_optional_str(data, "messagingConnectPartnerMessageId"),
    )


def parse_opt_out_results(response: httpx.Response) -> list[OptOutResult]:
    try:
        items = response.json()["value"]
        results = []
        for item in items:
            flag = item.get("isOptedOut")
            if flag is not None and not isinstance(flag, bool):
                raise TypeError("isOptedOut is not a boolean")
            results.append(
                OptOutResult(
                    to=str(item["to"]),
                    http_status_code=int(item["httpStatusCode"]),
                    is_opted_out=flag,
                    error_message=_optional_str(item, "errorMessage"),
                )
            )
        return results
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_response(response, AcsUnavailableError) from exc
