"""Timer trigger schedules: an NCRONTAB expression or, as the timer extension also accepts, a
TimeSpan interval such as `00:05:00` (App Service plans only in Azure, allowed here)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from local.func_host.ncrontab import CrontabError, parse_crontab

_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})")


class Schedule(Protocol):
    @property
    def expression(self) -> str: ...

    def next_after(self, moment: datetime) -> datetime | None: ...


@dataclass(frozen=True)
class IntervalSchedule:
    """Fires every `interval`, counted from the moment asked about."""

    expression: str
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime | None:
        return moment.replace(microsecond=0) + self.interval


def parse_schedule(expression: str) -> Schedule:
    """Parse a resolved `schedule` value; raise CrontabError saying why if it is invalid."""
    timespan = _TIMESPAN.fullmatch(expression.strip())
    if timespan is None:
        return parse_crontab(expression)
    days, hours, minutes, seconds = (int(group or 0) for group in timespan.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        raise CrontabError(f"'{expression}' is not a valid TimeSpan schedule (hh:mm:ss)")
    interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if interval <= timedelta(0):
        raise CrontabError(f"'{expression}': a TimeSpan schedule must be positive")
    return IntervalSchedule(expression, interval)
