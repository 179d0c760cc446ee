"""Sandbox settings: read from `ACS_SANDBOX_*` at start, changed at run time by `PUT /sandbox/config`.

One table names every setting once (environment variable, JSON key, attribute, parser), so the
two entry points cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .phones import is_e164, is_valid_sender

# A fixed, public development key (base64 of "sandbox-dev-key-for-local-use-only"): not a secret.
DEV_ACCESS_KEY = "c2FuZGJveC1kZXYta2V5LWZvci1sb2NhbC11c2Utb25seQ=="
# The event sink's Event Grid topic key (base64 of "sandbox-eventgrid-dev-key"): public too.
EVENTGRID_DEV_KEY = "c2FuZGJveC1ldmVudGdyaWQtZGV2LWtleQ=="
DEFAULT_SENDERS = ("+18005550100", "+18005550101", "+18005550102")
EVENT_SCHEMAS = ("EventGrid", "CloudEvents")
EVENT_CASINGS = ("camel", "pascal")


@dataclass(frozen=True)
class NeverDeliver:
    """Recipients `low`..`high` (E.164 of one length, both included) whose texts the carrier
    drops; only those from `sender` when one is named (one route fails, others work)."""

    low: str
    high: str
    sender: str | None = None

    def matches(self, sender: str, to: str) -> bool:
        if self.sender is not None and sender != self.sender:
            return False
        return len(to) == len(self.low) and self.low <= to <= self.high

    def to_json(self) -> str:
        span = self.low if self.low == self.high else f"{self.low}-{self.high}"
        return span if self.sender is None else f"{span}@{self.sender}"


@dataclass(frozen=True)
class SandboxConfig:
    access_key: str = DEV_ACCESS_KEY
    eventgrid_key: str = EVENTGRID_DEV_KEY
    senders: tuple[str, ...] = DEFAULT_SENDERS
    # ACS toll-free limit: 200 message units (recipients) per minute per number; 0 = off.
    rate_per_minute: int = 200
    retry_after: bool = True
    time_scale: float = 1.0
    clock_skew_seconds: float = 900.0
    events_url: str = ""
    delivery_function: str = "on_delivery_report"
    inbound_function: str = "on_sms_received"
    report_delay_seconds: float = 1.0
    event_schema: str = "EventGrid"
    event_casing: str = "camel"
    duplicate_events: float = 0.0
    reorder_events: bool = False
    reorder_window_seconds: float = 2.0
    drop_reports: float = 0.0
    never_deliver: tuple[NeverDeliver, ...] = ()

    def never_delivers(self, sender: str, to: str) -> bool:
        return any(rule.matches(sender, to) for rule in self.never_deliver)

    @property
    def key_bytes(self) -> bytes:
        return base64.b64decode(self.access_key)

    def real_seconds(self, simulated: float) -> float:
        """Wall-clock seconds for a simulated duration (`timeScale` runs time faster)."""
        return simulated / self.time_scale

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SandboxConfig:
        """Start-up settings; raises ValueError naming the variable that is wrong."""
        changes: dict[str, Any] = {}
        for setting in _SETTINGS:
            if setting.env is None:
                continue
            raw = env.get(setting.env, "").strip()
            if raw:
                try:
                    changes[setting.attr] = setting.parse(raw)
                except ValueError as exc:
                    raise ValueError(f"{setting.env}: {exc}") from None
        return dataclasses.replace(cls(), **changes)

    def updated(self, patch: Mapping[str, object]) -> SandboxConfig:
        """A copy with the camelCase JSON settings in `patch` applied; ValueError if one is bad."""
        by_key = {s.key: s for s in _SETTINGS if s.key}
        changes: dict[str, Any] = {}
        for key, value in patch.items():
            setting = by_key.get(key)
            if setting is None:
                raise ValueError(f"unknown setting '{key}'; known: {', '.join(by_key)}")
            try:
                changes[setting.attr] = setting.parse(value)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, object]:
        """Every setting by its JSON key, except the access key (never echoed)."""
        out: dict[str, object] = {}
        for setting in _SETTINGS:
            if setting.key:
                value = getattr(self, setting.attr)
                if isinstance(value, tuple):
                    value = [v.to_json() if isinstance(v, NeverDeliver) else v for v in value]
                out[setting.key] = value
        return out


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def _float_in(low: float, high: float | None = None) -> Callable[[object], float]:
    def parse(value: object) -> float:
        number = _number(value)
        if number < low or (high is not None and number > high):
            raise ValueError(
                f"must be between {low} and {high}" if high is not None else f"must be >= {low}"
            )
        return number

    return parse


def _positive(value: object) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError("must be > 0")
    return number


def _count(value: object) -> int:
    number = _number(value)
    if number < 0 or number != int(number):
        raise ValueError("must be a whole number >= 0")
    return int(number)


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ValueError("expected true or false")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value.strip()


def _url(value: object) -> str:
    url = _text(value).rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise ValueError("expected an http(s) URL or an empty string")
    return url


def _choice(*options: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _text(value)
        for option in options:
            if text.lower() == option.lower():
                return option
        raise ValueError(f"expected one of {', '.join(options)}")

    return parse


def _senders(value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected a list of sender numbers or a comma-separated string")
    senders = tuple(i.strip() for i in items if i.strip())
    bad = [s for s in senders if not is_valid_sender(s)]
    if bad:
        raise ValueError(f"not a valid sender: {bad[0]!r}")
    return senders


def _never_deliver(value: object) -> tuple[NeverDeliver, ...]:
    """`+14255550300-+14255550399@+18005550100`: a range (or one number) of recipients, and
    optionally the sender whose texts to them fail; several comma-separated, or a JSON list."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected ranges like +14255550300-+14255550399@+18005550100")
    rules = []
    for item in (i.strip() for i in items if i.strip()):
        span, _, sender = item.partition("@")
        low, _, high = span.partition("-")
        high = high or low
        if not (is_e164(low) and is_e164(high) and len(low) == len(high) and low <= high):
            raise ValueError(f"not a range of E.164 numbers of one length: {span!r}")
        if sender and not is_valid_sender(sender):
            raise ValueError(f"not a valid sender: {sender!r}")
        rules.append(NeverDeliver(low, high, sender or None))
    return tuple(rules)


def _access_key(value: object) -> str:
    key = _text(value)
    try:
        if not base64.b64decode(key, validate=True):
            raise ValueError("the access key is empty")
    except binascii.Error:
        raise ValueError("the access key must be base64") from None
    return key


@dataclass(frozen=True)
class _Setting:
    attr: str
    env: str | None
    key: str | None  # None: not readable or writable through /sandbox/config
    parse: Callable[[object], Any]


_SETTINGS = (
    _Setting("access_key", "ACS_SANDBOX_ACCESS_KEY", None, _access_key),
    _Setting("eventgrid_key", "ACS_SANDBOX_EVENTGRID_KEY", None, _text),
    _Setting("senders", "ACS_SANDBOX_SENDERS", "senders", _senders),
    _Setting("rate_per_minute", "ACS_SANDBOX_RATE_PER_MINUTE", "ratePerMinute", _count),
    _Setting("retry_after", None, "retryAfter", _flag),
    _Setting("time_scale", "ACS_SANDBOX_TIME_SCALE", "timeScale", _positive),
    _Setting(
        "clock_skew_seconds", "ACS_SANDBOX_CLOCK_SKEW_SECONDS", "clockSkewSeconds", _float_in(0)
    ),
    _Setting("events_url", "ACS_SANDBOX_EVENTS_URL", "eventsUrl", _url),
    _Setting("delivery_function", "ACS_SANDBOX_DELIVERY_FUNCTION", "deliveryFunction", _text),
    _Setting("inbound_function", "ACS_SANDBOX_INBOUND_FUNCTION", "inboundFunction", _text),
    _Setting(
        "report_delay_seconds",
        "ACS_SANDBOX_REPORT_DELAY_SECONDS",
        "reportDelaySeconds",
        _float_in(0),
    ),
    _Setting("event_schema", "ACS_SANDBOX_EVENT_SCHEMA", "eventSchema", _choice(*EVENT_SCHEMAS)),
    _Setting("event_casing", "ACS_SANDBOX_EVENT_CASING", "eventCasing", _choice(*EVENT_CASINGS)),
    _Setting("duplicate_events", None, "duplicateEvents", _float_in(0, 1)),
    _Setting("reorder_events", None, "reorderEvents", _flag),
    _Setting("reorder_window_seconds", None, "reorderWindowSeconds", _float_in(0)),
    _Setting("drop_reports", None, "dropReports", _float_in(0, 1)),
    _Setting("never_deliver", "ACS_SANDBOX_NEVER_DELIVER", "neverDeliver", _never_deliver),
)
