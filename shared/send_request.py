"""`POST /api/sms` body validation: pure, every error names its field."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.callback_url import parse_callback_url
from shared.clock import TimeFormatError, parse_instant
from shared.encoding import utf16_length
from shared.errors import TooManyRecipientsError, ValidationError
from shared.phone import normalize_number

MAX_MESSAGE_LENGTH = 2048  # ACS: message maxLength 2048
MAX_RECIPIENTS = 100_000
MAX_RECIPIENT_TEXT = 64
MAX_TAG_LENGTH = 128
MAX_IDEMPOTENCY_KEY = 255

FIELDS = (
    "to",
    "message",
    "from",
    "tag",
    "deliveryReport",
    "sendAt",
    "validUntil",
    "dryRun",
    "callbackUrl",
)
MAX_SCHEDULE_AHEAD = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class SendRequest:
    to: list[str]
    message: str
    sender: str | None
    tag: str | None
    delivery_report: bool
    dry_run: bool
    fingerprint: str  # what makes two requests "the same" for an Idempotency-Key
    send_at: datetime | None = None  # None: now
    valid_until: datetime | None = None
    # A text that is sent but never stored (a one-time code): `message` is its masked form,
    # kept and shown; `text_ref` tells the outbox where to get the text again.
    private_text: str | None = field(default=None, repr=False)
    text_ref: str | None = None
    priority: bool = False  # ahead of bulk traffic in the sender's budget
    callback_url: str | None = None  # this send's message events go here too


def parse_send_request(
    body: Any,
    *,
    pool: tuple[str, ...],
    default_region: str,
    now: datetime | None = None,
    allow_private_callbacks: bool = False,
) -> SendRequest:
    if not isinstance(body, dict):
        raise ValidationError("body", "the body must be a JSON object")
    unknown = [k for k in body if k not in FIELDS]
    if unknown:
        name = unknown[0].encode("utf-8", "replace").decode("utf-8")[:64]
        raise ValidationError(name, f"unknown field {name!r}; expected {', '.join(FIELDS)}")
    now = now or datetime.now(UTC)
    send_at = _instant(body, "sendAt")
    valid_until = _instant(body, "validUntil")
    if send_at is not None and send_at > now + MAX_SCHEDULE_AHEAD:
        raise ValidationError("sendAt", "'sendAt' may be at most 365 days ahead")
    if send_at is not None and send_at <= now:
        send_at = None  # a moment already past means now
    if valid_until is not None and valid_until <= (send_at or now):
        raise ValidationError("validUntil", "'validUntil' must be later than 'sendAt' (or now)")
    return SendRequest(
        to=_recipients(body.get("to")),
        message=_message(body.get("message")),
        sender=_sender(body.get("from"), pool, default_region),
        tag=_tag(body.get("tag")),
        delivery_report=_bool(body, "deliveryReport", True),
        dry_run=_bool(body, "dryRun", False),
        fingerprint=hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
        ).hexdigest(),
        send_at=send_at,
        valid_until=valid_until,
        callback_url=parse_callback_url(
            body.get("callbackUrl"), allow_private=allow_private_callbacks
        ),
    )


def _instant(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(name, f"'{name}' must be an ISO 8601 time with an offset")
    try:
        return parse_instant(value)
    except TimeFormatError as exc:
        raise ValidationError(name, f"'{name}' {exc}") from None


def scalar_text(target: str, value: str) -> str:
    """Text must be Unicode scalar values: a lone surrogate (valid in JSON's \\u escapes, not
    in UTF-8) can be neither stored nor sent."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            target, f"'{target}' is not valid Unicode text (a lone surrogate)"
        ) from None
    return value


def reply_request(to: str, text: str, sender: str | None) -> SendRequest:
    """A message the app itself sends (keyword confirmations), shaped like a client's request."""
    body = {"to": [to], "message": text, "from": sender, "tag": "keyword-reply"}
    return SendRequest(
        to=[to],
        message=text,
        sender=sender,
        tag="keyword-reply",
        delivery_report=True,
        dry_run=False,
        fingerprint=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
    )


def _recipients(value: Any) -> list[str]:
    if value is None:
        raise ValidationError("to", "'to' is required: a phone number or a list of them")
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValidationError("to", "'to' must be a string or an array of strings")
    if not items:
        raise ValidationError("to", "'to' must name at least one recipient")
    if len(items) > MAX_RECIPIENTS:
        raise TooManyRecipientsError("to", f"at most {MAX_RECIPIENTS} recipients per request")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ValidationError(f"to[{i}]", "each recipient must be a string")
        scalar_text(f"to[{i}]", item)
        if len(item) > MAX_RECIPIENT_TEXT:
            raise ValidationError(
                f"to[{i}]", f"a phone number has at most {MAX_RECIPIENT_TEXT} characters"
            )
    return items


def _message(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("message", "'message' is required and must be a string")
    scalar_text("message", value)
    length = utf16_length(value)
    if not 1 <= length <= MAX_MESSAGE_LENGTH:
        raise ValidationError("message", f"'message' must be 1 to {MAX_MESSAGE_LENGTH} characters")
    return value


def _sender(value: Any, pool: tuple[str, ...], default_region: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("from", "'from' must be a phone number string")
    scalar_text("from", value)
    parsed = normalize_number(value, default_region)
    if parsed.e164 not in pool:
        raise ValidationError(
            "from", "'from' must be one of the app's sender numbers (SMS_FROM_NUMBERS)"
        )
    return parsed.e164


def _tag(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_TAG_LENGTH:
        raise ValidationError("tag", f"'tag' must be a string of 1 to {MAX_TAG_LENGTH} characters")
    scalar_text("tag", value)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValidationError("tag", "'tag' may not contain control characters")
    return value


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ValidationError(name, f"'{name}' must be true or false")
    return value


def parse_idempotency_key(header: str | None) -> str | None:
    """Stripe sends a bare token, the IETF draft a quoted sf-string: accept both."""
    if header is None:
        return None
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not all(0x20 < ord(c) < 0x7F for c in key):
        raise ValidationError(
            "Idempotency-Key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters",
        )
    return key
