"""Time in one place: every timestamp the app keeps is an aware UTC datetime.

Table Storage hands back naive datetimes for some properties and aware ones for others, and
ISO 8601 text may come with or without an offset; these helpers make all of them aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


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
