"""Phone-number shapes the sandbox checks, and masking so logs never show a number in clear."""

from __future__ import annotations

import re

# ACS: recipients must be E.164; the sandbox's test for "Invalid To phone number format."
E164 = re.compile(r"\+[1-9]\d{6,14}")
# ACS senders may also be short codes (digits, no '+') or alphanumeric sender IDs (≤ 11 chars).
_SHORT_CODE = re.compile(r"\d{5,6}")
_ALPHANUMERIC_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
# US/CA toll-free area codes: carriers enforce STOP/START themselves on these numbers.
_TOLL_FREE_PREFIXES = ("+1800", "+1888", "+1877", "+1866", "+1855", "+1844", "+1833")
# Anything in a URL or text that looks like a phone number (also '+' percent-encoded).
_NUMBER_IN_TEXT = re.compile(r"(?:\+|%2[Bb])?\d{7,15}")


def is_e164(number: str) -> bool:
    return E164.fullmatch(number) is not None


def is_valid_sender(sender: str) -> bool:
    """Well-formed `from`: E.164, a short code or an alphanumeric sender ID."""
    return any(p.fullmatch(sender) for p in (E164, _SHORT_CODE, _ALPHANUMERIC_ID))


def is_toll_free(number: str) -> bool:
    return number.startswith(_TOLL_FREE_PREFIXES) and is_e164(number)


def digits(number: str) -> str:
    """The number without '+', as Event Grid writes it in `subject` (`/phonenumber/1800…`)."""
    return number.lstrip("+")


def mask(number: str) -> str:
    """`+14255550123` → `+1425*****23`: enough to tell numbers apart in a log, not to dial one."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:5] + "*" * (len(number) - 7) + number[-2:]


def mask_numbers(text: str) -> str:
    """Masks every phone-number-like run in free text (paths, query strings)."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask(m.group(0)), text)
