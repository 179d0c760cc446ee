"""The bodies of `/api/verifications` (pure): every error names its field."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from shared.errors import ValidationError
from shared.phone import normalize_number
from shared.send_request import scalar_text
from shared.verify_texts import APP_HASH, LOCALE, normalize_domain

CODE_LENGTHS = (4, 10)
TTL_SECONDS = (60, 3600)
MAX_CHECKS = (1, 10)
DEFAULTS = {"codeLength": 6, "ttlSeconds": 600, "maxChecks": 5}
START_FIELDS = (
    "to",
    "codeLength",
    "ttlSeconds",
    "maxChecks",
    "locale",
    "appHash",
    "domain",
    "context",
)
CONTEXT_FIELDS = ("ip", "userId", "session")
MAX_CONTEXT_TEXT = 128
MAX_LOCALE = 35


@dataclass(frozen=True, slots=True)
class StartRequest:
    to: str  # E.164
    code_length: int
    ttl_seconds: int
    max_checks: int
    locale: str | None
    app_hash: str | None
    domain: str | None
    ip: str | None
    user_id: str | None
    session: str | None
    fingerprint: str  # what makes two requests "the same" for an Idempotency-Key


def parse_start(body: Any, *, default_region: str) -> StartRequest:
    fields = _object(body, "body", START_FIELDS)
    to = fields.get("to")
    if not isinstance(to, str) or not to.strip():
        raise ValidationError("to", "'to' is required: the phone number to verify")
    scalar_text("to", to)
    parsed = normalize_number(to[:64], default_region)
    if parsed.e164 is None:
        raise ValidationError(
            "to", f"'to' is not a number that can receive a code: {parsed.reason}"
        )
    context = _object(fields.get("context", {}), "context", CONTEXT_FIELDS)
    return StartRequest(
        to=parsed.e164,
        code_length=_int(fields, "codeLength", CODE_LENGTHS),
        ttl_seconds=_int(fields, "ttlSeconds", TTL_SECONDS),
        max_checks=_int(fields, "maxChecks", MAX_CHECKS),
        locale=_text(fields, "locale", "a language tag like en or es-MX", LOCALE.match),
        app_hash=_text(fields, "appHash", "an 11-character Android app hash", APP_HASH.match),
        domain=_domain(fields.get("domain")),
        ip=_ip(context.get("ip")),
        user_id=_context_text(context, "userId"),
        session=_context_text(context, "session"),
        fingerprint=hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
        ).hexdigest(),
    )


def parse_check(body: Any) -> str:
    """The code to check: 4 to 10 ASCII digits."""
    fields = _object(body, "body", ("code",))
    code = fields.get("code")
    low, high = CODE_LENGTHS
    if not isinstance(code, str) or not (low <= len(code) <= high) or not code.isascii():
        raise ValidationError("code", f"'code' must be {low} to {high} digits")
    if not code.isdigit():
        raise ValidationError("code", f"'code' must be {low} to {high} digits")
    return code


def parse_resend(body: Any) -> str | None:
    """The caller's IP, if it names one (`{"context": {"ip"}}`); the body is optional."""
    if body is None:
        return None
    fields = _object(body, "body", ("context",))
    return _ip(_object(fields.get("context", {}), "context", ("ip",)).get("ip"))


def _object(value: Any, target: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(target, f"'{target}' must be a JSON object")
    unknown = [k for k in value if k not in known]
    if unknown:
        name = unknown[0].encode("utf-8", "replace").decode("utf-8")[:64]
        raise ValidationError(name, f"unknown field {name!r}; expected {', '.join(known)}")
    return value


def _int(fields: dict[str, Any], name: str, bounds: tuple[int, int]) -> int:
    value = fields.get(name, DEFAULTS[name])
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(name, f"'{name}' must be a whole number from {low} to {high}")
    return value


def _text(fields: dict[str, Any], name: str, what: str, valid: Any) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_LOCALE or not valid(value):
        raise ValidationError(name, f"'{name}' must be {what}")
    return value


def _domain(value: Any) -> str | None:
    if value is None:
        return None
    host = normalize_domain(value) if isinstance(value, str) else None
    if host is None:
        raise ValidationError("domain", "'domain' must be a host name like example.com")
    return host


def _ip(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value)) if isinstance(value, str) else _bad_ip()
    except ValueError:
        return _bad_ip()


def _bad_ip() -> str:
    raise ValidationError("context.ip", "'context.ip' must be an IPv4 or IPv6 address")


def _context_text(context: dict[str, Any], name: str) -> str | None:
    value = context.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CONTEXT_TEXT:
        raise ValidationError(
            f"context.{name}", f"'context.{name}' must be 1 to {MAX_CONTEXT_TEXT} characters"
        )
    scalar_text(f"context.{name}", value)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValidationError(
            f"context.{name}", f"'context.{name}' may not hold control characters"
        )
    return value
