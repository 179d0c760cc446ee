"""Phone numbers: E.164 normalisation with `phonenumbers`, and masking for logs."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

# Premium-rate and shared-cost numbers are where SMS-pumping fraud pays out; nobody texts
# them on purpose (SMS pumping: Twilio, Plivo guidance).
_REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate numbers are not accepted",
    PhoneNumberType.SHARED_COST: "shared-cost numbers are not accepted",
}

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    """One recipient as given, with its E.164 form or the reason it has none."""

    raw: str
    e164: str | None
    reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.e164 is not None


# ACS: a US toll-free number can text the US, Canada and Puerto Rico (ACS SMS concepts,
# "country and region availability"); other number types reach their own country only.
TOLL_FREE_REACH = frozenset({"US", "CA", "PR"})


def reachable_regions(senders: tuple[str, ...]) -> frozenset[str]:
    """The countries the pool's numbers can text: the default of SMS_ALLOWED_COUNTRIES."""
    regions: set[str] = set()
    for sender in senders:
        try:
            number = phonenumbers.parse(sender, None)
        except NumberParseException:
            continue
        region = phonenumbers.region_code_for_number(number)
        if (
            phonenumbers.number_type(number) == PhoneNumberType.TOLL_FREE
            and number.country_code == 1
        ):
            regions |= TOLL_FREE_REACH
        elif region:
            regions.add(region)
    return frozenset(regions)


def normalize_number(
    raw: str, default_region: str, *, allowed_regions: frozenset[str] | None = None
) -> ParsedNumber:
    text = raw.strip()
    if not text:
        return ParsedNumber(raw, None, "empty")
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        return ParsedNumber(raw, None, _PARSE_REASONS.get(exc.error_type, "not a phone number"))
    if not phonenumbers.is_possible_number(number):
        return ParsedNumber(raw, None, "wrong length for its country")
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_number(number) or "its country"
        return ParsedNumber(raw, None, f"not a valid number in {region}")
    refused = _REFUSED_TYPES.get(phonenumbers.number_type(number))
    if refused:
        return ParsedNumber(raw, None, refused)
    country = phonenumbers.region_code_for_number(number) or "an unknown country"
    if allowed_regions is not None and country not in allowed_regions:
        return ParsedNumber(raw, None, f"a number in {country}: not in SMS_ALLOWED_COUNTRIES")
    return ParsedNumber(
        raw, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


def normalize_recipients(
    raws: list[str], default_region: str, *, allowed_regions: frozenset[str] | None = None
) -> list[ParsedNumber]:
    """Distinct recipients in request order: valid ones by E.164, invalid ones by their text."""
    seen: set[str] = set()
    out: list[ParsedNumber] = []
    for raw in raws:
        parsed = normalize_number(raw, default_region, allowed_regions=allowed_regions)
        key = parsed.e164 or "raw:" + raw.strip()
        if key not in seen:
            seen.add(key)
            out.append(parsed)
    return out


def is_e164(text: str) -> bool:
    return bool(_E164.match(text))


def mask(number: str) -> str:
    """`+14255550123` → `+1425*****23`: enough to tell numbers apart in a log, not to dial one."""
    if len(number) <= 4:
        return "*" * len(number)
    keep_head = min(5, len(number) - 4)
    return number[:keep_head] + "*" * (len(number) - keep_head - 2) + number[-2:]


def event_number(raw: str, default_region: str) -> str:
    """A number as an ACS event gives it (`15555555555`, `+1…`) in E.164, without judging it:
    an inbound sender must be recorded even when libphonenumber does not know its range."""
    text = raw.strip()
    parsed = normalize_number(text, default_region)
    if parsed.e164:
        return parsed.e164
    digits = "".join(ch for ch in text if ch.isdigit())
    return "+" + digits if digits else text
