"""App settings from the environment, checked once, failing with one clear line."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.events_config import EventSettings, EventSettingsError, load_event_settings
from shared.phone import is_e164, reachable_regions
from shared.quiet_hours import QuietHours, QuietHoursError, parse_quiet_hours
from shared.verify_config import VerifySettings, VerifySettingsError, load_verify_settings

DEFAULT_STOP_REPLY = (
    "You are unsubscribed and will receive no further messages. Reply START to resubscribe."
)
DEFAULT_START_REPLY = "You are subscribed again. Reply HELP for help, STOP to unsubscribe."
DEFAULT_HELP_REPLY = (
    "Messages from our service. Help: reply HELP or contact support. "
    "Message frequency varies. Msg&data rates may apply. Reply STOP to unsubscribe."
)


class SettingsError(RuntimeError):
    """A required setting is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class AcsConnection:
    endpoint: str  # scheme://host[:port], no trailing slash
    access_key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Settings:
    acs: AcsConnection
    from_numbers: tuple[str, ...]
    default_region: str
    tables_connection_string: str = field(repr=False)
    table_prefix: str
    rate_per_number_per_minute: int
    quiet_hours: QuietHours | None
    report_timeout_minutes: int
    claim_lease_seconds: int
    allowed_countries: frozenset[str]
    stop_reply: str
    start_reply: str
    help_reply: str
    inbound_webhook_url: str
    inbound_webhook_secret: str = field(repr=False)
    verify: VerifySettings
    events: EventSettings = field(default_factory=EventSettings)


def parse_acs_connection_string(value: str) -> AcsConnection:
    """`endpoint=https://x.communication.azure.com/;accesskey=<base64>`, keys case-insensitive."""
    parts: dict[str, str] = {}
    for element in value.split(";"):
        if element.strip():
            # Split at the first '=' only: base64 keys end in '=' padding.
            name, sep, val = element.partition("=")
            if not sep:
                raise SettingsError(
                    "ACS_CONNECTION_STRING: expected key=value pairs separated by ';'"
                )
            parts[name.strip().lower()] = val.strip()
    endpoint, key = parts.get("endpoint"), parts.get("accesskey")
    if not endpoint or not key:
        raise SettingsError("ACS_CONNECTION_STRING: needs both endpoint=... and accesskey=...")
    url = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise SettingsError("ACS_CONNECTION_STRING: endpoint must be an http(s) URL")
    try:
        raw_key = base64.b64decode(key, validate=True)
    except binascii.Error:
        raise SettingsError("ACS_CONNECTION_STRING: accesskey is not valid base64") from None
    return AcsConnection(f"{url.scheme}://{url.netloc}", raw_key)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: required setting is missing")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}")
    return value


def _quiet_hours(raw: str) -> QuietHours | None:
    try:
        return parse_quiet_hours(raw)
    except QuietHoursError as exc:
        raise SettingsError(str(exc)) from None


def _countries(raw: str, pool: tuple[str, ...]) -> frozenset[str]:
    """ISO 3166 codes, comma-separated; empty means what the pool's numbers can reach."""
    if not raw.strip():
        return reachable_regions(pool)
    codes = [c.strip().upper() for c in raw.split(",") if c.strip()]
    bad = [c for c in codes if len(c) != 2 or not (c.isascii() and c.isalpha())]
    if bad or not codes:
        raise SettingsError("SMS_ALLOWED_COUNTRIES: expected two-letter region codes like US,CA")
    return frozenset(codes)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    acs = parse_acs_connection_string(_required(env, "ACS_CONNECTION_STRING"))
    numbers = tuple(n.strip() for n in _required(env, "SMS_FROM_NUMBERS").split(",") if n.strip())
    bad = [n for n in numbers if not is_e164(n)]
    if not numbers or bad:
        raise SettingsError(
            "SMS_FROM_NUMBERS: expected comma-separated E.164 numbers like +18005550100"
        )
    region = env.get("SMS_DEFAULT_REGION", "").strip().upper() or "US"
    if len(region) != 2 or not region.isalpha():
        raise SettingsError("SMS_DEFAULT_REGION: expected a two-letter region code like US")
    tables = (
        env.get("TABLES_CONNECTION_STRING", "").strip()
        or env.get("AzureWebJobsStorage", "").strip()
    )
    if not tables:
        raise SettingsError("TABLES_CONNECTION_STRING: required (or set AzureWebJobsStorage)")
    prefix = env.get("SMS_TABLE_PREFIX", "sms").strip()
    if not (prefix.isalnum() and prefix.isascii() and prefix[:1].isalpha() and len(prefix) <= 40):
        raise SettingsError("SMS_TABLE_PREFIX: letters and digits only, starting with a letter")
    return Settings(
        acs=acs,
        from_numbers=tuple(dict.fromkeys(numbers)),
        default_region=region,
        tables_connection_string=tables,
        table_prefix=prefix,
        rate_per_number_per_minute=_int(env, "SMS_RATE_PER_NUMBER_PER_MINUTE", 200, 1),
        quiet_hours=_quiet_hours(env.get("SMS_QUIET_HOURS", "")),
        report_timeout_minutes=_int(env, "SMS_REPORT_TIMEOUT_MINUTES", 1440, 1),
        claim_lease_seconds=_int(env, "SMS_CLAIM_LEASE_SECONDS", 120, 5),
        allowed_countries=_countries(env.get("SMS_ALLOWED_COUNTRIES", ""), numbers),
        stop_reply=env.get("SMS_STOP_REPLY", "").strip() or DEFAULT_STOP_REPLY,
        start_reply=env.get("SMS_START_REPLY", "").strip() or DEFAULT_START_REPLY,
        help_reply=env.get("SMS_HELP_REPLY", "").strip() or DEFAULT_HELP_REPLY,
        inbound_webhook_url=env.get("SMS_INBOUND_WEBHOOK_URL", "").strip(),
        inbound_webhook_secret=env.get("SMS_INBOUND_WEBHOOK_SECRET", "").strip(),
        verify=_verify(env),
        events=_events(env),
    )


def _events(env: Mapping[str, str]) -> EventSettings:
    try:
        return load_event_settings(env)
    except EventSettingsError as exc:
        raise SettingsError(str(exc)) from None


def _verify(env: Mapping[str, str]) -> VerifySettings:
    try:
        return load_verify_settings(env)
    except VerifySettingsError as exc:
        raise SettingsError(str(exc)) from None
