"""The event sink's judges: CloudEvents 1.0 (JSON format) and Standard Webhooks signatures.

Written from the two specifications, not taken from the app, so a mistake in the app's publisher
or signer is caught here instead of being repeated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

# CloudEvents 1.0 §3.1.1: required context attributes, each a non-empty string.
_REQUIRED = ("id", "source", "type")
# Optional attributes that, when present, are non-empty strings (§3.1.2).
_OPTIONAL_STRINGS = ("subject", "datacontenttype", "dataschema")
# §3.1.3: attribute names are lower-case ASCII letters and digits; `data_base64` is the JSON
# format's own member (§3.1 of the JSON format).
_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]+")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)

SIGNATURE_TOLERANCE = timedelta(minutes=5)
_SECRET_PREFIX = "whsec_"


def is_rfc3339(text: str) -> bool:
    """A full RFC 3339 date-time (`time`'s format); the digits must name a real instant."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59))
    except ValueError:
        return False
    if int(second) > 60:  # 60: a leap second, which RFC 3339 allows
        return False
    return sign is None or (int(off_h) <= 23 and int(off_m) <= 59)


def cloud_event_problems(event: object) -> list[str]:
    """What makes `event` not a CloudEvents 1.0 event in JSON format; empty when it is one."""
    if not isinstance(event, dict):
        return ["is not a JSON object"]
    problems: list[str] = []
    if event.get("specversion") != "1.0":
        problems.append(f"'specversion' must be \"1.0\", got {_shown(event.get('specversion'))}")
    for name in _REQUIRED:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            problems.append(f"'{name}' is required and must be a non-empty string")
    for name in _OPTIONAL_STRINGS:
        if name in event and (not isinstance(event[name], str) or not event[name]):
            problems.append(f"'{name}' must be a non-empty string when present")
    time = event.get("time")
    if "time" in event and (not isinstance(time, str) or not is_rfc3339(time)):
        problems.append(f"'time' must be an RFC 3339 timestamp, got {_shown(time)}")
    if "data" in event and "data_base64" in event:
        problems.append("'data' and 'data_base64' are mutually exclusive")
    if "data_base64" in event and not _is_base64(event["data_base64"]):
        problems.append("'data_base64' must be a base64 string")
    for name, value in event.items():
        if name in ("data", "data_base64"):
            continue
        if not _ATTRIBUTE_NAME.fullmatch(name):
            problems.append(f"attribute name {name!r} must be lower-case letters and digits")
        elif not isinstance(value, str | int | bool):
            # Extension values are strings, integers or booleans in the JSON format (§2, §3.1).
            problems.append(f"attribute '{name}' must be a string, an integer or a boolean")
    return problems


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."


def _is_base64(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        return False
    return True


def webhook_secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (the prefix and the padding are optional, as
    the reference libraries allow); ValueError when the rest is not base64 of at least one byte."""
    encoded = secret.removeprefix(_SECRET_PREFIX)
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("the secret must be 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("the secret is empty")
    return key


def verify_standard_webhook(
    key: bytes, headers: dict[str, str], body: bytes, now: datetime | None = None
) -> str | None:
    """None when the Standard Webhooks signature is good, else why it is not.

    `webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256>` entries over
    `<webhook-id>.<webhook-timestamp>.<body>`; any one matching is enough (key rotation), other
    versions are ignored. `headers` have lower-case names.
    """
    message_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not message_id or not stamp or not signatures:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not stamp.isascii() or not stamp.isdigit():
        return "webhook-timestamp must be whole seconds since the epoch"
    skew = (now or datetime.now(UTC)).timestamp() - int(stamp)
    if abs(skew) > SIGNATURE_TOLERANCE.total_seconds():
        return "webhook-timestamp is more than 5 minutes away from now"
    signed = f"{message_id}.{stamp}.".encode() + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for entry in signatures.split(" "):
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(candidate, expected):
            return None
    return "no v1 signature matches"
