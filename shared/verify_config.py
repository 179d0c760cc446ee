"""The settings of one-time codes (`/api/verifications`), with safe defaults.

Every limit is "count/window" (`5/10m`, `10/1d`; units s, m, h, d), several joined by commas,
or `off`. The defaults follow what the peers ship (research: Twilio Verify 5 sends and 5 checks
per verification, Infobip 3 sends per number a day and 10,000 per application a day) and what
a sign-in flow needs: a person asking for a code a few times in ten minutes is normal, a number
asked for twenty times a day is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared.pacing import Allowance
from shared.setting_values import number_setting
from shared.verify_codes import MIN_SECRET_LENGTH
from shared.verify_texts import (
    DEFAULT_LOCALE,
    LOCALE,
    MAX_BRAND_LENGTH,
    TemplateError,
    VerificationTexts,
    check_template,
    locale_key,
)

GuardMode = Literal["enforce", "monitor"]
TEXT_PREFIX = "SMS_VERIFY_TEXT_"
_WINDOW = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

DEFAULT_LIMITS = {
    "SMS_VERIFY_LIMIT_NUMBER": "5/10m,10/1d",
    "SMS_VERIFY_LIMIT_IP": "20/1h",
    "SMS_VERIFY_LIMIT_PREFIX": "30/1h",
    "SMS_VERIFY_LIMIT_COUNTRY": "1000/1h",
    "SMS_VERIFY_LIMIT_TOTAL": "10000/1d",
}


class VerifySettingsError(ValueError):
    """A malformed verification setting; the message names it."""


@dataclass(frozen=True, slots=True)
class Limits:
    per_number: tuple[Allowance, ...]
    per_ip: tuple[Allowance, ...]
    per_prefix: tuple[Allowance, ...]
    per_country: tuple[Allowance, ...]
    total: tuple[Allowance, ...]


@dataclass(frozen=True, slots=True)
class Guard:
    """The conversion guard: a prefix cell that has had `min_sends` texts (a country cell:
    `country_min_sends`; decayed counts, half-life `half_life_seconds`) while fewer than
    `min_conversion` of them were approved is throttled (`enforce`) or only logged and counted
    (`monitor`)."""

    mode: GuardMode
    min_sends: int
    country_min_sends: int
    min_conversion: float
    half_life_seconds: int


@dataclass(frozen=True, slots=True)
class VerifySettings:
    secret: bytes | None = field(repr=False)
    texts: VerificationTexts
    countries: frozenset[str]
    limits: Limits
    guard: Guard


def parse_allowances(name: str, raw: str) -> tuple[Allowance, ...]:
    """`5/10m,10/1d` → two allowances; `off` → none."""
    text = raw.strip().lower()
    if text == "off":
        return ()
    out: list[Allowance] = []
    for part in text.split(","):
        match = _WINDOW.match(part)
        if not match or int(match.group(1)) < 1 or match.group(2) == "0":
            raise VerifySettingsError(
                f"{name}: expected limits like 5/10m,10/1d (count/window, units s m h d) or off"
            )
        seconds = int(match.group(2) or 1) * _UNIT_SECONDS[match.group(3)]
        out.append(Allowance(int(match.group(1)), seconds))
    if len({a.seconds for a in out}) != len(out):
        raise VerifySettingsError(f"{name}: two limits over the same window")
    return tuple(out)


def _secret(raw: str) -> bytes | None:
    if not raw:
        return None
    if len(raw) < MIN_SECRET_LENGTH:
        raise VerifySettingsError(
            f"SMS_VERIFY_SECRET: at least {MIN_SECRET_LENGTH} characters "
            "(e.g. the output of `openssl rand -base64 48`)"
        )
    return raw.encode("utf-8")


def _countries(raw: str) -> frozenset[str]:
    codes = [c.strip().upper() for c in (raw or "US,CA").split(",") if c.strip()]
    if not codes or any(len(c) != 2 or not (c.isascii() and c.isalpha()) for c in codes):
        raise VerifySettingsError("SMS_VERIFY_COUNTRIES: expected two-letter region codes")
    return frozenset(codes)


def _texts(env: Mapping[str, str]) -> VerificationTexts:
    brand = env.get("SMS_VERIFY_BRAND", "").strip()
    if len(brand) > MAX_BRAND_LENGTH or any(ord(c) < 0x20 for c in brand):
        raise VerifySettingsError(
            f"SMS_VERIFY_BRAND: at most {MAX_BRAND_LENGTH} characters, no control characters"
        )
    default = env.get("SMS_VERIFY_LOCALE", "").strip() or DEFAULT_LOCALE
    if not LOCALE.match(default):
        raise VerifySettingsError("SMS_VERIFY_LOCALE: a language tag like en or es-MX")
    overrides: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith(TEXT_PREFIX) or not value.strip():
            continue
        locale = name[len(TEXT_PREFIX) :]
        if not LOCALE.match(locale):
            raise VerifySettingsError(f"{name}: name a locale, e.g. {TEXT_PREFIX}ES_MX")
        try:
            overrides[locale_key(locale)] = check_template(value.strip())
        except TemplateError as exc:
            raise VerifySettingsError(f"{name}: {exc}") from None
    return VerificationTexts(brand, overrides, locale_key(default))


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    try:
        return number_setting(env, name, default, low, high)
    except ValueError as exc:
        raise VerifySettingsError(str(exc)) from None


def _guard(env: Mapping[str, str]) -> Guard:
    mode = env.get("SMS_VERIFY_GUARD", "").strip().lower() or "enforce"
    if mode not in ("enforce", "monitor"):
        raise VerifySettingsError("SMS_VERIFY_GUARD: enforce or monitor")
    return Guard(
        mode="enforce" if mode == "enforce" else "monitor",
        min_sends=int(_number(env, "SMS_VERIFY_GUARD_MIN_SENDS", 20, 1, 1_000_000)),
        country_min_sends=int(
            _number(env, "SMS_VERIFY_GUARD_COUNTRY_MIN_SENDS", 500, 1, 10_000_000)
        ),
        min_conversion=_number(env, "SMS_VERIFY_GUARD_MIN_CONVERSION", 0.2, 0, 1),
        half_life_seconds=int(_number(env, "SMS_VERIFY_GUARD_HALF_LIFE_MINUTES", 120, 1, 10080))
        * 60,
    )


def load_verify_settings(env: Mapping[str, str]) -> VerifySettings:
    def limits(name: str) -> tuple[Allowance, ...]:
        return parse_allowances(name, env.get(name, "").strip() or DEFAULT_LIMITS[name])

    return VerifySettings(
        secret=_secret(env.get("SMS_VERIFY_SECRET", "").strip()),
        texts=_texts(env),
        countries=_countries(env.get("SMS_VERIFY_COUNTRIES", "").strip()),
        limits=Limits(
            per_number=limits("SMS_VERIFY_LIMIT_NUMBER"),
            per_ip=limits("SMS_VERIFY_LIMIT_IP"),
            per_prefix=limits("SMS_VERIFY_LIMIT_PREFIX"),
            per_country=limits("SMS_VERIFY_LIMIT_COUNTRY"),
            total=limits("SMS_VERIFY_LIMIT_TOTAL"),
        ),
        guard=_guard(env),
    )
