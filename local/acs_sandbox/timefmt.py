"""Date formats of the ACS wire protocol, parsed and printed without the locale.

`strftime("%a")`/`%b` follow the process locale, so RFC 1123 names come from fixed tables.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# RFC 1123 / IMF-fixdate, e.g. "Tue, 26 Mar 2019 16:06:51 GMT" (x-ms-date, Date and
# repeatabilityFirstSent all use it).
_RFC1123 = re.compile(
    rf"({'|'.join(_DAYS)}), (\d{{2}}) ({'|'.join(_MONTHS)}) (\d{{4}}) (\d{{2}}):(\d{{2}}):(\d{{2}}) GMT"
)


def parse_rfc1123(text: str) -> datetime | None:
    """The UTC instant of an RFC 1123 date, or None when the text is not one.

    Like .NET's "r" format (what ACS runs on), a weekday that does not match the date is refused.
    """
    match = _RFC1123.fullmatch(text)
    if match is None:
        return None
    weekday, day, month, year, hour, minute, second = match.groups()
    try:
        value = datetime(
            int(year),
            _MONTHS.index(month) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    return value if _DAYS[value.weekday()] == weekday else None


def format_rfc1123(value: datetime) -> str:
    value = value.astimezone(UTC)
    return (
        f"{_DAYS[value.weekday()]}, {value.day:02d} {_MONTHS[value.month - 1]} {value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} GMT"
    )


def format_timestamp(value: datetime) -> str:
    """ISO 8601 UTC with 7 fractional digits, as Event Grid writes `receivedTimestamp`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def compact_stamp(value: datetime) -> str:
    """yyyyMMddHHmmss, the date part of ACS message ids (`Outgoing_20200610203725<guid>`)."""
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S")
