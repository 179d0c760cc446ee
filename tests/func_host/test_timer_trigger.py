"""Timer triggers: firing on schedule, runOnStartup, no overlapping runs, TimerRequest shape."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from local.func_host.ncrontab import parse_crontab
from local.func_host.timers import scheduled_timer_input
from tests.func_host.conftest import HostProcess, RecordsReader, wait_for


def test_timer_fires_with_a_timer_request(records: RecordsReader) -> None:
    wait_for(lambda: len(records.of_kind("tick")) >= 2, timeout=8)
    first, second = records.of_kind("tick")[:2]
    assert isinstance(first["past_due"], bool)  # True only if the run started over 1 s late
    assert first["schedule"] == {"AdjustForDST": True}
    status = second["schedule_status"]
    assert isinstance(status, dict) and set(status) == {"Last", "Next", "LastUpdated"}
    last, following = datetime.fromisoformat(status["Last"]), datetime.fromisoformat(status["Next"])
    assert following > last
    first_status = first["schedule_status"]
    assert isinstance(first_status, dict) and first_status["Last"] == "0001-01-01T00:00:00"


def test_a_run_never_overlaps_the_previous_one(
    records: RecordsReader, sample_host: HostProcess
) -> None:
    # `tick` is due every second but runs for 1.5 s: occurrences are skipped, never overlapped.
    wait_for(lambda: len(records.of_kind("tick")) >= 3, timeout=10)
    runs = sorted(
        (float(str(r["started"])), float(str(r["ended"]))) for r in records.of_kind("tick")
    )
    for (_, previous_end), (next_start, _) in itertools.pairwise(runs):
        assert next_start >= previous_end
    assert "Timer 'tick': skipped 1 occurrence(s)" in sample_host.log()


def test_run_on_startup_with_a_schedule_from_an_app_setting(
    records: RecordsReader, sample_host: HostProcess
) -> None:
    # NIGHTLY_SCHEDULE (02:30 daily) comes from local.settings.json; runOnStartup ran it once.
    assert records.of_kind("nightly")[0]["past_due"] is False
    assert "nightly: timerTrigger '0 30 2 * * *'" in sample_host.log()


def test_timer_input_marks_late_runs_past_due() -> None:
    schedule = parse_crontab("0 */5 * * * *")
    due = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    on_time = scheduled_timer_input(
        schedule, due=due, started=due + timedelta(milliseconds=20), last=None
    )
    late = scheduled_timer_input(schedule, due=due, started=due + timedelta(seconds=30), last=due)
    assert on_time.past_due is False
    assert late.past_due is True
    assert late.next == datetime(2024, 1, 1, 0, 10, tzinfo=UTC)
    assert late.last == due
