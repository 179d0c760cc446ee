"""Settings of the status events: where they go and how long they are kept and retried.

Destinations are named (`SMS_EVENTS_DESTINATIONS=crm,ops`) and each is set by its own
`SMS_EVENTS_<NAME>_*` settings, so a name stays the same when a URL or a secret changes: the
name keys the destination's cursor, retries, dead letters and counts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from shared.setting_values import number_setting

DestinationKind = Literal["webhook", "eventgrid", "callback"]
CALLBACK = "callback"  # the built-in destination of every send's own `callbackUrl`
_NAME = re.compile(r"^[a-z][a-z0-9]{0,31}$")
MAX_SECRETS = 2  # the current one and the one being rotated out


class EventSettingsError(ValueError):
    """A malformed event setting; the message names it."""


@dataclass(frozen=True, slots=True)
class Destination:
    name: str
    kind: DestinationKind
    url: str
    types: tuple[str, ...] = ()
    # Webhooks: the signing secrets, every one signs (rotation); Event Grid: the topic key,
    # none meaning the app's managed identity.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def fingerprint(self) -> str:
        """Changes when the endpoint does: a disabled destination given a new URL runs again."""
        return hashlib.sha256(f"{self.kind}|{self.url}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class EventSettings:
    destinations: tuple[Destination, ...] = ()
    callback_secrets: tuple[str, ...] = field(default=(), repr=False)
    callback_allow_private: bool = False
    full_numbers: bool = True
    source: str = "/sms"
    retention_days: int = 7
    retry_hours: float = 72.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3600.0


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise EventSettingsError(f"{name}: expected true or false")


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    try:
        return number_setting(env, name, default, minimum)
    except ValueError as exc:
        raise EventSettingsError(str(exc)) from None


def _secrets(raw: str) -> tuple[str, ...]:
    return tuple(s for s in re.split(r"[\s,]+", raw.strip()) if s)


def _url(name: str, raw: str) -> str:
    url = urlsplit(raw)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise EventSettingsError(f"{name}: expected an https:// URL")
    return raw


def _destination(env: Mapping[str, str], name: str) -> Destination:
    prefix = f"SMS_EVENTS_{name.upper()}_"
    kind = env.get(prefix + "KIND", "").strip().lower() or "webhook"
    if kind not in ("webhook", "eventgrid"):
        raise EventSettingsError(f"{prefix}KIND: expected webhook or eventgrid")
    url = _url(prefix + "URL", env.get(prefix + "URL", "").strip())
    types = tuple(t.strip() for t in env.get(prefix + "TYPES", "").split(",") if t.strip())
    if kind == "webhook":
        secrets = _secrets(env.get(prefix + "SECRETS", ""))
        if not secrets:
            raise EventSettingsError(f"{prefix}SECRETS: a webhook needs a signing secret")
        if len(secrets) > MAX_SECRETS:
            raise EventSettingsError(f"{prefix}SECRETS: at most {MAX_SECRETS} (new and old)")
    else:
        key = env.get(prefix + "KEY", "").strip()
        secrets = (key,) if key else ()
    return Destination(name, kind, url, types, secrets)  # type: ignore[arg-type]


def load_event_settings(env: Mapping[str, str]) -> EventSettings:
    names = [n.strip().lower() for n in env.get("SMS_EVENTS_DESTINATIONS", "").split(",")]
    names = [n for n in names if n]
    bad = [n for n in names if not _NAME.match(n) or n == CALLBACK]
    if bad or len(set(names)) != len(names):
        raise EventSettingsError(
            "SMS_EVENTS_DESTINATIONS: distinct names of letters and digits, like crm,ops "
            f"({CALLBACK!r} is taken by per-send callbacks)"
        )
    callback_secrets = _secrets(env.get("SMS_EVENTS_CALLBACK_SECRETS", ""))
    if len(callback_secrets) > MAX_SECRETS:
        raise EventSettingsError(f"SMS_EVENTS_CALLBACK_SECRETS: at most {MAX_SECRETS}")
    numbers = env.get("SMS_EVENTS_NUMBERS", "").strip().lower() or "full"
    if numbers not in ("full", "masked"):
        raise EventSettingsError("SMS_EVENTS_NUMBERS: expected full or masked")
    return EventSettings(
        destinations=tuple(_destination(env, n) for n in names),
        callback_secrets=callback_secrets,
        callback_allow_private=_flag(env, "SMS_CALLBACK_ALLOW_PRIVATE", False),
        full_numbers=numbers == "full",
        source=env.get("SMS_EVENTS_SOURCE", "").strip() or "/sms",
        retention_days=int(_number(env, "SMS_EVENTS_RETENTION_DAYS", 7, 1)),
        retry_hours=_number(env, "SMS_EVENTS_RETRY_HOURS", 72.0, 0.01),
        retry_base_seconds=_number(env, "SMS_EVENTS_RETRY_BASE_SECONDS", 5.0, 0.1),
        retry_max_seconds=_number(env, "SMS_EVENTS_RETRY_MAX_SECONDS", 3600.0, 1.0),
    )
