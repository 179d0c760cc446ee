from datetime import UTC, datetime, time

import pytest

from shared.quiet_hours import QuietHoursError, defer_until, parse_quiet_hours

NIGHT = parse_quiet_hours("21:00-08:00")
SEATTLE = "+14255550123"  # America/Los_Angeles
NEW_YORK = "+12125550100"  # America/New_York
LONDON_LANDLINE = "+442079460000"  # Europe/London


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_parse() -> None:
    assert parse_quiet_hours("") is None
    window = parse_quiet_hours("21:00-08:00")
    assert window is not None and window.start == time(21) and window.end == time(8)
    assert (
        window.contains(time(23)) and window.contains(time(7, 59)) and not window.contains(time(8))
    )
    for bad in ("21-8", "25:00-08:00", "08:00-08:00", "nine to five"):
        with pytest.raises(QuietHoursError):
            parse_quiet_hours(bad)


def test_outside_the_window_goes_now() -> None:
    noon_seattle = utc(2026, 7, 1, 19)  # 12:00 PDT
    assert defer_until(NIGHT, SEATTLE, noon_seattle) == noon_seattle
    assert defer_until(None, SEATTLE, utc(2026, 7, 1, 9)) == utc(2026, 7, 1, 9)


def test_inside_the_window_waits_for_local_eight() -> None:
    # 23:30 UTC on 1 July = 16:30 in Seattle (allowed) but 19:30 in New York (allowed)
    assert defer_until(NIGHT, NEW_YORK, utc(2026, 7, 1, 23, 30)) == utc(2026, 7, 1, 23, 30)
    # 03:00 UTC = 23:00 EDT → 08:00 EDT = 12:00 UTC
    assert defer_until(NIGHT, NEW_YORK, utc(2026, 7, 2, 3)) == utc(2026, 7, 2, 12)
    # the same UTC moment in Seattle is 20:00 PDT: allowed
    assert defer_until(NIGHT, SEATTLE, utc(2026, 7, 2, 3)) == utc(2026, 7, 2, 3)


def test_dst_change_is_exact() -> None:
    # US DST ends on 1 Nov 2026: 08:00 EST is 13:00 UTC (it was 12:00 UTC the day before).
    assert defer_until(NIGHT, NEW_YORK, utc(2026, 11, 1, 6)) == utc(2026, 11, 1, 13)
    assert defer_until(NIGHT, NEW_YORK, utc(2026, 10, 31, 6)) == utc(2026, 10, 31, 12)
    # US DST starts on 8 Mar 2026: 08:00 EDT is 12:00 UTC.
    assert defer_until(NIGHT, NEW_YORK, utc(2026, 3, 8, 9)) == utc(2026, 3, 8, 12)
    # London (BST ends 25 Oct 2026): 08:00 GMT = 08:00 UTC on 26 Oct, 07:00 UTC on 24 Oct.
    assert defer_until(NIGHT, LONDON_LANDLINE, utc(2026, 10, 26, 2)) == utc(2026, 10, 26, 8)
    assert defer_until(NIGHT, LONDON_LANDLINE, utc(2026, 10, 24, 2)) == utc(2026, 10, 24, 7)


def test_several_zones_must_all_be_awake() -> None:
    # Australian mobile numbers span Perth (UTC+8) to Sydney (UTC+10/+11) and more.
    moment = defer_until(NIGHT, "+61412345678", utc(2026, 7, 1, 20))  # 04:00 Perth, 06:00 Sydney
    assert moment > utc(2026, 7, 1, 20)
    from zoneinfo import ZoneInfo

    for zone in ("Australia/Perth", "Australia/Sydney"):
        assert 8 <= moment.astimezone(ZoneInfo(zone)).hour < 21


def test_a_number_spanning_the_whole_day_still_gets_a_time() -> None:
    moment = defer_until(NIGHT, "+18005550100", utc(2026, 7, 1, 5))  # toll-free: Guam to Honolulu
    assert utc(2026, 7, 1, 5) <= moment <= utc(2026, 7, 2, 5)
