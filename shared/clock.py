"""Time in one place: every timestamp the app keeps is an aware UTC datetime.

Table Storage hands back naive datetimes for some properties and aware ones for others, and
ISO 8601 text may come with or without an offset; these helpers make all of them aware UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """A datetime with a time zone: naive values are UTC (as Table Storage stores them)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds and a `Z`, as every answer of the API writes times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return aware(datetime.fromisoformat(text))


# The times the API accepts: far enough either way for any real schedule or report, near
# enough that arithmetic on them (offsets, a year ahead, hour ranges) can never overflow.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class TimeFormatError(ValueError):
    """The text is not a time this API accepts; the message says why."""


def parse_instant(text: str) -> datetime:
    """ISO 8601 with an offset (`Z` or `±hh:mm`), between 2000 and 2200, as aware UTC."""
    if not text.isascii():
        raise TimeFormatError("must be an ISO 8601 time with an offset")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimeFormatError("must be an ISO 8601 time with an offset") from None
    if parsed.tzinfo is None:
        raise TimeFormatError("needs a UTC offset (Z or +hh:mm): local times are ambiguous")
    if (
        not EARLIEST.replace(tzinfo=None)
        < parsed.replace(tzinfo=None)
        < LATEST.replace(tzinfo=None)
    ):
        raise TimeFormatError("must be between the years 2000 and 2199")
    return parsed.astimezone(UTC)


def parse_day(text: str) -> date:
    """`YYYY-MM-DD` (ASCII digits only), between 2000 and 2199."""
    if len(text) != 10 or not text.isascii() or text[4] != "-" or text[7] != "-":
        raise TimeFormatError("must be a date as YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise TimeFormatError("must be a date as YYYY-MM-DD") from None
    if not EARLIEST.date() <= day < LATEST.date():
        raise TimeFormatError("must be between the years 2000 and 2199")
    return day
