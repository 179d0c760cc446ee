"""Quiet hours in the recipient's local time: when a scheduled message may go out.

The recipient's zones come from `phonenumbers` (a number can span several: a US area code
rarely, a toll-free number or a Russian mobile many); a moment is allowed only when it is outside
the window in every zone. Local clocks come from `zoneinfo`, so DST changes are exact. Where no
moment within two days suits every zone (zones spread across the whole day), the median zone
decides, rather than never sending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones

_WINDOW = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")
_STEP = timedelta(minutes=1)
_HORIZON = timedelta(days=2)


class QuietHoursError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily local window, e.g. 21:00-08:00 (crossing midnight) or 12:00-13:00."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def parse_quiet_hours(text: str) -> QuietHours | None:
    if not text.strip():
        return None
    match = _WINDOW.match(text)
    if not match:
        raise QuietHoursError("SMS_QUIET_HOURS: expected HH:MM-HH:MM, e.g. 21:00-08:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h1, m1) == (h2, m2):
        raise QuietHoursError("SMS_QUIET_HOURS: the window must not be empty or the whole day")
    return QuietHours(time(h1, m1), time(h2, m2))


@lru_cache(maxsize=4096)
def recipient_zones(number: str) -> tuple[ZoneInfo, ...]:
    try:
        names = phone_timezones.time_zones_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        names = ()
    zones = []
    for name in names:
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue  # "Etc/Unknown" and the like
    return tuple(zones) or (ZoneInfo("UTC"),)


def _quiet_in(window: QuietHours, zones: tuple[ZoneInfo, ...], moment: datetime) -> bool:
    return any(window.contains(moment.astimezone(z).time()) for z in zones)


def _next_allowed(
    window: QuietHours, zones: tuple[ZoneInfo, ...], moment: datetime
) -> datetime | None:
    """The first moment from `moment` on, to the minute, outside the window in every zone."""
    if not _quiet_in(window, zones, moment):
        return moment
    # Jump to each zone's next window end, then confirm minute by minute near it: cheap and exact
    # across DST changes (a local end time that does not exist that day is simply skipped).
    candidate = moment.replace(second=0, microsecond=0) + _STEP
    limit = moment + _HORIZON
    while candidate <= limit:
        if not _quiet_in(window, zones, candidate):
            return candidate
        candidate = _skip_to_window_end(window, zones, candidate)
    return None


def _skip_to_window_end(
    window: QuietHours, zones: tuple[ZoneInfo, ...], moment: datetime
) -> datetime:
    ends = []
    for zone in zones:
        local = moment.astimezone(zone)
        if window.contains(local.time()):
            end = datetime.combine(local.date(), window.end, tzinfo=zone)
            if end <= local:
                end += timedelta(days=1)
            ends.append(end.astimezone(UTC))
    nxt = max(ends) if ends else moment + _STEP
    return max(nxt, moment + _STEP)


def defer_until(window: QuietHours | None, number: str, moment: datetime) -> datetime:
    """When a message due at `moment` may be sent to `number`: `moment` itself, or later."""
    if window is None:
        return moment
    zones = recipient_zones(number)
    allowed = _next_allowed(window, zones, moment)
    if allowed is None:
        offsets = sorted(zones, key=lambda z: moment.astimezone(z).utcoffset() or timedelta(0))
        allowed = _next_allowed(window, (offsets[len(offsets) // 2],), moment)
    return allowed or moment
