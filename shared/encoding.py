"""Which alphabet a message needs and how many SMS segments it costs.

ACS bills per segment: a segment is 140 bytes, so GSM-7 fits 160 septets (153 when the message
is split, the rest is the concatenation header) and UCS-2 fits 70 UTF-16 units (67 split).
Facts: ACS SMS FAQ and 3GPP TS 23.038/23.040.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table characters are sent as ESC + char: two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def _gsm7_units(message: str) -> list[int] | None:
    units = []
    for ch in message:
        if ch in GSM7_BASIC:
            units.append(1)
        elif ch in GSM7_EXTENSION:
            units.append(2)
        else:
            return None
    return units


def _ucs2_units(message: str) -> list[int]:
    return [2 if ord(ch) > 0xFFFF else 1 for ch in message]


def _count_segments(units: list[int], single: int, part: int) -> int:
    """Pack characters into parts without splitting an escape pair or a surrogate pair."""
    total = sum(units)
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in units:
        if used + size > part:
            segments += 1
            used = 0
        used += size
    return segments


def segment_info(message: str) -> SegmentInfo:
    gsm = _gsm7_units(message)
    if gsm is not None:
        return SegmentInfo("GSM-7", sum(gsm), _count_segments(gsm, GSM7_SINGLE, GSM7_PART))
    ucs = _ucs2_units(message)
    return SegmentInfo("UCS-2", sum(ucs), _count_segments(ucs, UCS2_SINGLE, UCS2_PART))


def utf16_length(message: str) -> int:
    """Length as ACS (.NET) counts characters for its 2048-character limit."""
    return len(message.encode("utf-16-le")) // 2
