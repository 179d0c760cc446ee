"""NCRONTAB schedules as the Functions timer trigger reads them (pure, no I/O).

Six fields `second minute hour day month day-of-week` (a five-field expression gets second 0, as
the timer extension's `CronSchedule` does). Parsing follows NCrontab's `CrontabFieldImpl`: lists,
ranges (reversed ranges are swapped), steps (`*/n`, `a-b/n`, and `a/n` meaning `a-max/n`), month
and weekday names matched case-insensitively by prefix, day-of-week 0 = Sunday..6. Unlike Vixie
cron, when both day-of-month and day-of-week are restricted BOTH must match (NCrontab checks the
weekday of each candidate day), so `0 0 9 13 * 5` is Friday the 13th only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

# A schedule that matches nothing within this many years never fires (e.g. `0 0 0 30 2 *`).
_SEARCH_YEARS = 200


class CrontabError(ValueError):
    """An NCRONTAB expression that the timer trigger would refuse; the message says why."""


@dataclass(frozen=True)
class _FieldKind:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_SECOND = _FieldKind("Second", 0, 59)
_MINUTE = _FieldKind("Minute", 0, 59)
_HOUR = _FieldKind("Hour", 0, 23)
_DAY = _FieldKind("Day", 1, 31)
_MONTH = _FieldKind("Month", 1, 12, MONTH_NAMES)
_DAY_OF_WEEK = _FieldKind("DayOfWeek", 0, 6, WEEKDAY_NAMES)
_KINDS = (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _DAY_OF_WEEK)


@dataclass(frozen=True)
class CrontabSchedule:
    """A parsed schedule; `next_after` gives the first occurrence strictly after a moment."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]

    def matches(self, moment: datetime) -> bool:
        return (
            moment.second in self.seconds
            and moment.minute in self.minutes
            and moment.hour in self.hours
            and self._date_matches(moment)
        )

    def next_after(self, moment: datetime) -> datetime | None:
        """First occurrence after `moment` (same tzinfo), or None if the schedule never fires.

        Walks from the coarsest field to the finest, jumping straight to the next allowed value;
        only whole days are stepped one by one, which bounds the work to a few days per year.
        """
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        horizon = moment.year + _SEARCH_YEARS
        while candidate.year <= horizon:
            if candidate.month not in self.months:
                candidate = _next_month_start(candidate, self.months)
                continue
            if not self._date_matches(candidate):
                candidate = _day_start(candidate) + timedelta(days=1)
                continue
            if candidate.hour not in self.hours:
                hour = _next_value(self.hours, candidate.hour)
                if hour is None:
                    candidate = _day_start(candidate) + timedelta(days=1)
                else:
                    candidate = candidate.replace(hour=hour, minute=0, second=0)
                continue
            if candidate.minute not in self.minutes:
                minute = _next_value(self.minutes, candidate.minute)
                if minute is None:
                    candidate = candidate.replace(minute=0, second=0) + timedelta(hours=1)
                else:
                    candidate = candidate.replace(minute=minute, second=0)
                continue
            if candidate.second not in self.seconds:
                second = _next_value(self.seconds, candidate.second)
                if second is None:
                    candidate = candidate.replace(second=0) + timedelta(minutes=1)
                else:
                    candidate = candidate.replace(second=second)
                continue
            return candidate
        return None

    def _date_matches(self, moment: datetime) -> bool:
        # NCrontab: the weekday is checked in addition to the day of month (AND, not cron's OR).
        weekday = (moment.weekday() + 1) % 7  # Python: Monday=0; NCRONTAB: Sunday=0
        return (
            moment.month in self.months and moment.day in self.days and weekday in self.days_of_week
        )


def parse_crontab(expression: str) -> CrontabSchedule:
    """Parse a 6-field (or 5-field) NCRONTAB expression, raising CrontabError if invalid."""
    tokens = expression.split()
    if len(tokens) == 5:
        tokens = ["0", *tokens]
    if len(tokens) != 6:
        raise CrontabError(
            f"'{expression}' is an invalid crontab expression. It must contain 6 components of "
            "a schedule in the sequence of seconds, minutes, hours, days, months, and days of "
            "week (e.g. '0 */5 * * * *')."
        )
    fields = [_parse_field(token, kind) for token, kind in zip(tokens, _KINDS, strict=True)]
    return CrontabSchedule(expression, *fields)


def _parse_field(text: str, kind: _FieldKind) -> frozenset[int]:
    try:
        values: set[int] = set()
        # NCrontab only treats a comma after the first character as a list separator.
        parts = text.split(",") if text.find(",") > 0 else [text]
        for part in parts:
            values |= _parse_part(part, kind)
        return frozenset(values)
    except CrontabError as error:
        raise CrontabError(
            f"'{text}' is not a valid [{kind.name}] crontab field expression: {error}"
        ) from None


def _parse_part(text: str, kind: _FieldKind) -> set[int]:
    if not text:
        raise CrontabError("a crontab field value cannot be empty")
    step = 1
    if text.find("/") > 0:
        text, step_text = text.split("/", 1)
        step = max(_parse_int(step_text, "step"), 1)  # NCrontab treats a step below 1 as 1
    if text == "*":
        first, last = kind.low, kind.high
    elif text.find("-") > 0:
        first_text, last_text = text.split("-", 1)
        first, last = _parse_value(first_text, kind), _parse_value(last_text, kind)
        first, last = min(first, last), max(first, last)  # NCrontab swaps reversed ranges
    else:
        first = _parse_value(text, kind)
        last = first if step == 1 else kind.high  # `a/n` means from a to the maximum
    for value in (first, last):
        if value < kind.low:
            raise CrontabError(
                f"{value} is lower than the minimum allowable value for the [{kind.name}] "
                f"field; it must be between {kind.low} and {kind.high}"
            )
        if value > kind.high:
            raise CrontabError(
                f"{value} is higher than the maximum allowable value for the [{kind.name}] "
                f"field; it must be between {kind.low} and {kind.high}"
            )
    return set(range(first, last + 1, step))


def _parse_value(text: str, kind: _FieldKind) -> int:
    text = text.strip()
    if not text:
        raise CrontabError("a crontab field value cannot be empty")
    if text[0].isdigit():
        return _parse_int(text, "value")
    if not kind.names:
        raise CrontabError(
            f"'{text}' is not a valid [{kind.name}] value; it must be a number between "
            f"{kind.low} and {kind.high}"
        )
    for index, name in enumerate(kind.names):
        if name.lower().startswith(text.lower()):
            return kind.low + index
    raise CrontabError(f"'{text}' is not a known value name; use one of: {', '.join(kind.names)}")


def _parse_int(text: str, what: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.lstrip("-").isdigit():
        raise CrontabError(f"'{text}' is not a valid {what}; expected an integer")
    return int(text)


def _next_value(allowed: frozenset[int], current: int) -> int | None:
    later = [value for value in allowed if value > current]
    return min(later) if later else None


def _day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0)


def _next_month_start(moment: datetime, months: frozenset[int]) -> datetime:
    month = _next_value(months, moment.month)
    if month is None:
        return moment.replace(
            year=moment.year + 1, month=min(months), day=1, hour=0, minute=0, second=0
        )
    return moment.replace(month=month, day=1, hour=0, minute=0, second=0)
