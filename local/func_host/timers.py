"""Timer triggers: run each timer function on its schedule, in UTC.

Like the timer extension's listener, a timer awaits its invocation before computing the next
occurrence, so a run never overlaps itself: occurrences that fall due while it is still running
are skipped (and logged), which is what the real singleton lock amounts to on one instance.
`IsPastDue` is set when an invocation starts more than a second after its scheduled time.
Without a storage-backed schedule monitor, `ScheduleStatus.Last` only covers this process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from local.func_host.invoke import FunctionRunner, invoke_logged
from local.func_host.model import TIMER_TRIGGER, IndexedFunction
from local.func_host.payloads import TimerInput, timer_data
from local.func_host.schedule import Schedule

logger = logging.getLogger("func_host.timer")

PAST_DUE_TOLERANCE = timedelta(seconds=1)
_MAX_SLEEP = 30.0  # re-read the wall clock at least this often while waiting


def utc_now() -> datetime:
    return datetime.now(UTC)


async def invoke_timer(
    function: IndexedFunction, timer: TimerInput, runner: FunctionRunner
) -> bool:
    """Run the function once with this TimerInfo; write its invocation line; True if ok."""
    return await invoke_logged(function, timer_data(timer), TIMER_TRIGGER, runner)


async def run_timer(
    function: IndexedFunction,
    runner: FunctionRunner,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Fire `function` on its schedule until cancelled (runOnStartup first, if set)."""
    schedule = function.schedule
    assert schedule is not None
    last: datetime | None = None
    if function.run_on_startup:
        now = clock()
        startup = TimerInput(False, None, schedule.next_after(now), now)
        await runner.track(invoke_timer(function, startup, runner))
    while True:
        due = schedule.next_after(clock())
        if due is None:
            logger.warning(
                "Timer '%s': schedule '%s' has no future occurrence; it will never fire",
                function.name,
                schedule.expression,
            )
            return
        await _sleep_until(due, clock)
        timer = scheduled_timer_input(schedule, due=due, started=clock(), last=last)
        await runner.track(invoke_timer(function, timer, runner))
        last = due
        _log_skipped(function, schedule, due, clock())


def scheduled_timer_input(
    schedule: Schedule, *, due: datetime, started: datetime, last: datetime | None
) -> TimerInput:
    """The TimerInfo for the occurrence `due`, started at `started` after a run at `last`."""
    return TimerInput(
        past_due=started - due > PAST_DUE_TOLERANCE,
        last=last,
        next=schedule.next_after(due),
        last_updated=started,
    )


async def _sleep_until(moment: datetime, clock: Callable[[], datetime]) -> None:
    while True:
        remaining = (moment - clock()).total_seconds()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, _MAX_SLEEP))


def _log_skipped(
    function: IndexedFunction, schedule: Schedule, due: datetime, finished: datetime
) -> None:
    skipped = 0
    occurrence = schedule.next_after(due)
    while occurrence is not None and occurrence <= finished and skipped < 1000:
        skipped += 1
        occurrence = schedule.next_after(occurrence)
    if skipped:
        logger.info(
            "Timer '%s': skipped %d occurrence(s) while the previous run was still going",
            function.name,
            skipped,
        )
