"""SMS segment counting (3GPP TS 23.038/23.040), independent of the app's own implementation.

ACS bills and reports per segment (`deliveryAttempts[].segmentsSucceeded`, inbound
`segmentCount`): GSM-7 160 chars in one segment / 153 per part, otherwise UCS-2 70 / 67.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 basic character set (128 characters, one septet each; '\x1b' is the escape).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: escape + character, two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def _widths(text: str) -> tuple[Encoding, list[int]]:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return "GSM-7", [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # UCS-2 on the air is UTF-16: characters outside the BMP (emoji) take a surrogate pair.
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SegmentCount:
    """Segments needed for `text`; an empty message still costs one."""
    encoding, widths = _widths(text)
    single, part = (160, 153) if encoding == "GSM-7" else (70, 67)
    units = sum(widths)
    if units <= single:
        return SegmentCount(encoding, units, 1)
    # Concatenated parts lose 6 bytes to the UDH; an escape pair or a surrogate pair is never
    # split across two parts, so pack greedily instead of dividing.
    segments, used = 1, 0
    for width in widths:
        if used + width > part:
            segments, used = segments + 1, 0
        used += width
    return SegmentCount(encoding, units, segments)
