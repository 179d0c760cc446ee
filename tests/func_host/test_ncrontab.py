"""NCRONTAB parsing and next occurrences, checked against NCrontab's documented semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from local.func_host.ncrontab import CrontabError, parse_crontab
from local.func_host.schedule import IntervalSchedule, parse_schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def occurrences(expression: str, start: str, count: int) -> list[str]:
    schedule = parse_crontab(expression)
    moment = at(start)
    found = []
    for _ in range(count):
        following = schedule.next_after(moment)
        assert following is not None
        found.append(following.strftime("%Y-%m-%d %H:%M:%S %a"))
        moment = following
    return found


def test_every_ten_seconds() -> None:
    assert occurrences("*/10 * * * * *", "2024-01-01T00:00:00", 3) == [
        "2024-01-01 00:00:10 Mon",
        "2024-01-01 00:00:20 Mon",
        "2024-01-01 00:00:30 Mon",
    ]


def test_seconds_come_first_so_every_five_minutes_is_not_every_second() -> None:
    assert occurrences("0 */5 * * * *", "2024-01-01T00:00:01", 3) == [
        "2024-01-01 00:05:00 Mon",
        "2024-01-01 00:10:00 Mon",
        "2024-01-01 00:15:00 Mon",
    ]


def test_next_is_strictly_after_the_base_time() -> None:
    assert occurrences("0 */5 * * * *", "2024-01-01T00:05:00", 1) == ["2024-01-01 00:10:00 Mon"]


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    # NCrontab ANDs the two fields: Friday the 13th only, not every 13th and every Friday.
    assert occurrences("0 0 9 13 * 5", "2024-01-01T00:00:00", 3) == [
        "2024-09-13 09:00:00 Fri",
        "2024-12-13 09:00:00 Fri",
        "2025-06-13 09:00:00 Fri",
    ]


def test_weekday_names_and_ranges() -> None:
    # 2024-01-05 is a Friday: the next weekday runs are Friday, then Monday..
    assert occurrences("0 30 9 * * MON-FRI", "2024-01-05T10:00:00", 3) == [
        "2024-01-08 09:30:00 Mon",
        "2024-01-09 09:30:00 Tue",
        "2024-01-10 09:30:00 Wed",
    ]


def test_day_of_week_zero_is_sunday() -> None:
    assert occurrences("0 0 12 * * 0", "2024-01-01T00:00:00", 1) == ["2024-01-07 12:00:00 Sun"]


def test_names_are_case_insensitive_prefixes_and_lists_mix_with_numbers() -> None:
    schedule = parse_crontab("0 0 0 1 jan,Jul,12 sat,SUN")
    assert schedule.months == {1, 7, 12}
    assert schedule.days_of_week == {0, 6}
    assert parse_crontab("0 0 0 * * Wednesday").days_of_week == {3}


def test_steps_ranges_and_start_slash_step() -> None:
    schedule = parse_crontab("5/20 10-20/5 1,2,3 * * *")
    assert schedule.seconds == {5, 25, 45}  # `a/n` means a..max every n
    assert schedule.minutes == {10, 15, 20}
    assert schedule.hours == {1, 2, 3}


def test_reversed_range_is_swapped_like_ncrontab() -> None:
    assert parse_crontab("0 0 0 * * FRI-MON").days_of_week == {1, 2, 3, 4, 5}


def test_five_field_expression_gets_second_zero() -> None:
    assert occurrences("*/15 * * * *", "2024-01-01T00:00:30", 2) == [
        "2024-01-01 00:15:00 Mon",
        "2024-01-01 00:30:00 Mon",
    ]


def test_month_boundaries_and_leap_day() -> None:
    assert occurrences("0 0 0 31 * *", "2024-01-31T00:00:00", 2) == [
        "2024-03-31 00:00:00 Sun",
        "2024-05-31 00:00:00 Fri",
    ]
    assert occurrences("0 0 0 29 2 *", "2024-03-01T00:00:00", 1) == ["2028-02-29 00:00:00 Tue"]


def test_a_schedule_that_can_never_fire_has_no_next_occurrence() -> None:
    assert parse_crontab("0 0 0 30 2 *").next_after(at("2024-01-01T00:00:00")) is None


def test_keeps_the_timezone_and_drops_microseconds() -> None:
    following = parse_crontab("* * * * * *").next_after(at("2024-01-01T00:00:00.750000"))
    assert following == at("2024-01-01T00:00:01")
    assert following.tzinfo is UTC


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "must contain 6 components"),
        ("* * * * * * *", "must contain 6 components"),
        ("60 * * * * *", "60 is higher than the maximum allowable value for the [Second] field"),
        ("0 0 24 * * *", "[Hour]"),
        ("0 0 0 0 * *", "0 is lower than the minimum allowable value for the [Day] field"),
        ("0 0 0 * 13 *", "[Month]"),
        ("0 0 0 * * 7", "[DayOfWeek]"),
        ("0 0 0 * * FUNDAY", "not a known value name"),
        ("0 x * * * *", "[Minute]"),
        ("0 1,,2 * * * *", "cannot be empty"),
        ("0 */x * * * *", "not a valid step"),
        ("0 5- * * * *", "cannot be empty"),
        ("0 0 0 * JANUARYX *", "not a known value name"),
    ],
)
def test_invalid_expressions_are_rejected_with_a_clear_error(expression: str, message: str) -> None:
    with pytest.raises(CrontabError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_crontab(expression)


def test_timespan_schedule_is_an_interval() -> None:
    schedule = parse_schedule("00:05:00")
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(at("2024-01-01T00:00:00")) == at("2024-01-01T00:05:00")
    assert parse_schedule("1.00:00:00").next_after(at("2024-01-01T00:00:00")) == at(
        "2024-01-01T00:00:00"
    ) + timedelta(days=1)
    with pytest.raises(CrontabError):
        parse_schedule("00:00:00")
